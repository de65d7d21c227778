package baseline

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/internal/testenv"
	"golang.org/x/sys/unix"
)

func TestWalkOrder(t *testing.T) {
	t.Run("siblings of a directory", func(t *testing.T) {
		root := t.TempDir()
		for _, f := range []string{"a-b", "a.c", "a/x", "a0", "b"} {
			write(t, root, f, f, 0o644)
		}
		got := paths(walkAll(t, root, rootAll()))
		// "/a/x" sorts between "/a.c" and "/a0" ('.' < '/' < '0'): a walk that visited a directory's
		// children right after the directory, or sorted by name alone, would get this wrong.
		want := []string{"/a", "/a-b", "/a.c", "/a/x", "/a0", "/b"}
		if !slices.Equal(got, want) {
			t.Errorf("visits %q, want %q", got, want)
		}
	})
	t.Run("hostile names and nesting", func(t *testing.T) {
		root := t.TempDir()
		files := []string{
			"A", "_", "~", "é", "e", "\xff", "a\nb", "a b", "a/b/c", "a/b-c", "a/b.c", "a/b0",
			"a.b/c", "a-/x", "aa/a", "z/\x01", "z/ /x", "a/b/c-d/e", "a/b/c.d",
		}
		for _, f := range files {
			write(t, root, f, f, 0o644)
		}
		got := paths(walkAll(t, root, rootAll()))
		want := slices.Clone(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("visits are not in byte order:\n got %q\nwant %q", got, want)
		}
		// Every file and every directory on the way is visited exactly once.
		set := map[string]int{}
		for _, p := range got {
			set[p]++
		}
		for _, f := range files {
			for p := "/" + f; p != "/"; p = filepath.Dir(p) {
				if set[p] != 1 {
					t.Errorf("%s visited %d times", QuotePath(p), set[p])
				}
			}
		}
	})
	t.Run("directories walked through but not selected", func(t *testing.T) {
		root := t.TempDir()
		for _, f := range []string{"etc/cron.d/b", "etc/cron.d/a", "etc/cron.daily/x", "etc/cron.d-x", "etc/passwd"} {
			write(t, root, f, f, 0o644)
		}
		got := paths(walkAll(t, root, under("cron", "/etc/cron.d", "/etc/cron.daily")))
		want := []string{"/etc/cron.d", "/etc/cron.d/a", "/etc/cron.d/b", "/etc/cron.daily", "/etc/cron.daily/x"}
		if !slices.Equal(got, want) {
			t.Errorf("visits %q, want %q", got, want)
		}
	})
}

func TestWalkEntries(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/cron.d/job", "* * * * * root /x\n", 0o644)
	symlink(t, "../job", filepath.Join(root, "etc/cron.d/link"))
	vs := walkAll(t, root, under("cron-d", "/etc/cron.d"))
	m := byPath(vs)
	if len(vs) != 3 || len(m) != 3 {
		t.Fatalf("visits %q", paths(vs))
	}
	want, err := Stat(root, "/etc/cron.d/job", -1)
	if err != nil {
		t.Fatal(err)
	}
	want.Location = "cron-d"
	if got := m["/etc/cron.d/job"].Entry; got != want {
		t.Errorf("Walk entry\n %+v\nStat entry\n %+v", got, want)
	}
	if got := m["/etc/cron.d/link"].Entry; got.Type != TypeSymlink || got.Target != "../job" || got.Location != "cron-d" {
		t.Errorf("symlink visit %+v", got)
	}
	if got := m["/etc/cron.d"].Entry; got.Type != TypeDir || got.HashState != HashNotRegular {
		t.Errorf("directory visit %+v", got)
	}
}

