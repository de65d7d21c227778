// Command histbench measures the history at scale: it records N synthetic changes (each with
// an actor as the daemon records it: process, arguments, parent and ids) through the store's own
// AddHistory, in transactions of one daemon batch, then reports the database's size, the time of
// the queries `tripline history` runs (one path's timeline, a time window, a pid, a user), the
// time to verify the whole hash chain, and the size after retention pruned half and as many rows
// were recorded again (steady state without VACUUM).
//
//	go run ./cmd/histbench -n 1000000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

func main() {
	n := flag.Int("n", 1_000_000, "changes to record")
	paths := flag.Int("paths", 10_000, "distinct paths")
	batch := flag.Int("batch", 1000, "changes per transaction")
	dir := flag.String("dir", "", "work directory (default: a new temporary one, removed after)")
	flag.Parse()
	if err := run(*n, *paths, *batch, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "histbench:", err)
		os.Exit(1)
	}
}

func size(p string) int64 {
	var total int64
	for _, f := range []string{p, p + "-wal"} {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	return total
}

func record(ctx context.Context, db *store.DB, from, n, paths, batch int, t0 int64) error {
	shell := proc.Process{PID: 900, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}, UID: 0, EUID: 0, LoginUID: 1000, SessionID: 3}
	for i := from; i < from+n; {
		tx, err := db.Begin(ctx)
		if err != nil {
			return err
		}
		for j := 0; j < batch && i < from+n; j, i = j+1, i+1 {
			p := fmt.Sprintf("/etc/cron.daily/job%05d", i%paths)
			old := baseline.Entry{Path: p, Location: "cron-periodic", Type: baseline.TypeFile, Mode: 0o644, Size: 120,
				Inode: uint64(1000 + i%paths), Dev: 2049, Nlink: 1, MtimeNS: t0, CtimeNS: t0, BtimeNS: t0,
				SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", HashState: baseline.HashOK}
			cur := old
			cur.Mode, cur.CtimeNS = 0o755, t0+int64(i)
			pid := int32(10_000 + i%30_000)
			a := &proc.Actor{Attribution: proc.AttrKernel, PID: pid, Process: &proc.Process{PID: pid, PPID: 900, Name: "chmod", Exe: "/usr/bin/chmod",
				Args: []string{"chmod", "+x", p}, UID: int32(i % 3), EUID: int32(i % 3), GID: 0, EGID: 0, LoginUID: 1000, SessionID: 3},
				Ancestors: []proc.Process{shell}}
			rec := &store.Record{TimeNS: t0 + int64(i)*int64(time.Millisecond), Source: "event", Path: p, Location: "cron-periodic",
				Kind: "modified", Flags: []string{"exec-added"}, Old: &old, New: &cur, Rule: "exec-bit-set", Severity: "high",
				Verdict: "alert", Hits: []map[string]string{{"rule": "exec-bit-set", "severity": "high"}}, Actor: a, By: "histbench"}
			if err := tx.AddHistory(ctx, rec); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func timed(what string, f func() (int, error)) error {
	t := time.Now()
	rows, err := f()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Printf("  %-46s %8d rows  %9.1f ms\n", what, rows, float64(time.Since(t).Microseconds())/1000)
	return nil
}

func run(n, paths, batch int, dir string) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "histbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	path := filepath.Join(dir, "history.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer db.Close()
	t0 := time.Now().Add(-time.Duration(n) * time.Millisecond).UnixNano()
	start := time.Now()
	if err := record(ctx, db, 0, n, paths, batch, t0); err != nil {
		return err
	}
	dur := time.Since(start)
	if err := db.Checkpoint(ctx); err != nil {
		return err
	}
	fmt.Printf("recorded %d changes over %d paths in %.1f s (%.0f changes/s, %d per transaction)\n", n, paths, dur.Seconds(), float64(n)/dur.Seconds(), batch)
	fmt.Printf("database: %.1f MB (%.0f bytes per change)\n", float64(size(path))/1e6, float64(size(path))/float64(n))
	fmt.Println("queries (what `tripline history` runs):")
	target := "/etc/cron.daily/job00042"
	if err := timed("history PATH (one path's timeline)", func() (int, error) {
		r, err := db.History(ctx, store.HistoryQuery{Path: target, UID: -1})
		return len(r), err
	}); err != nil {
		return err
	}
	if err := timed("history --since 1m (the newest minute)", func() (int, error) {
		r, err := db.History(ctx, store.HistoryQuery{SinceNS: t0 + int64(n)*int64(time.Millisecond) - int64(time.Minute), UID: -1})
		return len(r), err
	}); err != nil {
		return err
	}
	if err := timed("history --pid 10042 (every row's actor read)", func() (int, error) {
		r, err := db.History(ctx, store.HistoryQuery{PID: 10042, UID: -1})
		return len(r), err
	}); err != nil {
		return err
	}
	if err := timed("history --user 1 --since 1m", func() (int, error) {
		r, err := db.History(ctx, store.HistoryQuery{UID: 1, SinceNS: t0 + int64(n)*int64(time.Millisecond) - int64(time.Minute)})
		return len(r), err
	}); err != nil {
		return err
	}
	if err := timed("history --verify (the whole chain)", func() (int, error) {
		r, err := db.VerifyChain(ctx)
		if err == nil && !r.OK {
			err = fmt.Errorf("chain broken: %s", r.Problem)
		}
		return int(r.Rows), err
	}); err != nil {
		return err
	}
	before := size(path)
	t := time.Now()
	res, err := db.Prune(ctx, 0, int64(n/2))
	if err != nil {
		return err
	}
	pruneDur := time.Since(t)
	if err := db.Checkpoint(ctx); err != nil {
		return err
	}
	fmt.Printf("retention: pruned %d rows (keep the newest %d) in %.1f s; database %.1f MB after it (was %.1f MB)\n",
		res.Rows, n/2, pruneDur.Seconds(), float64(size(path))/1e6, float64(before)/1e6)
	if err := record(ctx, db, n, n/2, paths, batch, t0); err != nil {
		return err
	}
	if err := db.Checkpoint(ctx); err != nil {
		return err
	}
	r, err := db.VerifyChain(ctx)
	if err != nil || !r.OK {
		return fmt.Errorf("chain after pruning: %v %+v", err, r)
	}
	fmt.Printf("after pruning %d and recording %d more: %.1f MB (was %.1f MB; no VACUUM); chain of %d rows from anchor %d verifies\n",
		res.Rows, n/2, float64(size(path))/1e6, float64(before)/1e6, r.Rows, r.AnchorID)
	return nil
}
