package baseline

import (
	"os"
	"path/filepath"
	"testing"
)

// A user added to the passwd file after the names were loaded is named; one removed is not.
func TestLiveUsersReload(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		t.Helper()
		// A new file, renamed over the old one, as useradd does.
		tmp := filepath.Join(root, "etc", name+"+")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(root, "etc", name)); err != nil {
			t.Fatal(err)
		}
	}
	write("passwd", "root:x:0:0::/root:/bin/sh\n")
	write("group", "root:x:0:\n")
	l := NewLiveUsers(root)
	if got := l.Users().User(1000); got != "" {
		t.Fatalf("uid 1000 named %q before it exists", got)
	}
	write("passwd", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n")
	write("group", "root:x:0:\nalice:x:1000:\n")
	if got := l.Users().User(1000); got != "alice" {
		t.Errorf("uid 1000 after useradd: %q, want alice", got)
	}
	if got := l.Users().Group(1000); got != "alice" {
		t.Errorf("gid 1000 after groupadd: %q, want alice", got)
	}
	// Appended in place (same inode), as vipw may leave it.
	f, err := os.OpenFile(filepath.Join(root, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("bob:x:1001:1001::/home/bob:/bin/sh\n")
	f.Close()
	if got := l.Users().User(1001); got != "bob" {
		t.Errorf("uid 1001 appended: %q, want bob", got)
	}
	write("passwd", "root:x:0:0::/root:/bin/sh\n")
	if got := l.Users().User(1000); got != "" {
		t.Errorf("uid 1000 after userdel: %q", got)
	}
}