func TestWalkNeverFollowsSymlinks(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write(t, outside, "payload", "not under root", 0o755)
	write(t, root, "etc/systemd/system/real.service", "[Service]\n", 0o644)
	symlink(t, outside, filepath.Join(root, "etc/systemd/system/out.wants"))
	symlink(t, "/etc", filepath.Join(root, "etc/systemd/system/hostetc"))
	symlink(t, ".", filepath.Join(root, "etc/systemd/system/self"))
	symlink(t, "loop", filepath.Join(root, "etc/systemd/system/loop"))
	symlink(t, "/dev/zero", filepath.Join(root, "etc/systemd/system/zero"))
	// The root of a location is itself a symlink.
	symlink(t, outside, filepath.Join(root, "etc/cron.d"))

	var vs []seen
	within(t, 5*time.Second, "Walk", func() { vs = walkAll(t, root, under("units", "/etc/systemd/system", "/etc/cron.d")) })
	m := byPath(vs)
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("%s: %v", v.Entry.Path, v.Err)
		}
		for _, link := range []string{"out.wants", "hostetc", "self", "loop", "zero"} {
			if strings.HasPrefix(v.Entry.Path, "/etc/systemd/system/"+link+"/") {
				t.Errorf("descended into the symlink %s: visited %s", link, v.Entry.Path)
			}
		}
		if strings.HasPrefix(v.Entry.Path, "/etc/cron.d/") {
			t.Errorf("descended into the symlinked location root: visited %s", v.Entry.Path)
		}
	}
	for link, target := range map[string]string{"out.wants": outside, "hostetc": "/etc", "self": ".", "loop": "loop", "zero": "/dev/zero"} {
		v, ok := m["/etc/systemd/system/"+link]
		if !ok || v.Entry.Type != TypeSymlink || v.Entry.Target != target {
			t.Errorf("%s: visit %+v, want a symlink to %s", link, v.Entry, target)
		}
	}
	if v := m["/etc/cron.d"]; v.Entry.Type != TypeSymlink {
		t.Errorf("/etc/cron.d visited as %q, want a symlink", v.Entry.Type)
	}
}

