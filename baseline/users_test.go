package baseline

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
`

const testGroup = `root:x:0:
adm:x:4:syslog,alice
alice:x:1000:
`

func TestLoadUsers(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/passwd", testPasswd, 0o644)
	write(t, root, "etc/group", testGroup, 0o644)
	u := LoadUsers(root)
	for uid, want := range map[uint32]string{0: "root", 1: "daemon", 1000: "alice", 4: "", 65534: ""} {
		if got := u.User(uid); got != want {
			t.Errorf("User(%d) = %q, want %q", uid, got, want)
		}
	}
	for gid, want := range map[uint32]string{0: "root", 4: "adm", 1000: "alice", 1: ""} {
		if got := u.Group(gid); got != want {
			t.Errorf("Group(%d) = %q, want %q", gid, got, want)
		}
	}
}

// Names come from root's files only, read without following symlinks and without blocking.
func TestLoadUsersUnusualFiles(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, "etc/passwd", "evil:x:0:0::/:/bin/sh\n", 0o644)
	write(t, outside, "etc/group", "evil:x:0:\n", 0o644)
	cases := []struct {
		name  string
		setup func(t *testing.T, root string)
	}{
		{"no etc", func(t *testing.T, root string) {}},
		{"empty files", func(t *testing.T, root string) {
			write(t, root, "etc/passwd", "", 0o644)
			write(t, root, "etc/group", "", 0o644)
		}},
		{"files are symlinks out of root", func(t *testing.T, root string) {
			symlink(t, filepath.Join(outside, "etc/passwd"), filepath.Join(root, "etc/passwd"))
			symlink(t, filepath.Join(outside, "etc/group"), filepath.Join(root, "etc/group"))
		}},
		{"etc is a symlink out of root", func(t *testing.T, root string) {
			symlink(t, filepath.Join(outside, "etc"), filepath.Join(root, "etc"))
		}},
		{"etc is a symlink to the host's /etc", func(t *testing.T, root string) {
			symlink(t, "/etc", filepath.Join(root, "etc"))
		}},
		{"files are FIFOs", func(t *testing.T, root string) {
			mkdir(t, root, "etc", 0o755)
			for _, f := range []string{"passwd", "group"} {
				if err := unix.Mkfifo(filepath.Join(root, "etc", f), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"files are directories", func(t *testing.T, root string) {
			mkdir(t, root, "etc/passwd", 0o755)
			mkdir(t, root, "etc/group", 0o755)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			tc.setup(t, root)
			var u *Users
			within(t, 5*time.Second, "LoadUsers", func() { u = LoadUsers(root) })
			if u == nil {
				t.Fatal("LoadUsers returned nil")
			}
			if got := u.User(0) + u.Group(0); got != "" {
				t.Errorf("names read where none may be: %q", got)
			}
		})
	}
	var none *Users
	if none.User(0) != "" || none.Group(0) != "" {
		t.Error("nil *Users knows names")
	}
	var zero Users
	if zero.User(0) != "" || zero.Group(0) != "" {
		t.Error("zero Users knows names")
	}
	if u := LoadUsers(filepath.Join(outside, "missing")); u.User(0) != "" {
		t.Error("missing root knows names")
	}
}

func TestParseAccounts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[uint32]string
	}{
		{"passwd", testPasswd, map[uint32]string{0: "root", 1: "daemon", 1000: "alice"}},
		{"group", testGroup, map[uint32]string{0: "root", 4: "adm", 1000: "alice"}},
		{"comments and blank lines", "# comment\n\nroot:x:0:0::/:/bin/sh\n#bin:x:2:2::/:/bin/sh\n", map[uint32]string{0: "root"}},
		{"NIS compat lines", "+::::::\n+@netgroup\n-baduser\n+nisuser:x:5:5::/:/bin/sh\n-x:x:6:6::/:/bin/sh\nlocal:x:7:7::/:/bin/sh\n", map[uint32]string{7: "local"}},
		{"duplicate ids, first wins", "toor:x:0:0::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n", map[uint32]string{0: "toor"}},
		{"duplicate names keep both ids", "a:x:1:1::/:/bin/sh\na:x:2:2::/:/bin/sh\n", map[uint32]string{1: "a", 2: "a"}},
		{"malformed lines skipped", strings.Join([]string{
			"noid",
			"two:fields",
			":x:9:9::/:/bin/sh",          // empty name
			"neg:x:-1:0::/:/bin/sh",      // negative id
			"big:x:4294967296:0::/:/bin", // does not fit 32 bits
			"hex:x:0x10:0::/:/bin/sh",
			"space:x: 3:0::/:/bin/sh",
			"plus:x:+3:0::/:/bin/sh",
			"empty:x::0::/:/bin/sh",
			"ok:x:8:8::/:/bin/sh",
		}, "\n"), map[uint32]string{8: "ok"}},
		{"largest id", "nfsnobody:x:4294967295:0::/:/bin/sh\n", map[uint32]string{4294967295: "nfsnobody"}},
		{"three fields are enough", "wheel:x:10", map[uint32]string{10: "wheel"}},
		{"CRLF line endings", "root:x:0:0::/root:/bin/sh\r\nbin:x:2:2::/:/bin/sh\r\n", map[uint32]string{0: "root", 2: "bin"}},
		{"no final newline", "root:x:0:0::/:/bin/sh", map[uint32]string{0: "root"}},
		{"name with odd bytes kept as is", "we\xffird:x:3:3::/:/bin/sh\n", map[uint32]string{3: "we\xffird"}},
		{"empty input", "", map[uint32]string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseAccounts(strings.NewReader(tc.in))
			if !maps.Equal(got, tc.want) {
				t.Errorf("ParseAccounts = %v, want %v", got, tc.want)
			}
		})
	}
}

// ParseAccounts never panics, and every name it returns can be printed in a field: not empty, no
// separator, no newline.
func FuzzParseAccounts(f *testing.F) {
	f.Add([]byte(testPasswd))
	f.Add([]byte(testGroup))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ParseAccounts(bytes.NewReader(data))
		// Every name is the first field of some line (a set, so the check stays linear).
		firsts := map[string]bool{}
		for _, line := range strings.Split(string(data), "\n") {
			first, _, _ := strings.Cut(line, ":")
			firsts[first] = true
		}
		for id, name := range got {
			if name == "" || strings.ContainsAny(name, ":\n") {
				t.Fatalf("id %d has name %q", id, name)
			}
			if !firsts[name] {
				t.Fatalf("name %q for id %d is not the first field of any line", name, id)
			}
		}
		if again := ParseAccounts(bytes.NewReader(data)); !maps.Equal(got, again) {
			t.Fatalf("two parses differ: %v, %v", got, again)
		}
	})
}

// The committed corpus must be there and parse: go test runs it as regression cases.
func TestFuzzCorpusPresent(t *testing.T) {
	ents, err := os.ReadDir("testdata/fuzz/FuzzParseAccounts")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 4 {
		t.Errorf("%d seed files, want at least 4", len(ents))
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzParseAccounts", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("go test fuzz v1\n[]byte(")) {
			t.Errorf("%s is not a go test fuzz v1 []byte seed", e.Name())
		}
	}
}

// A line too long for the reader's buffer is skipped; the lines after it still count.
func TestParseAccountsLongLine(t *testing.T) {
	in := "root:x:0:0::/root:/bin/sh\n" + "huge:x:7:7:" + strings.Repeat("g", 1<<20) + "\nalice:x:1000:1000::/home/alice:/bin/sh"
	got := ParseAccounts(strings.NewReader(in))
	if got[0] != "root" || got[1000] != "alice" || got[7] != "" {
		t.Errorf("got %v", got)
	}
}
