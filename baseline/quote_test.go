package baseline

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestQuotePath(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"/etc/passwd", "/etc/passwd"},
		{"/etc/cron.d/a b", "/etc/cron.d/a b"},
		{"/home/jörg/.profile", "/home/jörg/.profile"},
		{"/etc/日本", "/etc/日本"},
		{`/etc/a"b`, `/etc/a"b`},
		{"/etc/cron.d/a\nb", `"/etc/cron.d/a\nb"`},
		{"/tmp/\xff", `"/tmp/\xff"`},
		{"/tmp/\xc3\x28", `"/tmp/\xc3("`},
		{"/a\tb", `"/a\tb"`},
		{"/a\rb", `"/a\rb"`},
		{"/a\x00b", `"/a\x00b"`},
		{"/a\x1b[31mred", `"/a\x1b[31mred"`},
		{"/a\u00a0b", `"/a\u00a0b"`}, // no-break space
		{"/a\u200bb", `"/a\u200bb"`}, // zero-width space
		{"/a\u202eb", `"/a\u202eb"`}, // right-to-left override
		{"/a\u2028b", `"/a\u2028b"`}, // line separator
		{"/a\u3000b", `"/a\u3000b"`}, // ideographic space
		{" /a", `" /a"`},             // leading space
		{"/a ", `"/a "`},             // trailing space
		{`"/a"`, `"\"/a\""`},         // would read as already quoted
		{"", `""`},
	}
	for _, tc := range cases {
		got := QuotePath(tc.in)
		if got != tc.want {
			t.Errorf("QuotePath(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if strings.ContainsAny(got, "\n\r") || !utf8.ValidString(got) {
			t.Errorf("QuotePath(%q) = %q is not one line of valid UTF-8", tc.in, got)
		}
		if got != tc.in {
			if back, err := strconv.Unquote(got); err != nil || back != tc.in {
				t.Errorf("QuotePath(%q) = %s does not unquote back: %q, %v", tc.in, got, back, err)
			}
		}
	}
}

func TestPlainPath(t *testing.T) {
	cases := []struct {
		in   string
		want bool
	}{
		{"/etc/passwd", true},
		{"/a b/c", true},
		{"/é", true},
		{"/a-b_c.d~e+f", true},
		{`/a"b`, true},
		{"", false},
		{"/a\nb", false},
		{"/\xff", false},
		{"/a\x7f", false},
		{"/a\u00a0", false},
		{"/a\ufeffb", false},
		{" /a", false},
		{"/a ", false},
		{`"/a`, false},
	}
	for _, tc := range cases {
		if got := PlainPath(tc.in); got != tc.want {
			t.Errorf("PlainPath(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
