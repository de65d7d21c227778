package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The inotify tests need no privilege: inotify watches what the process can read.

func openInotify(t *testing.T) *inotify {
	t.Helper()
	n, err := newInotify()
	if err != nil {
		t.Fatalf("newInotify: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestInotifyEvents(t *testing.T) {
	n := openInotify(t)
	if n.Name() != "inotify" || n.Caps() != (Caps{}) {
		t.Fatalf("Name %q Caps %+v, want inotify and no caps", n.Name(), n.Caps())
	}
	dir := mkdir(t, filepath.Join(t.TempDir(), "watched"))
	outside := t.TempDir()
	touch(t, filepath.Join(dir, "x"))
	must(t, n.Add(dir))
	must(t, n.Add(dir)) // twice is harmless
	r := startRun(t, n, 64)

	steps := basicSteps(dir, outside, false)
	steps = append(steps,
		step{"rmdir", func(t *testing.T) int { must(t, os.Remove(filepath.Join(dir, "sub"))); return 0 },
			[]want{{dir, "sub", OpDelete, false}}},
		step{"remove the watched directory", func(t *testing.T) int { must(t, os.RemoveAll(dir)); return 0 },
			[]want{{dir, "x", OpDelete, false}, {dir, "", OpSelfGone, false}}},
	)
	runSteps(t, r, n.Caps(), steps)
	if err := n.Remove(dir); err != nil {
		t.Errorf("Remove of a directory that is gone: %v", err)
	}
}

// openByName opens the backend a subtest is named after.
func openByName(t *testing.T, name string) Backend {
	t.Helper()
	if name == "inotify" {
		return openInotify(t)
	}
	return openFanotify(t)
}

// TestMoveSelf: a watched directory moved away is gone from where it was watched, on both
// backends.
func TestMoveSelf(t *testing.T) {
	for _, name := range []string{"inotify", "fanotify"} {
		t.Run(name, func(t *testing.T) {
			b := openByName(t, name)
			dir := mkdir(t, filepath.Join(t.TempDir(), "watched"))
			must(t, b.Add(dir))
			r := startRun(t, b, 64)
			runSteps(t, r, b.Caps(), []step{
				{"move the watched directory away", func(t *testing.T) int {
					must(t, os.Rename(dir, filepath.Join(t.TempDir(), "moved")))
					return os.Getpid()
				}, []want{{dir, "", OpSelfGone, true}}},
			})
		})
	}
}

// TestInotifySubdirAttrib: a chmod of a directory inside a watched directory is reported as a
// change to that entry (TestFanotifySubdirAttrib asks the same of fanotify).
func TestInotifySubdirAttrib(t *testing.T) {
	n := openInotify(t)
	dir := t.TempDir()
	sub := mkdir(t, filepath.Join(dir, "sub"))
	must(t, n.Add(dir))
	r := startRun(t, n, 64)
	must(t, os.Chmod(sub, 0o700))
	e := r.expect(t, dir, "sub", OpAttrib)
	checkActor(t, e, n.Caps(), 0, false)
}

func TestInotifyRemove(t *testing.T) {
	n := openInotify(t)
	a := mkdir(t, filepath.Join(t.TempDir(), "a"))
	b := mkdir(t, filepath.Join(t.TempDir(), "b"))
	must(t, n.Add(a))
	must(t, n.Add(b))
	r := startRun(t, n, 64)

	must(t, n.Remove(a))
	must(t, n.Remove(a))                        // twice
	must(t, n.Remove(filepath.Join(a, "none"))) // never added
	touch(t, filepath.Join(a, "1"))
	touch(t, filepath.Join(b, "1"))
	_, skipped := r.next(t, "in b", func(e Event) bool { return e.Dir == b })
	for _, s := range skipped {
		if s.Dir == a {
			t.Errorf("event %+v after Remove(%s)", s, a)
		}
	}
	must(t, n.Add(a))
	touch(t, filepath.Join(a, "2"))
	r.expect(t, a, "2", OpCreate)
}

func TestInotifyAddErrors(t *testing.T) {
	n := openInotify(t)
	missing := filepath.Join(t.TempDir(), "missing")
	if err := n.Add(missing); err == nil {
		t.Errorf("Add(%s): no error", missing)
	}
	must(t, n.Close())
	must(t, n.Close())
	if err := n.Add(t.TempDir()); err == nil {
		t.Error("Add after Close: no error")
	}
}

// TestInotifyStop checks that Close and a cancelled context each make a blocked Run return nil.
func TestInotifyStop(t *testing.T) {
	testStop(t, func(t *testing.T) Backend { return openInotify(t) })
}

// TestInotifyOverflow fills the inotify queue while nothing reads: Run must then deliver an
// OpOverflow, and events after it.
func TestInotifyOverflow(t *testing.T) {
	max := 16384
	if b, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = v
		}
	}
	if max > 100000 {
		t.Skipf("fs.inotify.max_queued_events is %d: too many files to overflow it", max)
	}
	n := openInotify(t)
	dir := t.TempDir()
	must(t, n.Add(dir))
	count := max + max/4
	for i := range count {
		if err := unix.Mknod(filepath.Join(dir, fmt.Sprintf("f%06d", i)), unix.S_IFREG|0o600, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := startRun(t, n, 1024)
	over, before := r.next(t, "with OpOverflow", func(e Event) bool { return e.Op&OpOverflow != 0 })
	t.Logf("%d changes, %d events before %+v", count, len(before), over)
	if over.Op != OpOverflow || over.Dir != "" || over.PIDFD != -1 || over.PID != 0 {
		t.Errorf("overflow event %+v", over)
	}
	touch(t, filepath.Join(dir, "after"))
	r.expect(t, dir, "after", OpCreate)
}

// TestCloseWhileSending: Close must make Run return (Backend's contract) even when Run holds an
// event that nobody receives.
func TestCloseWhileSending(t *testing.T) {
	for _, name := range []string{"inotify", "fanotify"} {
		t.Run(name, func(t *testing.T) {
			b := openByName(t, name)
			dir := t.TempDir()
			must(t, b.Add(dir))
			// Queued before Run starts: the first read returns both.
			touch(t, filepath.Join(dir, "1"))
			touch(t, filepath.Join(dir, "2"))
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan Event)
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx, out) }()
			var first Event
			t.Cleanup(func() {
				cancel() // unblocks Run if Close did not
				<-done
				// Closed after Run is done, and only if still open: never a descriptor
				// reused meanwhile. (No backend passes pidfds on today; this stays safe if one does.)
				if first.PIDFD >= 0 {
					if _, err := unix.FcntlInt(uintptr(first.PIDFD), unix.F_GETFD, 0); err == nil {
						unix.Close(first.PIDFD)
					}
				}
			})
			select {
			case first = <-out:
			case <-time.After(5 * time.Second):
				t.Fatal("no event within 5 s")
			}
			must(t, b.Close()) // Run is now sending the second event
			select {
			case err := <-done:
				done <- err
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(2 * time.Second):
				t.Error("Run did not return within 2 s of Close")
			}
		})
	}
}