// A tree full of things that block or must not be read: FIFOs, sockets, devices, links to
// devices. Walk and Hash of every visit must finish quickly.
func TestWalkAndHashNeverBlock(t *testing.T) {
	root := t.TempDir()
	dir := mkdir(t, root, "etc/udev/rules.d", 0o755)
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	symlink(t, "/dev/zero", filepath.Join(dir, "zero"))
	symlink(t, "fifo", filepath.Join(dir, "tofifo"))
	write(t, root, "etc/udev/rules.d/99-x.rules", "ACTION==\"add\"\n", 0o644)
	want := map[string]Type{"fifo": TypeFIFO, "sock": TypeSocket, "zero": TypeSymlink, "tofifo": TypeSymlink, "99-x.rules": TypeFile}
	if os.Geteuid() == 0 {
		if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mknod(filepath.Join(dir, "zerodev"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
			t.Fatal(err)
		}
		want["null"], want["zerodev"] = TypeChar, TypeChar
	}
	got := map[string]Entry{}
	within(t, 5*time.Second, "Walk and Hash", func() {
		buf := make([]byte, 4096)
		err = Walk(t.Context(), root, under("udev", "/etc/udev/rules.d"), func(v *Visit) error {
			defer v.Release()
			if err := v.Hash(0, buf); err != nil {
				t.Errorf("Hash(%s): %v", v.Entry.Path, err)
			}
			got[filepath.Base(v.Entry.Path)] = v.Entry
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range want {
		e, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s not visited", name)
		case e.Type != typ:
			t.Errorf("%s: type %s, want %s", name, e.Type, typ)
		case typ == TypeFile && (e.HashState != HashOK || e.SHA256 != sha("ACTION==\"add\"\n")):
			t.Errorf("%s: %v %s", name, e.HashState, e.SHA256)
		case typ != TypeFile && (e.HashState != HashNotRegular || e.SHA256 != ""):
			t.Errorf("%s (%s): hash state %v, sha %q; want not-regular and never read", name, typ, e.HashState, e.SHA256)
		}
	}
}

// Names that break lines, are not UTF-8, are as long as a name can be, and a logical path longer
// than PATH_MAX can hold together with root.
func TestWalkNames(t *testing.T) {
	root := t.TempDir()
	names := []string{"a\nb", "\xff", "\xc3\x28", strings.Repeat("n", 255), "\x1b]0;pwned\x07", "\u202eexe.sh"}
	for _, n := range names {
		write(t, root, "etc/profile.d/"+n, n, 0o644)
	}
	buf := make([]byte, 4096)
	got := map[string]string{}
	err := Walk(t.Context(), root, under("profile", "/etc/profile.d"), func(v *Visit) error {
		defer v.Release()
		if err := v.Hash(0, buf); err != nil {
			t.Error(err)
		}
		got[v.Entry.Path] = v.Entry.SHA256
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		p := "/etc/profile.d/" + n
		h, ok := got[p]
		if !ok {
			t.Errorf("%s not visited", QuotePath(p))
		} else if h != sha(n) {
			t.Errorf("%s: sha %s, want the file's", QuotePath(p), h)
		}
		if q := QuotePath(p); strings.ContainsAny(q, "\n\x1b\x07\u202e") || !utf8.ValidString(q) {
			t.Errorf("QuotePath(%q) = %q is not one safe line", p, q)
		}
	}
	if q := QuotePath("/etc/profile.d/a\nb"); q != `"/etc/profile.d/a\nb"` {
		t.Errorf("QuotePath(newline) = %s", q)
	}
	if q := QuotePath("/etc/profile.d/\xff"); q != `"/etc/profile.d/\xff"` {
		t.Errorf("QuotePath(\\xff) = %s", q)
	}
}

func TestWalkLongPath(t *testing.T) {
	root := t.TempDir()
	content := []byte("deep\n")
	logical := mkLongPath(t, root, 15, 4090, content)
	if len(root)+len(logical) <= unix.PathMax-1 {
		t.Fatalf("root+path is %d bytes: the test must go past PATH_MAX", len(root)+len(logical))
	}
	var st unix.Stat_t
	if err := unix.Lstat(root+logical, &st); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Fatalf("lstat of the full path: %v, want ENAMETOOLONG (else this test proves nothing)", err)
	}

	var found *Visit
	n := 0
	err := Walk(t.Context(), root, rootAll(), func(v *Visit) error {
		n++
		if v.Err != nil {
			t.Errorf("%.60s...: %v", v.Entry.Path, v.Err)
		}
		if v.Entry.Path == logical {
			found = v
			return nil
		}
		v.Release()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 16 {
		t.Errorf("%d visits, want 15 directories and the file", n)
	}
	if found == nil {
		t.Fatalf("the %d-byte path was not visited", len(logical))
	}
	defer found.Release()
	if err := found.Hash(0, make([]byte, 4096)); err != nil || found.Entry.SHA256 != sha(string(content)) {
		t.Errorf("Hash of the deep file: %v, %s", err, found.Entry.SHA256)
	}
	e, err := Stat(root, logical, 0)
	if err != nil || e.Path != logical || e.SHA256 != sha(string(content)) {
		t.Errorf("Stat of the deep file: %v, %v", e.HashState, err)
	}
}

// mkLongPath makes dirs nested directories of 255-byte names under root and a file in the deepest
// whose logical path is total bytes long, through *at calls (os.MkdirAll fails past PATH_MAX).
func mkLongPath(t testing.TB, root string, dirs, total int, content []byte) string {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < dirs; i++ {
		name := strings.Repeat(string(rune('a'+i)), 255)
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
		b.WriteString("/" + name)
	}
	defer unix.Close(fd)
	name := strings.Repeat("z", total-b.Len()-1)
	if len(name) > 255 || len(name) < 1 {
		t.Fatalf("cannot make a %d-byte path from %d directories", total, dirs)
	}
	ffd, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ffd)
	if _, err := unix.Write(ffd, content); err != nil {
		t.Fatal(err)
	}
	return b.String() + "/" + name
}

func TestWalkMaxDepth(t *testing.T) {
	root := t.TempDir()
	deep := strings.Repeat("/d", MaxDepth+1)
	write(t, root, deep+"/f", "too deep", 0o644)
	limit := strings.Repeat("/d", MaxDepth) // the first directory Walk refuses to enter

	vs := walkAll(t, root, rootAll())
	var errVisits []seen
	maxComponents := 0
	for _, v := range vs {
		if v.Err != nil {
			errVisits = append(errVisits, v)
			continue
		}
		maxComponents = max(maxComponents, strings.Count(v.Entry.Path, "/"))
	}
	if len(errVisits) != 1 {
		t.Fatalf("%d error visits, want 1 for the directory at depth %d", len(errVisits), MaxDepth)
	}
	ev := errVisits[0]
	if ev.Entry.Path != limit || !ev.Unlisted || !strings.Contains(ev.Err.Error(), "deeper than") {
		t.Errorf("error visit at %d components, unlisted %v: %v", strings.Count(ev.Entry.Path, "/"), ev.Unlisted, ev.Err)
	}
	if maxComponents != MaxDepth {
		t.Errorf("deepest visit has %d components, want %d (the refused directory itself)", maxComponents, MaxDepth)
	}
	if got := paths(vs); !sort.StringsAreSorted(got) {
		t.Error("visits out of order")
	}
}

func TestWalkIgnored(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/cron.d/job", "job", 0o644)
	write(t, root, "etc/cron.d/.job.swp", "swap", 0o644)
	write(t, root, "etc/cron.d/job.dpkg-new", "new", 0o644)
	mkdir(t, root, "etc/cron.d/sub.dpkg-new", 0o755)
	write(t, root, "etc/cron.d/sub.dpkg-new/inner", "never seen", 0o644)
	loc := everything("cron-d")
	loc.ignore = func(name string) bool { return strings.HasSuffix(name, ".swp") || strings.HasSuffix(name, ".dpkg-new") }
	tree := &tnode{kids: map[string]*tnode{"etc": {kids: map[string]*tnode{"cron.d": loc}}}}

	vs := walkAll(t, root, tree)
	got := map[string]seen{}
	for _, v := range vs {
		got[v.Entry.Path] = v
	}
	for _, p := range []string{"/etc/cron.d/.job.swp", "/etc/cron.d/job.dpkg-new", "/etc/cron.d/sub.dpkg-new"} {
		v, ok := got[p]
		if !ok || !v.Ignored || v.Err != nil {
			t.Errorf("%s: %+v, want an Ignored visit", p, v)
			continue
		}
		if v.Entry.Location != "cron-d" || v.Entry.Type != "" || v.Entry.Inode != 0 {
			t.Errorf("%s: ignored entry %+v carries more than path and location", p, v.Entry)
		}
	}
	if v := got["/etc/cron.d/job"]; v.Ignored || v.Entry.Type != TypeFile {
		t.Errorf("job: %+v", v)
	}
	if _, ok := got["/etc/cron.d/sub.dpkg-new/inner"]; ok {
		t.Error("Walk descended into an ignored directory")
	}
	if len(vs) != 5 {
		t.Errorf("visits %q", paths(vs))
	}

	// An ignored visit has nothing to hash.
	err := Walk(t.Context(), root, tree, func(v *Visit) error {
		defer v.Release()
		if v.Ignored {
			if err := v.Hash(0, make([]byte, 512)); err != nil || v.Entry.HashState != "" {
				t.Errorf("Hash of ignored %s: %v, %v", v.Entry.Path, v.Entry.HashState, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Probe may name paths that do not exist: they are skipped silently, the others visited.
func TestWalkLiterals(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/rc.local", "exit 0\n", 0o755)
	write(t, root, "etc/ld.so.preload", "", 0o644)
	write(t, root, "etc/unrelated", "", 0o644)
	write(t, root, "root/.ssh/authorized_keys", "ssh-ed25519 AAAA\n", 0o600)
	tree := literal("lit", "/etc/rc.local", "/etc/rc.common", "/etc/ld.so.preload", "/etc/nope/deeper",
		"/root/.ssh/authorized_keys", "/root/.ssh/authorized_keys2", "/missing/x")
	// An ignored literal that does not exist is not visited either.
	tree.kids["etc"].kids["gone.swp"] = &tnode{loc: "lit", ignored: true}
	got := paths(walkAll(t, root, tree))
	want := []string{"/etc/ld.so.preload", "/etc/rc.local", "/root/.ssh/authorized_keys"}
	if !slices.Equal(got, want) {
		t.Errorf("visits %q, want %q", got, want)
	}
}

// Errors about one path reach fn and the walk goes on.
func TestWalkErrorsDoNotStop(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/a", "a", 0o644)
	write(t, root, "etc/z", "z", 0o644)
	long := strings.Repeat("n", 256) // a literal name the kernel refuses
	tree := literal("lit", "/etc/a", "/etc/"+long, "/etc/z")
	vs := walkAll(t, root, tree)
	if got := paths(vs); !slices.Equal(got, []string{"/etc/a", "/etc/" + long, "/etc/z"}) {
		t.Fatalf("visits %q", got)
	}
	if !errors.Is(vs[1].Err, unix.ENAMETOOLONG) || vs[1].Unlisted {
		t.Errorf("error visit: %+v", vs[1])
	}
	var pe *PathError
	if !errors.As(vs[1].Err, &pe) || pe.Path != "/etc/"+long {
		t.Errorf("error %v does not name the path", vs[1].Err)
	}
	if vs[0].Err != nil || vs[2].Err != nil {
		t.Errorf("neighbours of the error: %v, %v", vs[0].Err, vs[2].Err)
	}
}

// A directory swapped for a symlink between its stat and its opening is reported as unlisted,
// not followed and not silently dropped.
func TestWalkDirectoryReplacedBySymlink(t *testing.T) {
	root := t.TempDir()
	write(t, root, "etc/init.d/a", "a", 0o755)
	write(t, root, "etc/init.d/x/y", "y", 0o755)
	outside := t.TempDir()
	write(t, outside, "y", "outside", 0o755)
	var vs []seen
	err := Walk(t.Context(), root, rootAll(), func(v *Visit) error {
		defer v.Release()
		vs = append(vs, seen{Entry: v.Entry, Err: v.Err, Unlisted: v.Unlisted})
		if v.Entry.Path == "/etc/init.d/a" {
			x := filepath.Join(root, "etc/init.d/x")
			if err := os.Rename(x, x+".old"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(outside, x); err != nil {
				t.Fatal(err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var unlisted []seen
	for _, v := range vs {
		if strings.HasPrefix(v.Entry.Path, "/etc/init.d/x/") {
			t.Errorf("followed the swapped-in symlink: visited %s", v.Entry.Path)
		}
		if v.Unlisted {
			unlisted = append(unlisted, v)
		}
	}
	if len(unlisted) != 1 || unlisted[0].Entry.Path != "/etc/init.d/x" || unlisted[0].Err == nil {
		t.Fatalf("unlisted visits %+v, want one for /etc/init.d/x", unlisted)
	}
	if err := unlisted[0].Err; !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("unlisted error %v, want ELOOP or ENOTDIR", err)
	}
}

// The permission-denied side of Walk, as uid 65534 on one thread of this root process.
func TestWalkUnprivileged(t *testing.T) {
	testenv.RequireRoot(t)
	root := nobodyRoot(t)
	write(t, root, "etc/cron.d/a", "a", 0o644)
	write(t, root, "etc/cron.d/closed/x", "x", 0o644)
	mkdir(t, root, "etc/cron.d/closed", 0o700) // cannot be opened
	write(t, root, "etc/cron.d/listonly/x", "x", 0o644)
	mkdir(t, root, "etc/cron.d/listonly", 0o744) // can be listed, its entries not stat'd
	write(t, root, "etc/cron.d/secret", "s", 0o600)
	write(t, root, "etc/cron.d/z", "z", 0o644)

	var vs []seen
	asNobody(t, func() {
		buf := make([]byte, 512)
		err := Walk(context.Background(), root, under("cron-d", "/etc/cron.d"), func(v *Visit) error {
			defer v.Release()
			herr := v.Hash(0, buf)
			if herr != nil && v.Err == nil {
				v.Err = herr // keep the hash error for the checks below
			}
			vs = append(vs, seen{Entry: v.Entry, Err: v.Err, Unlisted: v.Unlisted})
			return nil
		})
		if err != nil {
			vs = append(vs, seen{Err: err})
		}
	})
	got := map[string]seen{}
	for _, v := range vs {
		if v.Entry.Path == "" {
			t.Fatalf("Walk: %v", v.Err)
		}
		key := v.Entry.Path
		if v.Unlisted {
			key += " (unlisted)"
		}
		got[key] = v
	}
	if v := got["/etc/cron.d/closed (unlisted)"]; !errors.Is(v.Err, unix.EACCES) {
		t.Errorf("0700 directory: %+v, want an unlisted visit with EACCES", v)
	}
	if v := got["/etc/cron.d/listonly/x"]; !errors.Is(v.Err, unix.EACCES) {
		t.Errorf("entry of a directory without search permission: %+v, want EACCES", v)
	}
	if v := got["/etc/cron.d/secret"]; v.Entry.HashState != HashUnreadable || !errors.Is(v.Err, unix.EACCES) {
		t.Errorf("0600 file: %v, %v; want unreadable", v.Entry.HashState, v.Err)
	}
	for _, p := range []string{"/etc/cron.d/a", "/etc/cron.d/z"} {
		if v := got[p]; v.Err != nil || v.Entry.HashState != HashOK {
			t.Errorf("%s after the errors: %v, %v", p, v.Entry.HashState, v.Err)
		}
	}
	if t.Failed() {
		for _, v := range vs {
			t.Logf("visit %s unlisted=%v err=%v", v.Entry.Path, v.Unlisted, v.Err)
		}
	}
}

func TestWalkCancel(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"d1", "d2", "d3"} {
		for _, f := range []string{"a", "b", "c", "d", "e"} {
			write(t, root, d+"/"+f, f, 0o644)
		}
	}
	t.Run("cancelled during the walk", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		n, after := 0, 0
		err := Walk(ctx, root, rootAll(), func(v *Visit) error {
			defer v.Release()
			n++
			if ctx.Err() != nil {
				after++
			}
			if n == 3 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Walk = %v, want context.Canceled", err)
		}
		if after != 0 {
			t.Errorf("fn called %d times after the cancellation", after)
		}
	})
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		n := 0
		err := Walk(ctx, root, rootAll(), func(v *Visit) error { n++; v.Release(); return nil })
		if !errors.Is(err, context.Canceled) || n != 0 {
			t.Errorf("Walk = %v after %d visits, want context.Canceled and none", err, n)
		}
	})
	t.Run("fn error stops it", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := Walk(t.Context(), root, rootAll(), func(v *Visit) error {
			defer v.Release()
			n++
			if n == 4 {
				return stop
			}
			return nil
		})
		if err != stop || n != 4 {
			t.Errorf("Walk = %v after %d visits, want fn's error after 4", err, n)
		}
	})
}

func TestWalkRootErrors(t *testing.T) {
	root := t.TempDir()
	file := write(t, root, "file", "", 0o644)
	for _, r := range []string{filepath.Join(root, "missing"), file} {
		called := false
		err := Walk(t.Context(), r, rootAll(), func(v *Visit) error { called = true; v.Release(); return nil })
		if err == nil || called {
			t.Errorf("Walk(%s) = %v, fn called %v; want an error and no visits", r, err, called)
		}
	}
}

// Visits keep their directory open until released, so hashing can happen after Walk returned
// and on other goroutines; releasing every visit (twice, even) closes every descriptor.
func TestWalkRelease(t *testing.T) {
	root := t.TempDir()
	want := map[string]string{}
	for _, d := range []string{"etc/cron.d", "etc/cron.daily", "etc/init.d"} {
		for _, f := range []string{"a", "b", "c"} {
			p := d + "/" + f
			write(t, root, p, p, 0o755)
			want["/"+p] = sha(p)
		}
	}
	walkAll(t, root, rootAll()) // warm up whatever the runtime opens once
	before := openFDs(t)

	var visits []*Visit
	if err := Walk(t.Context(), root, rootAll(), func(v *Visit) error { visits = append(visits, v); return nil }); err != nil {
		t.Fatal(err)
	}
	if open := openFDs(t); open <= before {
		t.Errorf("%d descriptors open while visits are held, %d before: the directories were closed early", open, before)
	}
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			buf := make([]byte, 512)
			for j := i; j < len(visits); j += 4 {
				if err := visits[j].Hash(0, buf); err != nil {
					t.Error(err)
				}
			}
		}(i)
	}
	wg.Wait()
	for _, v := range visits {
		if w, ok := want[v.Entry.Path]; ok && v.Entry.SHA256 != w {
			t.Errorf("%s: sha %s", v.Entry.Path, v.Entry.SHA256)
		}
		v.Release()
		v.Release()
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after releasing every visit, %d before", after, before)
	}
	// Hash after Release does nothing.
	v := visits[len(visits)-1]
	v.Entry.SHA256, v.Entry.HashState = "", HashNotComputed
	if err := v.Hash(0, make([]byte, 512)); err != nil || v.Entry.HashState != HashNotComputed {
		t.Errorf("Hash after Release: %v, %v", v.Entry.HashState, err)
	}

	// A second Release of one visit must not take a reference its siblings hold.
	visits = visits[:0]
	tree := literal("cron", "/etc/cron.d/a", "/etc/cron.d/b", "/etc/cron.d/c")
	if err := Walk(t.Context(), root, tree, func(v *Visit) error { visits = append(visits, v); return nil }); err != nil || len(visits) != 3 {
		t.Fatalf("Walk: %d visits, %v", len(visits), err)
	}
	visits[0].Release()
	visits[0].Release()
	visits[1].Release()
	if err := visits[2].Hash(0, make([]byte, 512)); err != nil || visits[2].Entry.SHA256 != sha("etc/cron.d/c") {
		t.Errorf("Hash after a sibling was released twice: %v", err)
	}
	visits[2].Release()
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after releasing every visit, %d before", after, before)
	}

	// When fn fails, Walk releases the visit it was given.
	stop := errors.New("stop")
	if err := Walk(t.Context(), root, rootAll(), func(v *Visit) error { return stop }); err != stop {
		t.Fatal(err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open after fn failed, %d before", after, before)
	}
}

// A Tree that names "..", "." or a name with a slash must not lead Walk out of root or through a
// symlink; such names are reported as errors.
func TestWalkBadNamesFromTree(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	write(t, parent, "secret", "outside root", 0o644)
	write(t, root, "etc/x", "x", 0o644)
	symlink(t, parent, filepath.Join(root, "up"))
	bad := []string{"..", ".", "etc/x", "up/secret", ""}
	tree := &tnode{kids: map[string]*tnode{"etc": everything("loc")}}
	for _, n := range bad {
		tree.kids[n] = everything("loc")
	}
	vs := walkAll(t, root, tree)
	for _, v := range vs {
		if v.Err == nil && v.Entry.Path != "/etc" && v.Entry.Path != "/etc/x" {
			t.Errorf("visited %s (%s, inode %d)", QuotePath(v.Entry.Path), v.Entry.Type, v.Entry.Inode)
		}
	}
	errs := 0
	for _, v := range vs {
		if v.Err != nil {
			errs++
		}
	}
	if errs != len(bad) {
		t.Errorf("%d error visits for %d bad names: %q", errs, len(bad), paths(vs))
	}
}

// HashContent returns the very bytes it hashed, read once, for files up to keepMax bytes, and
// nothing for larger ones or when the hash did not end HashOK.
func TestHashContent(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	small := strings.Repeat("#!/bin/sh\n", 100) // 1,000 bytes
	large := strings.Repeat("x", 3*1024+1)      // over keepMax, and over the buffer
	write(t, root, "etc/a", small, 0o755)
	write(t, root, "etc/b", large, 0o644)
	write(t, root, "etc/c", "", 0o644)
	write(t, root, "etc/d", strings.Repeat("y", 2500), 0o644) // more than one read of the buffer
	got := map[string][]byte{}
	err := Walk(t.Context(), root, rootAll(), func(v *Visit) error {
		defer v.Release()
		data, err := v.HashContent(0, make([]byte, 1024), 3*1024)
		if err != nil {
			t.Errorf("%s: %v", v.Entry.Path, err)
		}
		if v.Entry.Type == TypeFile {
			if data != nil && sha(string(data)) != v.Entry.SHA256 {
				t.Errorf("%s: the bytes kept are not the bytes hashed", v.Entry.Path)
			}
			got[v.Entry.Path] = data
		} else if data != nil {
			t.Errorf("%s (a %s): %d bytes kept", v.Entry.Path, v.Entry.Type, len(data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(got["/etc/a"]) != small || string(got["/etc/d"]) != strings.Repeat("y", 2500) {
		t.Errorf("small files: kept %d and %d bytes", len(got["/etc/a"]), len(got["/etc/d"]))
	}
	if got["/etc/b"] != nil {
		t.Errorf("a file over keepMax: %d bytes kept", len(got["/etc/b"]))
	}
	if b, ok := got["/etc/c"]; !ok || b == nil || len(b) != 0 {
		t.Errorf("an empty file: kept %v (want an empty, non-nil slice)", b)
	}
}
