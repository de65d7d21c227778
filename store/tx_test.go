package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	e := testEntry("/etc/hosts", 1)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	run, err := tx.StartRun(ctx, "scan", "/", "root", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		tx.PutBaseline(ctx, &e, 1, "root"),
		tx.PutState(ctx, &e, true, 1),
		tx.SetMeta(ctx, "root", "/"),
		tx.AddHistory(ctx, &Record{RunID: run, Source: "scan", Path: e.Path, Kind: "created", New: &e}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	tx.Rollback()
	tx.Rollback() // twice is harmless
	if c, err := db.Count(ctx); err != nil || c != (Counts{}) {
		t.Errorf("Count after Rollback = %+v, %v; want all zero", c, err)
	}
	if _, ok, err := db.Meta(ctx, "root"); ok || err != nil {
		t.Errorf("Meta after Rollback: %v, %v", ok, err)
	}
	if err := tx.Commit(); err == nil {
		t.Error("Commit after Rollback succeeded")
	}

	// Rollback after Commit keeps the commit (the usual deferred Rollback).
	tx, err = db.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin after Rollback: %v", err)
	}
	if err := tx.SetMeta(ctx, "root", "/srv"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if v, ok, err := db.Meta(ctx, "root"); v != "/srv" || !ok || err != nil {
		t.Errorf("Meta after Commit then Rollback = %q, %v, %v", v, ok, err)
	}
}

// Cancelling the context after the statements succeeded does not undo them (SIGTERM while the
// last batch is committed): see Commit.
func TestCommitAfterCancel(t *testing.T) {
	t.Parallel()
	db, _ := openTest(t)
	ctx, cancel := context.WithCancel(context.Background())
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := tx.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	cancel()
	// Statements under the cancelled context fail; the caller may finish under WithoutCancel.
	if err := tx.SetMeta(ctx, "k2", "v2"); !errors.Is(err, context.Canceled) {
		t.Errorf("SetMeta under a cancelled context: %v, want context.Canceled", err)
	}
	if err := tx.SetMeta(context.WithoutCancel(ctx), "k3", "v3"); err != nil {
		t.Errorf("SetMeta under WithoutCancel: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("Commit after cancel: %v", err)
	}
	bg := context.Background()
	for k, want := range map[string]bool{"k": true, "k2": false, "k3": true} {
		if _, ok, err := db.Meta(bg, k); ok != want || err != nil {
			t.Errorf("Meta(%s) present = %v, %v; want %v", k, ok, err, want)
		}
	}
}

// One writer appends history in batches while readers count and iterate: no errors, and readers
// only ever see whole batches.
func TestConcurrentReadWrite(t *testing.T) {
	t.Parallel()
	const rows, batch, baseRows = 2000, 100, 50
	ctx := context.Background()
	db, path := openTest(t)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for i := 0; i < baseRows; i++ {
			e := testEntry(fmt.Sprintf("/etc/profile.d/%02d.sh", i), i)
			if err := tx.PutBaseline(ctx, &e, 1, "root"); err != nil {
				return err
			}
		}
		return nil
	})
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()

	done := make(chan struct{})     // closed when the writer is done
	ready := make(chan struct{}, 2) // a reader completed its first read
	var wg sync.WaitGroup
	var writeErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		// Start once both readers are reading, so that reads and writes overlap.
		for range 2 {
			select {
			case <-ready:
			case <-time.After(30 * time.Second):
				writeErr = errors.New("the readers did not start")
				return
			}
		}
		writeErr = func() error {
			for b := 0; b < rows/batch; b++ {
				tx, err := db.Begin(ctx)
				if err != nil {
					return err
				}
				for i := 0; i < batch; i++ {
					n := b*batch + i
					e := testEntry(fmt.Sprintf("/etc/profile.d/%02d.sh", n%baseRows), n)
					r := &Record{TimeNS: int64(n), Source: "event", Path: e.Path, Kind: "modified", Old: &e, New: &e}
					if err := tx.AddHistory(ctx, r); err != nil {
						tx.Rollback()
						return err
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}
			}
			return nil
		}()
	}()

	readErrs := make([]error, 2)
	reads := make([]int, 2)
	for i, h := range []*DB{db, ro} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readErrs[i] = func() error {
				var last int64
				for {
					if reads[i] == 1 {
						ready <- struct{}{}
					}
					select {
					case <-done:
						return nil
					default:
					}
					c, err := h.Count(ctx)
					if err != nil {
						return err
					}
					if c.History%batch != 0 || c.History < last || c.Baseline != baseRows {
						return fmt.Errorf("Count = %+v after %d: a partial batch or a lost row", c, last)
					}
					last = c.History
					it, err := h.Baseline(ctx)
					if err != nil {
						return err
					}
					n := 0
					for _, ok := it.Next(); ok; _, ok = it.Next() {
						n++
					}
					err = it.Err()
					it.Close()
					if err != nil {
						return err
					}
					if n != baseRows {
						return fmt.Errorf("Baseline iterated %d rows, want %d", n, baseRows)
					}
					reads[i]++
				}
			}()
		}()
	}

	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(60 * time.Second):
		t.Fatal("concurrent readers and writer did not finish")
	}
	if writeErr != nil {
		t.Errorf("writer: %v", writeErr)
	}
	for i, err := range readErrs {
		if err != nil {
			t.Errorf("reader %d: %v", i, err)
		}
	}
	if c, err := db.Count(ctx); err != nil || c.History != rows {
		t.Errorf("Count = %+v, %v; want %d history rows", c, err, rows)
	}
	t.Logf("reads (Count and a Baseline iteration) per reader: %v", reads)
}
