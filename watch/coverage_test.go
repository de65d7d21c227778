package watch

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

// TestFanotifyOverlayfs runs the basic changes in an overlay whose directory and files come from
// the lower layer: overlayfs has no decodable file handles, and fanotify marks it only through
// the FID handle name_to_handle_at gives with AT_HANDLE_FID (6.5+).
func TestFanotifyOverlayfs(t *testing.T) {
	f := openFanotify(t)
	base := mountTmpfs(t)
	lower, upper, work, merged := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{lower, upper, work, merged, filepath.Join(lower, "watched"), filepath.Join(lower, "outside")} {
		mkdir(t, d)
	}
	touch(t, filepath.Join(lower, "watched", "from-lower"))
	if err := unix.Mount("overlay", merged, "overlay", 0, "lowerdir="+lower+",upperdir="+upper+",workdir="+work); err != nil {
		testenv.SkipOrFail(t, "mount overlay: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", merged, err)
		}
	})
	dir, outside := filepath.Join(merged, "watched"), filepath.Join(merged, "outside")
	if err := f.Add(dir); err != nil {
		t.Fatalf("Add %s on overlayfs: %v", dir, err)
	}
	r := startRun(t, f, 64)
	runSteps(t, r, f.Caps(), []step{
		{"chmod a file of the lower layer (copy-up)", func(t *testing.T) int { must(t, os.Chmod(filepath.Join(dir, "from-lower"), 0o755)); return os.Getpid() },
			[]want{{dir, "from-lower", OpAttrib, true}}},
	})
	runSteps(t, r, f.Caps(), basicSteps(dir, outside, true))
	// A chmod of a subdirectory that is not itself watched is reported as an entry of its
	// parent, although overlayfs's handle of it cannot be opened.
	sub := filepath.Join(dir, "sub")
	runSteps(t, r, f.Caps(), []step{
		{"chmod a subdirectory", func(t *testing.T) int { must(t, os.Chmod(sub, 0o777)); return os.Getpid() },
			[]want{{dir, "sub", OpAttrib | OpIsDir, true}}},
	})
}

// The poller reports what changed between two rescans, and nothing when nothing did.
func TestPollerRescan(t *testing.T) {
	dir := t.TempDir()
	keep, gone := filepath.Join(dir, "keep"), filepath.Join(dir, "gone")
	touch(t, keep)
	touch(t, gone)
	p := newPoller(time.Hour)
	must(t, p.Add(dir))
	if evs := p.rescan(); len(evs) != 0 {
		t.Fatalf("nothing changed, yet %v", evs)
	}
	must(t, os.Chmod(keep, 0o755))
	must(t, os.Remove(gone))
	touch(t, filepath.Join(dir, "new"))
	mkdir(t, filepath.Join(dir, "sub"))
	got := map[string]Op{}
	for _, e := range p.rescan() {
		if e.Dir != dir || e.PID != 0 || e.PIDFD != -1 {
			t.Errorf("%+v: want an event of %s without a pid", e, dir)
		}
		got[e.Name] |= e.Op
	}
	want := map[string]Op{"keep": OpAttrib | OpWrite, "gone": OpDelete, "new": OpCreate, "sub": OpCreate | OpIsDir}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rescan: %v, want %v", got, want)
	}
	// Adding it again keeps the listing: a change made since the last rescan is still due.
	must(t, os.Chmod(keep, 0o700))
	must(t, p.Add(dir))
	if evs := p.rescan(); len(evs) != 1 || evs[0].Name != "keep" {
		t.Errorf("after Add again: %v, want keep's chmod", evs)
	}
	must(t, os.RemoveAll(dir))
	if evs := p.rescan(); len(evs) != 1 || evs[0].Op != OpSelfGone {
		t.Errorf("directory removed: %v, want self-gone", evs)
	}
}

// refusing is a backend that refuses some directories as a filesystem without what it needs
// would (FUSE, NFS, no file handles), and passes the rest to a real one: those filesystems
// cannot be mounted here, the refusal is all that differs.
type refusing struct {
	Backend
	refuse map[string]bool
}

func (r *refusing) Add(dir string) error {
	if r.refuse[dir] {
		return fmt.Errorf("%s: its filesystem has no file handles: %w", dir, ErrNotSupported)
	}
	return r.Backend.Add(dir)
}

// A directory fanotify refuses goes to inotify, one both refuse to the poller, the rest stays on
// fanotify; each real backend then reports the change made in its directory, into one channel.
func TestDirSetFallback(t *testing.T) {
	f := openFanotify(t)
	base := t.TempDir()
	fan, ino, pol := mkdir(t, filepath.Join(base, "fan")), mkdir(t, filepath.Join(base, "ino")), mkdir(t, filepath.Join(base, "pol"))
	var log bytes.Buffer
	events := make(chan Event, 64)
	rd := newReaders(events)
	t.Cleanup(rd.stop)
	primary := &refusing{f, map[string]bool{ino: true, pol: true}}
	rd.start(primary)
	s := newDirSet(primary, time.Hour, nil, rd.start, slog.New(slog.NewTextHandler(&log, nil)), func(h string) string { return h })
	s.newInotify = func() (Backend, error) {
		i, err := newInotify()
		return &refusing{i, map[string]bool{pol: true}}, err
	}
	if failed := s.sync(map[string]bool{fan: true, ino: true, pol: true}); failed != 0 {
		t.Fatalf("%d directories not watched:\n%s", failed, log.String())
	}
	if c := s.counts(); c != (Counts{Fanotify: 1, Inotify: 1, Polled: 1}) {
		t.Errorf("counts %+v, want one of each", c)
	}
	if got := s.unlive(); !slices.Equal(got, []string{pol}) {
		t.Errorf("unlive %v, want %s", got, pol)
	}
	for _, d := range []string{ino, pol} {
		if !strings.Contains(log.String(), "path="+d) {
			t.Errorf("no warning naming %s:\n%s", d, log.String())
		}
	}
	for _, d := range []string{fan, ino, pol} {
		touch(t, filepath.Join(d, "x"))
	}
	// The poller's own timer is an hour: its rescan is made here, so nothing waits on time.
	for _, e := range s.poll.rescan() {
		events <- e
	}
	seen := map[string]int32{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 3 {
		select {
		case e := <-events:
			ReleasePIDFD(e.PIDFD)
			if e.Name == "x" {
				seen[s.backend(e.Dir)] = e.PID
			}
		case <-deadline:
			t.Fatalf("events by backend %v, want fanotify, inotify and poll", seen)
		}
	}
	if seen["fanotify"] != int32(os.Getpid()) || seen["inotify"] != 0 || seen["poll"] != 0 {
		t.Errorf("pids by backend %v: want ours from fanotify only", seen)
	}
	// Once fanotify can mark it again, the directory goes back to fanotify.
	delete(primary.refuse, ino)
	s.sync(map[string]bool{fan: true, ino: true, pol: true})
	if c := s.counts(); c != (Counts{Fanotify: 2, Polled: 1}) {
		t.Errorf("after fanotify accepts %s: counts %+v", ino, c)
	}
	// Forced coverage wins over what the backend could do.
	s.force = map[string]Coverage{fan: CoverPoll}
	s.sync(map[string]bool{fan: true, ino: true, pol: true})
	if c := s.counts(); c != (Counts{Fanotify: 1, Polled: 2}) {
		t.Errorf("with %s forced onto poll: counts %+v", fan, c)
	}
}
