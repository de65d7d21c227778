package baseline

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

// QuotePath returns p unchanged when it is valid UTF-8 made of printable characters without
// spaces at either end, and otherwise a Go-quoted string ("/etc/cron.d/a\nb", "/tmp/\xff"), so
// that a file name can never break a line of output or hide as something else.
func QuotePath(p string) string {
	if PlainPath(p) {
		return p
	}
	return strconv.Quote(p)
}

// PlainPath reports whether p can be printed as it is: valid UTF-8, no control or invisible
// characters, no leading or trailing space and no double quote at the start.
func PlainPath(p string) bool {
	if p == "" || !utf8.ValidString(p) {
		return false
	}
	if p[0] == ' ' || p[len(p)-1] == ' ' || p[0] == '"' {
		return false
	}
	for _, r := range p {
		if r == ' ' {
			continue
		}
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}
