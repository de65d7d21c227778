package watch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/scan"
	"github.com/tripline/tripline/store"
)

// BenchmarkObserve is the daemon's per-event work after the kernel read: observe a changed path
// (stat and hash), look up its last observation, judge it, append the history row and the drift
// row, commit, emit. One op is one event, handled in batches of batchSize as the loop does under
// load. The actor is this process.
//
//	go test ./watch -run XXX -bench Observe -benchmem
func BenchmarkObserve(b *testing.B) {
	for _, batchSize := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch%d", batchSize), func(b *testing.B) { benchObserve(b, batchSize) })
	}
}

// cpuTime is the CPU time the process used so far, in every thread.
func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchObserve(b *testing.B, batchSize int) {
	ctx := context.Background()
	root := b.TempDir()
	dir := filepath.Join(root, "etc/cron.daily")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	const files = 4096
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("job%05d", i)), []byte("#!/bin/sh\n"), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	pol := policy.Default()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "tripline.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := scan.Run(ctx, scan.Options{Root: root, Policy: pol, DB: db, By: "bench"}); err != nil {
		b.Fatal(err)
	}
	emitted := 0
	w := New(Options{Root: root, Policy: pol, DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Emit: func(Change) error { emitted++; return nil }})
	// The exec cache as the daemon opens it (the kernel feed where it runs): this process is read
	// from /proc once, then found in the cache.
	cache, _, err := attrib.Open("auto", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close()
	w.attr = cache
	w.g.init()
	pid := int32(os.Getpid())
	mode := os.FileMode(0o644) // as created: the first round sets the exec bits
	var cpu time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(batchSize, b.N-done)
		b.StopTimer()
		order := make([]string, 0, n)
		byPath := make(map[string]*pending, n)
		at := attrib.Now() // one read of the kernel queue
		for i := range n {
			k := (done + i) % files
			if k == 0 {
				mode ^= 0o111 // every file changes again on the next round
			}
			name := fmt.Sprintf("job%05d", k)
			if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
				b.Fatal(err)
			}
			p := "/etc/cron.daily/" + name
			order = append(order, p)
			byPath[p] = &pending{logical: p, backend: "fanotify", pid: pid, pidfd: -1, at: at, readNS: w.g.noteRead(at)}
		}
		b.StartTimer()
		c0 := cpuTime()
		lost, err := w.observe(ctx, order, byPath)
		cpu += cpuTime() - c0
		if err != nil || lost {
			b.Fatalf("observe: lost %v, %v", lost, err)
		}
		done += n
	}
	b.StopTimer()
	// CPU time, not wall time, is what a shared machine lets one compare.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if emitted == 0 {
		b.Fatal("no change was emitted")
	}
}
