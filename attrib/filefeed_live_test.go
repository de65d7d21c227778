package attrib

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// liveFileFeed opens the file-change feed and runs it, collecting records.
type liveFileFeed struct {
	*FileFeed
	mu   sync.Mutex
	recs []FileChange
	wg   sync.WaitGroup
}

func openFileFeedTest(t *testing.T) *liveFileFeed {
	t.Helper()
	testenv.RequireRoot(t)
	f, notes, err := OpenFileFeed()
	if err != nil {
		t.Fatalf("the file-change feed must load here (CI fails rather than skips): %v", err)
	}
	t.Logf("notes: %v", notes)
	l := &liveFileFeed{FileFeed: f}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if err := f.Run(func(c *FileChange) {
			l.mu.Lock()
			l.recs = append(l.recs, *c)
			l.mu.Unlock()
		}); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() { f.Close(); l.wg.Wait() })
	return l
}

func (l *liveFileFeed) take() []FileChange {
	l.Sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.recs
	l.recs = nil
	return out
}

func run(t *testing.T, dir string, argv ...string) int32 {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out)
	}
	return int32(cmd.ProcessState.Pid())
}

// Each kind of change in a watched directory is recorded with the process that made it, what it
// asked for and where it was; a change outside is not; a directory made just before the write,
// below a directory watched with Below, is covered.
func TestFileFeedRecords(t *testing.T) {
	l := openFileFeedTest(t)
	root := t.TempDir()
	watched := filepath.Join(root, "w")
	outside := filepath.Join(root, "o")
	home := filepath.Join(root, "home")
	for _, d := range []string{watched, outside, home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetDirs([]WatchedDir{{Path: watched}, {Path: home, Below: 2}}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(watched, "job")
	run(t, root, "/bin/sh", "-c", "echo x > w/job; cd o && echo x > job")
	chmod := run(t, watched, "/bin/chmod", "+x", "job")
	touch := run(t, root, "/usr/bin/touch", "-d", "2019-03-01 00:00:00", f)
	mv := run(t, root, "/bin/mv", f, filepath.Join(watched, "job2"))
	rm := run(t, root, "/bin/rm", filepath.Join(watched, "job2"))
	run(t, root, "/bin/chmod", "+x", filepath.Join(outside, "job"))
	run(t, outside, "/bin/chmod", "-x", "job")
	// A relative path from an ancestor of a watched directory may reach into it: the kernel
	// records it, and user space sees it is outside.
	// The new directory is two levels below the watched home: covered, by its relative path
	// from the working directory too.
	sh := run(t, home, "/bin/sh", "-c", "mkdir -p alice/.ssh && cd alice/.ssh && echo KEY >> authorized_keys")
	// Three levels below the home, from a working directory outside: not covered.
	run(t, outside, "/bin/sh", "-c", "mkdir -p ../home/bob/a/b; cd ../home/bob/a/b && echo x > c")

	recs := l.take()
	type seen struct {
		call Call
		pid  int32
		t    Touch
	}
	// Only this test's own processes count: the feed is host-wide, and other test binaries of
	// `go test ./...` run beside this one (a 255-byte path of baseline's walk test is cut, and
	// names no path).
	ours := map[int32]bool{int32(os.Getpid()): true}
	for _, pid := range []int32{chmod, touch, mv, rm, sh} {
		ours[pid] = true
	}
	var got []seen
	for _, c := range recs {
		if !ours[c.PID] && !ours[c.PPID] && !strings.HasPrefix(c.Cwd, root) {
			continue
		}
		ts := c.Touches()
		if len(ts) == 0 {
			t.Errorf("record naming no path: %+v", c)
		}
		for _, x := range ts {
			got = append(got, seen{c.Call, c.PID, x})
			if x.Path == f && c.PID == chmod && (x.Want&WantMode == 0 || x.Mode&0o111 == 0) {
				t.Errorf("chmod +x asks for %+v", x)
			}
			if x.Path == f && c.PID == chmod && c.Cwd != watched {
				t.Errorf("chmod's working directory %q, want %q", c.Cwd, watched)
			}
			if x.Path == f && c.PID == touch && x.Want&WantTimes != 0 && time.Unix(0, x.MtimeNS).UTC().Year() != 2019 {
				t.Errorf("touch -d asks for %+v (%v)", x, time.Unix(0, x.MtimeNS).UTC())
			}
		}
	}
	for _, w := range []struct {
		pid  int32
		want int
		path string
	}{
		{chmod, WantMode, f}, {touch, WantTimes, f}, {mv, WantRemove, f}, {mv, WantCreate, filepath.Join(watched, "job2")},
		{rm, WantRemove, filepath.Join(watched, "job2")},
		{0, WantCreate, filepath.Join(home, "alice")}, {sh, WantWrite, filepath.Join(home, "alice/.ssh/authorized_keys")},
	} {
		found := false
		for _, g := range got {
			if g.t.Want&w.want != 0 && g.t.Path == w.path && (w.pid == 0 || g.pid == w.pid) {
				found = true
			}
		}
		if !found {
			t.Errorf("no record by %d asking %#x of %s; got %+v", w.pid, w.want, w.path, got)
		}
	}
	for _, g := range got {
		if filepath.Dir(g.t.Path) == outside || g.t.Path == filepath.Join(home, "bob/a/b/c") {
			t.Errorf("recorded a change outside the watched set: %+v", g)
		}
	}
	if l.Drops() != 0 {
		t.Errorf("%d drops", l.Drops())
	}
}

// After Sync, the record of a call made before it is always there: 200 chmods, each checked at
// once.
func TestFileFeedSync(t *testing.T) {
	l := openFileFeedTest(t)
	dir := t.TempDir()
	if err := l.SetDirs([]WatchedDir{{Path: dir}}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	l.take()
	for i := 0; i < 200; i++ {
		mode := os.FileMode(0o600 | i&0o7)
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		found := false
		got := l.take()
		for _, c := range got {
			for _, x := range c.Touches() {
				if x.Path == f && x.Want&WantMode != 0 && x.Mode == uint32(mode) {
					found = true
				}
			}
		}
		if !found {
			for _, c := range got {
				t.Logf("got %s %+v", c.Call, c.Touches())
			}
			for _, c := range l.take() {
				t.Logf("then %s %+v", c.Call, c.Touches())
			}
			t.Fatalf("chmod %d (%o): no record after Sync", i, mode)
		}
	}
}

// A record that no live backend reports wakes the reader at once: no Sync and no timer is there
// to drain it. A change in a polled (not live) directory, a change in a directory made below a
// watched one, and a rename out of a live directory into that one each arrive unasked; a change
// in the live directory arrives with the next Sync.
func TestFileFeedWakes(t *testing.T) {
	l := openFileFeedTest(t)
	base := t.TempDir()
	live, polled, below := filepath.Join(base, "live"), filepath.Join(base, "polled"), filepath.Join(base, "live", "new")
	for _, d := range []string{live, polled} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.SetDirs([]WatchedDir{{Path: live, Live: true, Below: 2}, {Path: polled}}); err != nil {
		t.Fatal(err)
	}
	l.take()
	unasked := func(what, path string, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			l.mu.Lock()
			for _, c := range l.recs {
				for _, x := range c.Touches() {
					if x.Path == path && x.Want&want != 0 {
						l.mu.Unlock()
						return
					}
				}
			}
			l.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		t.Errorf("%s: no record of %s arrived without a Sync", what, path)
	}
	if err := os.WriteFile(filepath.Join(polled, "p"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unasked("a file created in a polled directory", filepath.Join(polled, "p"), WantCreate)
	if err := os.Mkdir(below, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(below, "b"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	unasked("a file created in a new directory below a live one", filepath.Join(below, "b"), WantCreate)
	if err := os.WriteFile(filepath.Join(live, "m"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(live, "m"), filepath.Join(below, "m")); err != nil {
		t.Fatal(err)
	}
	unasked("a rename out of a live directory into a new one below it", filepath.Join(below, "m"), WantCreate)
	if err := os.Chmod(filepath.Join(below, "m"), 0o755); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(live, "q")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o755); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range l.take() {
		for _, x := range c.Touches() {
			found = found || (x.Path == f && x.Want&WantMode != 0 && x.Mode == 0o755)
		}
	}
	if !found {
		t.Errorf("the chmod in the live directory was not there after a Sync")
	}
}

// Quiet records still wake the reader once the ring is a quarter full (1 MiB): 3,000 chmods in a
// live directory, records of at least 696 bytes each, arrive without a Sync. (With no quarter
// wake-up none arrive: checked by building the programs with the threshold at the ring's size.)
func TestFileFeedWakesWhenQuarterFull(t *testing.T) {
	l := openFileFeedTest(t)
	live := filepath.Join(t.TempDir(), "live")
	if err := os.Mkdir(live, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.SetDirs([]WatchedDir{{Path: live, Live: true}}); err != nil {
		t.Fatal(err)
	}
	g := filepath.Join(live, "g")
	if err := os.WriteFile(g, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l.take()
	// The reader is asleep before the burst, or it would read the records as they come
	// (there is no signal for "asleep": a shorter wait only makes this pass vacuously).
	time.Sleep(200 * time.Millisecond)
	for i := 0; i < 3000; i++ {
		if err := os.Chmod(g, os.FileMode(0o600|i&0o77)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		n = len(l.recs)
		l.mu.Unlock()
		if n > 0 {
			t.Logf("%d of 3,000 records arrived unasked", n)
			return
		}
	}
	t.Error("no record arrived without a Sync: a quarter-full ring did not wake the reader")
}
