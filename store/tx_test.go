package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
)

// acceptFixture: /etc/mod is modified (state present), /etc/gone deleted (state absent),
// /etc/new created (state, no baseline), /etc/same has no drift.
func acceptFixture(t *testing.T) (db *DB, path string, base, seen map[string]baseline.Entry) {
	db, path = openTest(t)
	base = map[string]baseline.Entry{
		"/etc/mod":  testEntry("/etc/mod", 1),
		"/etc/gone": testEntry("/etc/gone", 2),
		"/etc/same": testEntry("/etc/same", 3),
	}
	seen = map[string]baseline.Entry{
		"/etc/mod":  testEntry("/etc/mod", 11),
		"/etc/gone": testEntry("/etc/gone", 2),
		"/etc/new":  testEntry("/etc/new", 13),
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, e := range base {
			if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
				return err
			}
		}
		for p, e := range seen {
			if err := tx.PutState(ctx, &e, p != "/etc/gone", 5); err != nil {
				return err
			}
		}
		return nil
	})
	return db, path, base, seen
}

type acceptRow struct {
	path       string
	runID      int64
	old, new   *baseline.Entry
	by, source string
	kind       string
	timeNS     int64
}

func acceptRows(t *testing.T, path string) []acceptRow {
	var out []acceptRow
	for _, r := range historyRows(t, path) {
		out = append(out, acceptRow{path: r.path, runID: r.runID.Int64, old: decodeEntry(t, r.old), new: decodeEntry(t, r.new),
			by: r.by, source: r.source, kind: r.kind, timeNS: r.timeNS})
		if r.verdict != "accepted" || r.severity != "none" {
			t.Errorf("history row of %s: verdict %q, severity %q", r.path, r.verdict, r.severity)
		}
	}
	return out
}

func ptr(e baseline.Entry) *baseline.Entry { return &e }

func TestAcceptAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path, base, seen := acceptFixture(t)
	res, err := db.Accept(ctx, nil, "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := AcceptResult{Approved: []string{"/etc/mod", "/etc/new"}, Removed: []string{"/etc/gone"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Accept = %+v, want %+v", res, want)
	}
	got, err := db.BaselineEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantBase := []Approved{
		{Entry: seen["/etc/mod"], ApprovedNS: 1000, ApprovedBy: "alice"},
		{Entry: seen["/etc/new"], ApprovedNS: 1000, ApprovedBy: "alice"},
		{Entry: base["/etc/same"], ApprovedNS: 1, ApprovedBy: "installer"},
	}
	if !reflect.DeepEqual(got, wantBase) {
		t.Errorf("baseline after Accept:\n got %+v\nwant %+v", got, wantBase)
	}
	if st, err := db.States(ctx); err != nil || len(st) != 0 {
		t.Errorf("States after Accept = %v, %v; want none", st, err)
	}

	rows := acceptRows(t, path)
	if len(rows) != 3 {
		t.Fatalf("%d history rows, want 3", len(rows))
	}
	run := rows[0].runID
	wantRows := []acceptRow{ // in path order
		{path: "/etc/gone", old: ptr(base["/etc/gone"])},
		{path: "/etc/mod", old: ptr(base["/etc/mod"]), new: ptr(seen["/etc/mod"])},
		{path: "/etc/new", new: ptr(seen["/etc/new"])},
	}
	for i := range wantRows {
		w := &wantRows[i]
		w.runID, w.by, w.source, w.kind, w.timeNS = run, "alice", "accept", "accepted", 1000
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("history:\n got %+v\nwant %+v", rows, wantRows)
	}
	var kind, by string
	var files int
	err = rawOpen(t, path, "mode=ro").QueryRow("SELECT kind, by, files FROM runs WHERE id = ?", run).Scan(&kind, &by, &files)
	if err != nil || kind != "accept" || by != "alice" || files != 3 {
		t.Errorf("run %d = %q %q %d, %v", run, kind, by, files, err)
	}

	// Nothing left to accept.
	res, err = db.Accept(ctx, nil, "alice", 2000)
	if err != nil || len(res.Approved)+len(res.Removed)+len(res.Unknown) != 0 {
		t.Errorf("second Accept = %+v, %v; want nothing", res, err)
	}
	if c, err := db.Count(ctx); err != nil || c.History != 3 {
		t.Errorf("Count after a second Accept = %+v, %v; want 3 history rows", c, err)
	}
}

func TestAcceptPaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path, base, seen := acceptFixture(t)
	res, err := db.Accept(ctx, []string{"/etc/gone", "/etc/unknown", "/etc/same", "/etc/gone"}, "bob", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := AcceptResult{Removed: []string{"/etc/gone"}, Unknown: []string{"/etc/unknown", "/etc/same"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Accept = %+v, want %+v", res, want)
	}
	got, err := db.BaselineEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(paths(got), []string{"/etc/mod", "/etc/same"}) || got[0].Entry != base["/etc/mod"] {
		t.Errorf("baseline after Accept = %+v", got)
	}
	st, err := db.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st["/etc/mod"].Entry != seen["/etc/mod"] || !st["/etc/new"].Present {
		t.Errorf("States after Accept = %+v; want the drift of /etc/mod and /etc/new kept", st)
	}
	rows := acceptRows(t, path)
	if len(rows) != 1 || rows[0].path != "/etc/gone" || rows[0].by != "bob" || rows[0].source != "accept" ||
		rows[0].kind != "accepted" || rows[0].new != nil || *rows[0].old != base["/etc/gone"] {
		t.Errorf("history = %+v", rows)
	}

	res, err = db.Accept(ctx, []string{"/etc/mod"}, "carol", 2000)
	if err != nil || !slices.Equal(res.Approved, []string{"/etc/mod"}) {
		t.Fatalf("Accept(/etc/mod) = %+v, %v", res, err)
	}
	a, err := db.BaselineEntries(ctx, "/etc/mod")
	if err != nil || len(a) != 1 || a[0] != (Approved{Entry: seen["/etc/mod"], ApprovedNS: 2000, ApprovedBy: "carol"}) {
		t.Errorf("/etc/mod after Accept = %+v, %v", a, err)
	}
	if rows := acceptRows(t, path); len(rows) != 2 || rows[1].by != "carol" || *rows[1].new != seen["/etc/mod"] {
		t.Errorf("history = %+v", rows)
	}

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := ro.Accept(ctx, nil, "mallory", 3000); err == nil {
		t.Error("Accept on a read-only handle succeeded")
	}
}

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

// Drift that changes nothing Diff cares about (only ctime here) is refreshed into the baseline
// without being called an accepted change and without a history row.
func TestAcceptRefreshed(t *testing.T) {
	db, path := openTest(t)
	e := testEntry("/etc/touched", 1)
	later := e
	later.CtimeNS += 1e9
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
			return err
		}
		return tx.PutState(ctx, &later, true, 5)
	})
	res, err := db.Accept(context.Background(), nil, "tester", 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Approved) != 0 || !slices.Equal(res.Refreshed, []string{"/etc/touched"}) {
		t.Errorf("approved %v, refreshed %v", res.Approved, res.Refreshed)
	}
	if rows := acceptRows(t, path); len(rows) != 0 {
		t.Errorf("%d history rows for a refresh", len(rows))
	}
	got, err := db.BaselineEntries(context.Background(), "/etc/touched")
	if err != nil || len(got) != 1 || got[0].CtimeNS != later.CtimeNS || got[0].ApprovedBy != "tester" {
		t.Errorf("baseline after refresh: %+v, %v", got, err)
	}
	if states, _ := db.States(context.Background()); len(states) != 0 {
		t.Errorf("state not cleared: %v", states)
	}
}
