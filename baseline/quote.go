package baseline

import (
	"strconv"
	"strings"
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

// QuoteLine is QuotePath's rule for one line of text an attacker may have written: a line of
// file content, a process argument, a message. The line is returned unchanged when it is valid
// UTF-8 made of printable characters, spaces and tabs (indentation is not an attack), and does not
// start with a double quote; otherwise it is Go-quoted, like a file name. So "curl x | sh\r\x1b[K"
// can neither return the cursor nor erase the line it is on: it prints as "curl x | sh\r\x1b[K",
// quotes and backslashes included, and strconv.Unquote gives the bytes back.
func QuoteLine(s string) string {
	if PlainLine(s) {
		return s
	}
	return strconv.Quote(s)
}

// PlainLine reports whether QuoteLine prints s as it is. The empty line is plain.
func PlainLine(s string) bool {
	if !utf8.ValidString(s) || strings.HasPrefix(s, `"`) {
		return false
	}
	for _, r := range s {
		if r == ' ' || r == '\t' {
			continue
		}
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// QuoteText renders content for a terminal: each line as QuoteLine prints it, the newlines kept.
// Plain text comes back byte for byte; it reports whether anything was quoted.
func QuoteText(b []byte) ([]byte, bool) {
	lines := strings.Split(string(b), "\n")
	quoted := false
	for i, l := range lines {
		if q := QuoteLine(l); q != l {
			lines[i], quoted = q, true
		}
	}
	if !quoted {
		return b, false
	}
	return []byte(strings.Join(lines, "\n")), true
}
