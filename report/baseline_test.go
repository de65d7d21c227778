package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
)

// The names in the scanned root's /etc/passwd and /etc/group are the image's, which an attacker
// may have written: 'baseline show' prints them quoted, never as terminal escapes.
func TestBaselineShowQuotesNames(t *testing.T) {
	root := t.TempDir()
	evil := "ev\x1b]0;pwned\a\x1b[2K\rx"
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"+evil+":x:1000:1000::/home/x:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\n"+evil+":x:1000:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	users := baseline.LoadUsers(root)
	if users.User(1000) != evil {
		t.Fatalf("the passwd line was not read: user 1000 is %q", users.User(1000))
	}
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: Text, Root: root, Users: users}
	info := BaselineHeader{Root: root + "/\x1b[2Kimg", CreatedBy: "sudo \x1b[2K\radmin"}
	entries := []baseline.Approved{
		{Entry: baseline.Entry{Path: "/etc/cron.d/job", Type: baseline.TypeFile, Mode: 0o644, UID: 1000, GID: 1000, HashState: baseline.HashOK, SHA256: strings.Repeat("a", 64), Location: "cron"}},
		{Entry: baseline.Entry{Path: "/etc/cron.d/root", Type: baseline.TypeFile, Mode: 0o644, UID: 0, GID: 0, HashState: baseline.HashOK, SHA256: strings.Repeat("b", 64), Location: "cron"}},
	}
	if err := r.Baseline(info, entries); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, c := range []string{"\x1b", "\a", "\r"} {
		if strings.Contains(out, c) {
			t.Errorf("output carries %q raw:\n%s", c, out)
		}
	}
	q := baseline.QuoteLine(evil)
	if !strings.Contains(out, q+":"+q) || !strings.Contains(out, "root:root") {
		t.Errorf("owner column: want %s and root:root in\n%s", q+":"+q, out)
	}
}
