package baseline

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
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

func TestQuoteLine(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"", ""},
		{"echo ok", "echo ok"},
		{"\tindented  and trailing ", "\tindented  and trailing "},
		{"grüße 日本", "grüße 日本"},
		{`say "hi"`, `say "hi"`},
		{"curl x | sh\r\x1b[Kecho ok", `"curl x | sh\r\x1b[Kecho ok"`},
		{"a\r", `"a\r"`},
		{"bell\a", `"bell\a"`},
		{"\x00", `"\x00"`},
		{"\xff", `"\xff"`},
		{"a\u202eb", `"a\u202eb"`},   // right-to-left override
		{"a\u200bb", `"a\u200bb"`},   // zero-width space
		{"a\u00a0b", `"a\u00a0b"`},   // no-break space
		{`"quoted"`, `"\"quoted\""`}, // would read as already quoted
		{"a\nb", `"a\nb"`},
	}
	for _, tc := range cases {
		got := QuoteLine(tc.in)
		if got != tc.want {
			t.Errorf("QuoteLine(%q) = %s, want %s", tc.in, got, tc.want)
		}
		for _, r := range got {
			if r != '\t' && !unicode.IsPrint(r) {
				t.Errorf("QuoteLine(%q) = %q holds %U", tc.in, got, r)
			}
		}
		if got != tc.in {
			if back, err := strconv.Unquote(got); err != nil || back != tc.in {
				t.Errorf("QuoteLine(%q) = %s does not unquote back: %q, %v", tc.in, got, back, err)
			}
		}
	}
}

func TestQuoteText(t *testing.T) {
	plain := []byte("#!/bin/sh\n\techo ok\n")
	if got, quoted := QuoteText(plain); quoted || string(got) != string(plain) {
		t.Errorf("QuoteText(%q) = %q, %v; want it unchanged", plain, got, quoted)
	}
	hostile := []byte("#!/bin/sh\ncurl x | sh\r\x1b[Kecho ok\nexit 0")
	got, quoted := QuoteText(hostile)
	want := "#!/bin/sh\n\"curl x | sh\\r\\x1b[Kecho ok\"\nexit 0"
	if !quoted || string(got) != want {
		t.Errorf("QuoteText(%q) = %q, %v; want %q, true", hostile, got, quoted, want)
	}
}

func TestFormatTime(t *testing.T) {
	for ns, want := range map[int64]string{
		0:                         "1970-01-01T00:00:00Z",
		1_000_000_000_000_000_000: "2001-09-09T01:46:40Z",
		1_796_226_090_263_366_497: "2026-12-02T15:41:30.263366497Z",
		1_796_226_090_260_000_000: "2026-12-02T15:41:30.26Z",
		-1_000_000_000:            "1969-12-31T23:59:59Z",
	} {
		got := FormatTime(ns)
		if got != want {
			t.Errorf("FormatTime(%d) = %s, want %s", ns, got, want)
		}
		if back, err := time.Parse(time.RFC3339Nano, got); err != nil || back.UnixNano() != ns {
			t.Errorf("FormatTime(%d) = %s parses back as %v, %v", ns, got, back.UnixNano(), err)
		}
	}
}
