package journal_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/store"
)

func openTest(t *testing.T) (*store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tripline.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// rawOpen opens the database read-only with plain database/sql, for what the store does not read
// back (the runs table).
func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// testEntry returns a hashed regular file whose every field differs with i.
func testEntry(path string, i int) baseline.Entry {
	return baseline.Entry{Path: path, Location: fmt.Sprintf("loc-%d", i%3), Type: baseline.TypeFile, Mode: uint32(0o755 - i%8),
		UID: uint32(i), GID: uint32(i), Size: int64(i) * 1000, Inode: 1<<63 + uint64(i), Dev: 2049, Nlink: 1,
		MtimeNS: int64(i), CtimeNS: int64(i), BtimeNS: int64(i), SHA256: strings.Repeat(fmt.Sprintf("%x", i%16), 64), HashState: baseline.HashOK}
}

func commit(t *testing.T, db *store.DB, f func(ctx context.Context, tx *store.Tx) error) {
	t.Helper()
	ctx := context.Background()
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := f(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func pathsOf(as []store.Approved) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Path)
	}
	return out
}

// acceptFixture: /etc/mod is modified (state present), /etc/gone deleted (state absent),
// /etc/new created (state, no baseline), /etc/same has no drift.
func acceptFixture(t *testing.T) (db *store.DB, path string, base, seen map[string]baseline.Entry) {
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
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
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
	t.Helper()
	db, err := store.OpenReadOnly(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.History(context.Background(), store.HistoryQuery{UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		out = append(out, acceptRow{path: r.Path, runID: r.RunID, old: r.Old, new: r.New,
			by: r.By, source: string(r.Source), kind: string(r.Kind), timeNS: r.TimeNS})
		if r.Verdict != "accepted" || r.Severity != "none" || r.Actor != nil {
			t.Errorf("history row of %s: verdict %q, severity %q, actor %+v", r.Path, r.Verdict, r.Severity, r.Actor)
		}
	}
	return out
}

func ptr(e baseline.Entry) *baseline.Entry { return &e }

func TestAcceptAll(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path, base, seen := acceptFixture(t)
	res, err := journal.Accept(ctx, db, nil, "alice", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := journal.AcceptResult{Approved: []string{"/etc/mod", "/etc/new"}, Removed: []string{"/etc/gone"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Accept = %+v, want %+v", res, want)
	}
	got, err := db.BaselineEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantBase := []store.Approved{
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
	err = rawOpen(t, path).QueryRow("SELECT kind, by, files FROM runs WHERE id = ?", run).Scan(&kind, &by, &files)
	if err != nil || kind != "accept" || by != "alice" || files != 3 {
		t.Errorf("run %d = %q %q %d, %v", run, kind, by, files, err)
	}

	// Nothing left to accept.
	res, err = journal.Accept(ctx, db, nil, "alice", 2000)
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
	res, err := journal.Accept(ctx, db, []string{"/etc/gone", "/etc/unknown", "/etc/same", "/etc/gone"}, "bob", 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := journal.AcceptResult{Removed: []string{"/etc/gone"}, Unknown: []string{"/etc/unknown", "/etc/same"}}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Accept = %+v, want %+v", res, want)
	}
	got, err := db.BaselineEntries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pathsOf(got), []string{"/etc/mod", "/etc/same"}) || got[0].Entry != base["/etc/mod"] {
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

	res, err = journal.Accept(ctx, db, []string{"/etc/mod"}, "carol", 2000)
	if err != nil || !slices.Equal(res.Approved, []string{"/etc/mod"}) {
		t.Fatalf("Accept(/etc/mod) = %+v, %v", res, err)
	}
	a, err := db.BaselineEntries(ctx, "/etc/mod")
	if err != nil || len(a) != 1 || a[0] != (store.Approved{Entry: seen["/etc/mod"], ApprovedNS: 2000, ApprovedBy: "carol"}) {
		t.Errorf("/etc/mod after Accept = %+v, %v", a, err)
	}
	if rows := acceptRows(t, path); len(rows) != 2 || rows[1].by != "carol" || *rows[1].new != seen["/etc/mod"] {
		t.Errorf("history = %+v", rows)
	}

	ro, err := store.OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := journal.Accept(ctx, ro, nil, "mallory", 3000); err == nil {
		t.Error("Accept on a read-only handle succeeded")
	}
}

// Drift that changes nothing Diff cares about (only ctime here) is refreshed into the baseline
// without being called an accepted change and without a history row.
func TestAcceptRefreshed(t *testing.T) {
	db, path := openTest(t)
	e := testEntry("/etc/touched", 1)
	later := e
	later.CtimeNS += 1e9
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
			return err
		}
		return tx.PutState(ctx, &later, true, 5)
	})
	res, err := journal.Accept(context.Background(), db, nil, "tester", 9)
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
