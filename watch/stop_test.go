package watch

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// A directory event still queued when a stop is asked for must not re-mark the directories: the
// backends are closed by then, so every directory fell to polling, with a warning each and an open
// "polled" gap each left for the next start (found in review: thousands on a real host).
func TestStopDoesNotRemarkOntoClosedBackends(t *testing.T) {
	testenv.RequireRoot(t)
	for _, backend := range []string{"fanotify", "inotify"} {
		t.Run(backend, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range []string{"etc/cron.daily", "etc/systemd/system"} {
				os.MkdirAll(filepath.Join(root, d), 0o755)
			}
			db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			log := &syncBuffer{}
			gate, in, ready := make(chan struct{}), make(chan struct{}, 10), make(chan struct{})
			w := New(Options{Root: root, Policy: policy.Default(), DB: db, Backend: backend, By: "t", ReconcileEvery: time.Hour, EmitQueue: -1,
				Log: slog.New(slog.NewTextHandler(log, nil)), Reconcile: reconcileWith(root, db, "t"),
				Emit: func(c Change) error {
					if c.Finding.Change.Path == "/etc/cron.daily/a" {
						in <- struct{}{}
						<-gate // the loop is busy while the directory event arrives and the stop is asked for
					}
					return nil
				},
				Ready: func(Status) { close(ready) }})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Run(ctx) }()
			<-ready
			os.WriteFile(filepath.Join(root, "etc/cron.daily/a"), []byte("#!/bin/sh\n"), 0o755)
			<-in
			os.Mkdir(filepath.Join(root, "etc/systemd/system/new.d"), 0o755)
			// The directory event is read while the loop waits in Emit; there is no signal for
			// "read", so give the reader time (a shorter wait only makes the test pass vacuously).
			time.Sleep(300 * time.Millisecond)
			mark := len(log.String())
			cancel()
			close(gate)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if after := log.String()[mark:]; strings.Contains(after, "not watched live") || strings.Contains(after, "inotify, without pids") {
				t.Errorf("the stop re-marked directories onto closed backends:\n%s", after)
			}
			gaps, err := db.Gaps(context.Background(), 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			dirChanged := false
			for _, g := range gaps {
				if g.Reason == "polled" {
					t.Errorf("a polled gap was left by the stop: %+v", g)
				}
				dirChanged = dirChanged || (g.Reason == "directory-changed" && g.EndNS == 0)
			}
			if !dirChanged {
				t.Errorf("no open directory-changed gap for the next start to reconcile: %+v", gaps)
			}
		})
	}
}
