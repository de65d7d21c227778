package watch

// Regression tests for daemon bugs found in review: each failed before its fix.

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// syncBuffer is a log sink that tests read while the watcher writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs a Watcher in-process on a fixture root and collects what it emits. While gate is
// set, the Emit for gateOn blocks (after signalling in), which holds the loop so that changes
// pile up.
type harness struct {
	root   string
	w      *Watcher
	log    *syncBuffer
	mu     sync.Mutex
	got    []Change
	gate   chan struct{}
	gateOn string // the logical path whose emit blocks on gate
	in     chan struct{}
}

func startHarness(t *testing.T, backend string, pol *policy.Policy, dirs ...string) *harness {
	t.Helper()
	if backend == "fanotify" {
		testenv.RequireRoot(t)
	}
	h := &harness{root: t.TempDir(), in: make(chan struct{}, 100), log: &syncBuffer{}}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(h.root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	h.w = New(Options{Root: h.root, Policy: pol, DB: db, Backend: backend, By: "test", ReconcileEvery: time.Hour,
		Log: slog.New(slog.NewTextHandler(h.log, nil)), Reconcile: reconcileWith(h.root, db, "test"),
		Emit: func(c Change) error {
			h.mu.Lock()
			h.got = append(h.got, c)
			g := h.gate
			if c.Finding.Change.Path != h.gateOn {
				g = nil
			}
			h.mu.Unlock()
			if g != nil {
				h.in <- struct{}{}
				<-g
			}
			return nil
		},
		Ready: func(Status) { close(ready) }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("the watcher was not ready within 20 s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		db.Close()
	})
	return h
}

func (h *harness) write(t *testing.T, rel string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(h.root, rel)
	if err := os.WriteFile(p, []byte("#!/bin/sh\necho hi\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// hold makes the loop block in its next Emit, triggered by a change to rel.
func (h *harness) hold(t *testing.T, rel string) chan struct{} {
	t.Helper()
	gate := make(chan struct{})
	h.mu.Lock()
	// Only the emit for rel blocks: an emit still under way for an earlier change must not
	// stand in for it (the loop would then go on to handle what the test does next).
	h.gate, h.gateOn = gate, "/"+rel
	h.mu.Unlock()
	h.write(t, rel, 0o644)
	select {
	case <-h.in:
	case <-time.After(5 * time.Second):
		t.Fatalf("no event for %s", rel)
	}
	return gate
}

func (h *harness) release(gate chan struct{}) {
	h.mu.Lock()
	h.gate = nil
	h.mu.Unlock()
	close(gate)
}

// waitFor returns the first emitted change of a logical path (by one of rules, when given), or nil
// after d.
func (h *harness) waitFor(path string, d time.Duration, rules ...string) *Change {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for i := range h.got {
			if h.got[i].Finding.Change.Path == path && (len(rules) == 0 || slices.Contains(rules, h.got[i].Finding.Rule())) {
				c := h.got[i]
				h.mu.Unlock()
				return &c
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// waitLog waits until the watcher has logged a line containing s.
func (h *harness) waitLog(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.log.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line with %q:\n%s", s, h.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A watched directory removed and re-created before the loop handles its removal must be watched
// again: the new directory has no mark of its own.
func TestReplacedDirectoryIsWatchedAgain(t *testing.T) {
	for _, be := range []string{"fanotify", "inotify"} {
		t.Run(be, func(t *testing.T) {
			h := startHarness(t, be, policy.Default(), "etc/cron.daily", "etc/cron.d")
			gate := h.hold(t, "etc/cron.d/first")
			cd := filepath.Join(h.root, "etc/cron.daily")
			os.RemoveAll(cd)
			if err := os.Mkdir(cd, 0o755); err != nil {
				t.Fatal(err)
			}
			h.release(gate)
			h.waitLog(t, "why=directory-changed")
			h.write(t, "etc/cron.daily/evil", 0o755)
			if h.waitFor("/etc/cron.daily/evil", 5*time.Second) == nil {
				t.Error("a file created in the re-created /etc/cron.daily was never reported")
			}
		})
	}
}

// A directory event in a batch must not turn the batch's attributed changes into anonymous
// reconcile findings.
func TestDirectoryEventKeepsAttribution(t *testing.T) {
	h := startHarness(t, "fanotify", policy.Default(), "etc/cron.daily", "etc/cron.d")
	h.write(t, "etc/cron.daily/job", 0o644)
	gate := h.hold(t, "etc/cron.d/first")
	cmd := exec.Command("chmod", "+x", filepath.Join(h.root, "etc/cron.daily/job"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatal(err, string(out))
	}
	if err := os.Mkdir(filepath.Join(h.root, "etc/cron.d/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.release(gate)
	c := h.waitFor("/etc/cron.daily/job", 5*time.Second, policy.RuleExecBitSet)
	if c == nil {
		t.Fatal("chmod +x not reported")
	}
	if c.Source != store.SourceEvent || c.Actor.PID != int32(cmd.Process.Pid) {
		t.Errorf("chmod +x reported with source %s, pid %d; want event, pid %d", c.Source, c.Actor.PID, cmd.Process.Pid)
	}
}

// truncate(2) by path raises only a modify event, never a close-after-write.
func TestTruncateIsSeen(t *testing.T) {
	for _, be := range []string{"fanotify", "inotify"} {
		t.Run(be, func(t *testing.T) {
			h := startHarness(t, be, policy.Default(), "etc/cron.daily")
			h.write(t, "etc/cron.daily/job", 0o755)
			h.waitFor("/etc/cron.daily/job", 5*time.Second)
			if err := os.Truncate(filepath.Join(h.root, "etc/cron.daily/job"), 3); err != nil {
				t.Fatal(err)
			}
			if h.waitFor("/etc/cron.daily/job", 5*time.Second, policy.RuleContentChanged) != nil {
				return
			}
			t.Error("the content change by truncate(2) was never reported")
		})
	}
}

// A new home directory must be seen, so that ~/.bashrc of a new user is watched, even when
// another home already matches the pattern.
func TestNewHomeIsWatched(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte("version: 1\nhomes: [/home/*]\nlocations:\n  - id: shell-rc\n    paths: [~/.bashrc]\n    category: shell\n    technique: T1546.004\n    use: sourced\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := startHarness(t, "fanotify", pol, "home/alice")
	if err := os.Mkdir(filepath.Join(h.root, "home/bob"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.waitLog(t, "why=directory-changed")
	h.write(t, "home/bob/.bashrc", 0o644)
	if h.waitFor("/home/bob/.bashrc", 5*time.Second) == nil {
		t.Error("~/.bashrc of a new home directory was never reported")
	}
}
