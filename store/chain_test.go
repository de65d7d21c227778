package store

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// chainRecords returns n varied records: with and without a run, NULL and present old/new/actor/
// hits, non-ASCII, newline and invalid-UTF-8 paths. run is used for every third record.
func chainRecords(n int, run int64, t0 int64) []*Record {
	pathsOf := []string{"/etc/crontab", "/etc/é/日本語", "/x\ny", "/etc/\xff\xfe", "/etc/cron.d/a b", "/" + strings.Repeat("d/", 100) + "f"}
	var out []*Record
	for i := 0; i < n; i++ {
		p := pathsOf[i%len(pathsOf)]
		r := &Record{TimeNS: t0 + int64(i)*100, Source: "event", Path: p, Location: fmt.Sprintf("loc-%d", i%2), Kind: "modified",
			Rule: "r", Severity: "high", Verdict: "alert", By: "root"}
		if i%3 == 0 {
			r.RunID = run
			r.Source = "scan"
		}
		if i%2 == 0 {
			old, cur := testEntry(p, i), testEntry(p, i+1)
			r.Old, r.New = &old, &cur
			r.Flags = []string{"exec", "content"}
			r.Hits = []string{"h\n1"}
		}
		if i%4 == 1 {
			r.Actor = &proc.Actor{Attribution: proc.AttrKernel, PID: int32(i), Process: &proc.Process{PID: int32(i), Exe: "/usr/bin/é"}}
		}
		if i%5 == 4 {
			r.Kind, r.New = baseline.Deleted, nil // NULL new
		}
		out = append(out, r)
	}
	return out
}

// chainFixture opens a database with n history rows written over several transactions, and
// returns the records (with the ID and Hash AddHistory set).
func chainFixture(t *testing.T, n int) (*DB, string, []*Record) {
	t.Helper()
	db, path := openTest(t)
	var run int64
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		var err error
		run, err = tx.StartRun(ctx, "scan", "/", "root", 1)
		return err
	})
	recs := chainRecords(n, run, 1000)
	for start := 0; start < n; start += 3 { // three rows per transaction
		commit(t, db, func(ctx context.Context, tx *Tx) error {
			for _, r := range recs[start:min(start+3, n)] {
				if err := tx.AddHistory(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return db, path, recs
}

func verify(t *testing.T, db *DB) ChainResult {
	t.Helper()
	res, err := db.VerifyChain(context.Background())
	if err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	return res
}

func execW(t *testing.T, db *DB, q string, args ...any) {
	t.Helper()
	if _, err := db.w.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func readChainRow(t *testing.T, db *DB, id int64) chainRow {
	t.Helper()
	var r chainRow
	if err := r.scan(db.w.QueryRow("SELECT "+chainCols+" FROM "+chainFrom+" WHERE history.id = ?", id)); err != nil {
		t.Fatalf("row %d: %v", id, err)
	}
	return r
}

func TestChainIntact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 20
	db, _, recs := chainFixture(t, n)
	seen := map[string]bool{}
	for i, r := range recs {
		if r.ID != int64(i+1) {
			t.Errorf("record %d: ID %d, want %d", i, r.ID, i+1)
		}
		if !hex64.MatchString(r.Hash) || seen[r.Hash] {
			t.Errorf("record %d: hash %q (not 64 hex, or repeated)", i, r.Hash)
		}
		seen[r.Hash] = true
	}
	res := verify(t, db)
	if !res.OK || res.Rows != n || res.HeadID != n || res.Head != recs[n-1].Hash || res.AnchorID != 0 || res.BadRow != 0 || res.Problem != "" {
		t.Fatalf("VerifyChain = %+v, want OK, %d rows, head %d %s", res, n, n, recs[n-1].Hash)
	}
	h, err := db.Head(ctx)
	if err != nil || h.Hash != res.Head || h.LastID != n || h.Rows != n {
		t.Errorf("Head = %+v, %v; want hash %s", h, err, res.Head)
	}
	// What AddHistory returned is what is stored, and History reads it back.
	rows, err := db.History(ctx, HistoryQuery{UID: -1})
	if err != nil || len(rows) != n {
		t.Fatalf("History: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		if r.ID != recs[i].ID || r.Hash != recs[i].Hash || r.Path != recs[i].Path {
			t.Errorf("history row %d = id %d hash %s path %q; AddHistory said id %d hash %s path %q",
				i, r.ID, r.Hash, r.Path, recs[i].ID, recs[i].Hash, recs[i].Path)
		}
	}
	// The stored hashes are what rowHash computes over the stored columns.
	prev := ""
	for id := int64(1); id <= n; id++ {
		r := readChainRow(t, db, id)
		h, err := rowHash(prev, &r)
		if err != nil || h != r.Hash {
			t.Errorf("row %d: rowHash = %s, %v; stored %s", id, h, err, r.Hash)
		}
		if (id-1)%3 == 0 && !r.RunID.Valid || (id-1)%3 != 0 && r.RunID.Valid {
			t.Errorf("row %d: run_id %+v", id, r.RunID)
		}
		prev = r.Hash
	}

	// A rolled-back transaction leaves no trace in the chain: the next row takes the same id.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lost := &Record{TimeNS: 1, Source: "event", Path: "/lost", Kind: "created", By: "root"}
	if err := tx.AddHistory(ctx, lost); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if lost.ID != n+1 {
		t.Errorf("rolled-back record: id %d", lost.ID)
	}
	kept := &Record{TimeNS: 2, Source: "event", Path: "/kept", Kind: "created", By: "root"}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, kept) })
	if kept.ID != n+1 || kept.Hash == lost.Hash {
		t.Errorf("after a rollback: id %d hash %s (rolled back: %d %s)", kept.ID, kept.Hash, lost.ID, lost.Hash)
	}
	if res := verify(t, db); !res.OK || res.Rows != n+1 || res.HeadID != n+1 || res.Head != kept.Hash {
		t.Errorf("after a rollback: %+v", res)
	}
}

// An empty history verifies, with no head.
func TestChainEmpty(t *testing.T) {
	t.Parallel()
	db, _ := openTest(t)
	if res := verify(t, db); !res.OK || res.Rows != 0 || res.HeadID != 0 || res.Head != "" {
		t.Errorf("empty: %+v", res)
	}
}

func TestChainEdited(t *testing.T) {
	t.Parallel()
	const n = 12
	// Row 7 (index 6) is in a run and has old, new, flags and hits but no actor; row 6 (index 5)
	// has an actor.
	edits := []struct {
		name, sql string
		id        int64
	}{
		{"path", "UPDATE history SET path = path || 'x' WHERE id = ?", 7},
		{"path same length", "UPDATE history SET path = '/etc/crontaB' WHERE id = ?", 7},
		{"verdict", "UPDATE history SET verdict = 'accepted' WHERE id = ?", 7},
		{"severity", "UPDATE history SET severity = 'none' WHERE id = ?", 7},
		{"actor to NULL", "UPDATE history SET actor_id = NULL WHERE id = ?", 6},
		{"actor to a value", "UPDATE history SET actor_id = (SELECT actor_id FROM history WHERE id = 6) WHERE id = ?", 7},
		{"actor's JSON edited", "UPDATE actors SET json = '{\"pid\":1}' WHERE id = (SELECT actor_id FROM history WHERE id = ?)", 6},
		{"actor's JSON to empty string", "UPDATE actors SET json = '' WHERE id = (SELECT actor_id FROM history WHERE id = ?)", 6},
		{"old to NULL", "UPDATE history SET old_entry = NULL WHERE id = ?", 7},
		{"old to empty blob", "UPDATE history SET old_entry = X'' WHERE id = ?", 7},
		{"old as JSON too", "UPDATE history SET old = '{\"path\":\"/etc/crontab\"}' WHERE id = ?", 7},
		{"new edited", "UPDATE history SET new_entry = zeroblob(length(new_entry)) WHERE id = ?", 7},
		{"new moved to old", "UPDATE history SET old_entry = new_entry, new_entry = old_entry WHERE id = ?", 7},
		{"time_ns", "UPDATE history SET time_ns = time_ns + 1 WHERE id = ?", 7},
		{"run_id", "UPDATE history SET run_id = NULL WHERE id = ?", 7},
		{"flags", "UPDATE history SET flags = '' WHERE id = ?", 7},
		{"hits", "UPDATE history SET hits = NULL WHERE id = ?", 7},
		{"location", "UPDATE history SET location = 'other' WHERE id = ?", 7},
		{"by", "UPDATE history SET by = 'alice' WHERE id = ?", 7},
		{"kind", "UPDATE history SET kind = 'created' WHERE id = ?", 7},
		{"source", "UPDATE history SET source = 'event' WHERE id = ?", 7},
		{"hash", "UPDATE history SET hash = '" + strings.Repeat("ab", 32) + "' WHERE id = ?", 7},
		{"hash upper case", "UPDATE history SET hash = upper(hash) WHERE id = ?", 7},
		{"first row", "UPDATE history SET path = '/other' WHERE id = ?", 1},
		{"last row", "UPDATE history SET path = '/other' WHERE id = ?", n},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			db, _, recs := chainFixture(t, n)
			id := e.id
			before := readChainRow(t, db, id)
			execW(t, db, e.sql, id)
			if after := readChainRow(t, db, id); reflect.DeepEqual(before, after) {
				t.Fatalf("%s did not change row %d", e.sql, id)
			}
			res := verify(t, db)
			if res.OK || res.BadRow != id || !strings.Contains(res.Problem, "edited") {
				t.Fatalf("VerifyChain after editing row %d: %+v; want BadRow %d, \"edited\"", id, res, id)
			}
			// The rows before it verified: the result names the last good row.
			wantHead := ""
			if id > 1 {
				wantHead = recs[id-2].Hash
			}
			if res.Rows != id || res.HeadID != id-1 || res.Head != wantHead {
				t.Errorf("result: %+v; want %d rows checked, last good row %d %s", res, id, id-1, wantHead)
			}
		})
	}
}

func TestChainDeleted(t *testing.T) {
	t.Parallel()
	const n = 10
	t.Run("middle row", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		execW(t, db, "DELETE FROM history WHERE id = 5")
		res := verify(t, db)
		if res.OK || res.BadRow != 5 || !strings.Contains(res.Problem, "missing (deleted)") ||
			!strings.Contains(res.Problem, "row 5 is missing") {
			t.Errorf("%+v; want BadRow 5, \"row 5 is missing (deleted)\"", res)
		}
		if res.HeadID != 4 {
			t.Errorf("last good row %d, want 4", res.HeadID)
		}
	})
	t.Run("three middle rows", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		execW(t, db, "DELETE FROM history WHERE id BETWEEN 4 AND 6")
		res := verify(t, db)
		if res.OK || res.BadRow != 4 || !strings.Contains(res.Problem, "rows 4 to 6 are missing (deleted)") {
			t.Errorf("%+v; want BadRow 4, \"rows 4 to 6 are missing (deleted)\"", res)
		}
	})
	t.Run("first rows", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		execW(t, db, "DELETE FROM history WHERE id <= 3")
		res := verify(t, db)
		if res.OK || !strings.Contains(res.Problem, "rows 1 to 3 are missing") {
			t.Errorf("%+v; want \"rows 1 to 3 are missing\"", res)
		}
	})
	t.Run("first row", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		execW(t, db, "DELETE FROM history WHERE id = 1")
		res := verify(t, db)
		if res.OK || !strings.Contains(res.Problem, "missing") {
			t.Errorf("%+v; want the deletion detected", res)
		}
	})
	t.Run("last row", func(t *testing.T) {
		t.Parallel()
		db, _, recs := chainFixture(t, n)
		execW(t, db, "DELETE FROM history WHERE id = ?", n)
		// A truncated tail is not detectable on the host: what is left is a valid chain. Only a
		// copy of the head kept elsewhere (ECS events, the export header) shows that row n is
		// gone: the head moved back to row n-1.
		res := verify(t, db)
		if !res.OK || res.HeadID != n-1 || res.Head != recs[n-2].Hash || res.Head == recs[n-1].Hash {
			t.Errorf("%+v; want OK with the head back at row %d", res, n-1)
		}
	})
	t.Run("every row", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		execW(t, db, "DELETE FROM history")
		// Likewise undetectable on the host without an anchor: an empty history is valid.
		if res := verify(t, db); !res.OK || res.Rows != 0 || res.HeadID != 0 {
			t.Errorf("%+v", res)
		}
	})
}

// Regression test (found in review, fixed): deleting the first rows is reported with BadRow set to the first row still present (2),
// while deleting rows in the middle reports the first missing row (chain.go, VerifyChain, the
// "rows 1 to %d are missing" case, which leaves res.BadRow = r.ID). Deleting row 1 alone also
// reads "rows 1 to 1 are missing: deleted" where the middle case says "row N is missing".
func TestChainDeletedFirstRowLikeMiddle(t *testing.T) {
	t.Parallel()
	db, _, _ := chainFixture(t, 5)
	execW(t, db, "DELETE FROM history WHERE id = 1")
	res := verify(t, db)
	if res.OK || res.BadRow != 1 || !strings.Contains(res.Problem, "row 1 is missing") {
		t.Errorf("%+v; want BadRow 1 (the missing row, as for a row deleted in the middle) and \"row 1 is missing\"", res)
	}
}

func TestChainReordered(t *testing.T) {
	t.Parallel()
	t.Run("contents swapped", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, 10)
		a, b := readChainRow(t, db, 4), readChainRow(t, db, 7)
		set := func(id int64, r chainRow) {
			execW(t, db, `UPDATE history SET time_ns=?, run_id=?, source=?, path=?, location=?, kind=?, flags=?, old=?, new=?,
				rule=?, severity=?, verdict=?, hits=?, actor_id=?, by=?, hash=?, old_entry=?, new_entry=? WHERE id = ?`,
				r.TimeNS, r.RunID, r.Source, r.Path, r.Location, r.Kind, r.Flags, r.Old, r.New, r.Rule, r.Severity, r.Verdict,
				r.Hits, r.ActorID, r.By, r.Hash, r.OldEntry, r.NewEntry, id)
		}
		set(4, b)
		set(7, a)
		res := verify(t, db)
		if res.OK || res.BadRow != 4 {
			t.Errorf("%+v; want BadRow 4", res)
		}
	})
	t.Run("ids swapped", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, 10)
		execW(t, db, "UPDATE history SET id = -1 WHERE id = 5")
		execW(t, db, "UPDATE history SET id = 5 WHERE id = 6")
		execW(t, db, "UPDATE history SET id = 6 WHERE id = -1")
		res := verify(t, db)
		if res.OK || res.BadRow != 5 {
			t.Errorf("%+v; want BadRow 5", res)
		}
	})
	t.Run("id changed", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, 10)
		execW(t, db, "UPDATE history SET id = 100 WHERE id = 10")
		res := verify(t, db)
		if res.OK || res.BadRow != 10 || !strings.Contains(res.Problem, "missing") {
			t.Errorf("%+v; want BadRow 10, missing", res)
		}
	})
	t.Run("row inserted", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, 10)
		// Make room at 5 by moving 5..10 up by one (from the top), then insert a copy of row 4.
		for id := int64(10); id >= 5; id-- {
			execW(t, db, "UPDATE history SET id = id + 1 WHERE id = ?", id)
		}
		execW(t, db, `INSERT INTO history(id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor_id, by, hash, read_ns, old_entry, new_entry)
			SELECT 5, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor_id, by, hash, read_ns, old_entry, new_entry FROM history WHERE id = 4`)
		res := verify(t, db)
		if res.OK || res.BadRow != 5 {
			t.Errorf("%+v; want BadRow 5", res)
		}
	})
}

// An edit with the row's hash recomputed moves the break to the next row; on the last row it is
// only detectable against a head kept off the host.
func TestChainEditedWithHash(t *testing.T) {
	t.Parallel()
	const n = 10
	rewrite := func(t *testing.T, db *DB, id int64) string {
		r := readChainRow(t, db, id)
		prev := readChainRow(t, db, id-1)
		r.Path = "/etc/innocent"
		r.Verdict = "accepted"
		h, err := rowHash(prev.Hash, &r)
		if err != nil {
			t.Fatal(err)
		}
		execW(t, db, "UPDATE history SET path = ?, verdict = ?, hash = ? WHERE id = ?", r.Path, r.Verdict, h, id)
		return h
	}
	t.Run("middle", func(t *testing.T) {
		t.Parallel()
		db, _, _ := chainFixture(t, n)
		h := rewrite(t, db, 6)
		res := verify(t, db)
		if res.OK || res.BadRow != 7 || !strings.Contains(res.Problem, "edited") || !strings.Contains(res.Problem, "row 6") {
			t.Errorf("%+v; want BadRow 7, edited, naming row 6", res)
		}
		if res.HeadID != 6 || res.Head != h {
			t.Errorf("last good row %d %s, want 6 %s", res.HeadID, res.Head, h)
		}
	})
	t.Run("last", func(t *testing.T) {
		t.Parallel()
		db, _, recs := chainFixture(t, n)
		h := rewrite(t, db, n)
		res := verify(t, db)
		// Undetectable here; the head differs from the one kept off the host.
		if !res.OK || res.HeadID != n || res.Head != h || res.Head == recs[n-1].Hash {
			t.Errorf("%+v; want OK with a new head %s (was %s)", res, h, recs[n-1].Hash)
		}
	})
}

func TestChainAnchorTampered(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, _ := chainFixture(t, 10)
	if _, err := db.Prune(ctx, 0, 5); err != nil {
		t.Fatal(err)
	}
	if res := verify(t, db); !res.OK || res.AnchorID != 5 {
		t.Fatalf("after prune: %+v", res)
	}
	t.Run("anchor hash", func(t *testing.T) {
		execW(t, db, "UPDATE meta SET value = ? WHERE key = ?", strings.Repeat("0", 64), metaAnchorHash)
		if res := verify(t, db); res.OK || res.BadRow != 6 {
			t.Errorf("%+v; want BadRow 6", res)
		}
	})
	t.Run("anchor removed", func(t *testing.T) {
		execW(t, db, "DELETE FROM meta WHERE key IN (?, ?)", metaAnchorHash, metaAnchorID)
		res := verify(t, db)
		if res.OK || !strings.Contains(res.Problem, "rows 1 to 5 are missing") {
			t.Errorf("%+v; want rows 1 to 5 missing", res)
		}
	})
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 10
	db, _, recs := chainFixture(t, n) // time_ns 1000, 1100, ..., 1900
	anchorHash := func() string {
		v, ok, err := db.Meta(ctx, metaAnchorHash)
		if err != nil || !ok {
			t.Fatalf("meta %s: %q %v %v", metaAnchorHash, v, ok, err)
		}
		return v
	}
	prune := func(before, keep int64) PruneResult {
		t.Helper()
		res, err := db.Prune(ctx, before, keep)
		if err != nil {
			t.Fatalf("Prune(%d, %d): %v", before, keep, err)
		}
		return res
	}
	check := func(what string, anchor, rows, headID int64, head string) {
		t.Helper()
		res := verify(t, db)
		if !res.OK || res.AnchorID != anchor || res.Rows != rows || res.HeadID != headID || res.Head != head {
			t.Errorf("%s: VerifyChain = %+v; want OK, anchor %d, %d rows, head %d %s", what, res, anchor, rows, headID, head)
		}
		h, err := db.Head(ctx)
		if err != nil || h.Rows != rows || h.LastID != headID || h.Hash != head {
			t.Errorf("%s: Head = %+v, %v", what, h, err)
		}
	}

	// Nothing to prune: no anchor.
	if res := prune(500, 0); res.Rows != 0 || res.AnchorID != 0 {
		t.Errorf("nothing older: %+v", res)
	}
	if res := prune(0, n); res.Rows != 0 || res.AnchorID != 0 {
		t.Errorf("keep all: %+v", res)
	}
	if _, ok, _ := db.Meta(ctx, metaAnchorID); ok {
		t.Error("an anchor was set by a prune that removed nothing")
	}

	// By age: rows before 1450 are 1..5 (1000..1400).
	res := prune(1450, 0)
	if res.Rows != 5 || res.AnchorID != 5 {
		t.Errorf("by age: %+v, want 5 rows, anchor 5", res)
	}
	if h := anchorHash(); h != recs[4].Hash {
		t.Errorf("anchor hash %s, want row 5's %s", h, recs[4].Hash)
	}
	check("by age", 5, 5, n, recs[n-1].Hash)

	// By rows: keep the newest 3 (8, 9, 10).
	res = prune(0, 3)
	if res.Rows != 2 || res.AnchorID != 7 {
		t.Errorf("by rows: %+v, want 2 rows, anchor 7", res)
	}
	check("by rows", 7, 3, n, recs[n-1].Hash)

	// Nothing more to do: the anchor is reported as it is.
	if res := prune(0, 3); res.Rows != 0 || res.AnchorID != 7 {
		t.Errorf("again: %+v", res)
	}
	if res := prune(1450, 0); res.Rows != 0 || res.AnchorID != 7 {
		t.Errorf("again by age: %+v", res)
	}

	// New rows chain from where the history is.
	more := chainRecords(4, 0, 5000)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, r := range more {
			if err := tx.AddHistory(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if more[0].ID != n+1 || more[3].ID != n+4 {
		t.Errorf("ids after prune: %d..%d", more[0].ID, more[3].ID)
	}
	check("rows added", 7, 7, n+4, more[3].Hash)

	// Both limits: the larger cutoff wins (age 1950 -> row 10; keep 2 -> row 12).
	res = prune(1950, 2)
	if res.Rows != 5 || res.AnchorID != 12 {
		t.Errorf("both: %+v, want 5 rows, anchor 12", res)
	}
	check("both", 12, 2, n+4, more[3].Hash)

	// Everything: the head is the anchor, and the next row continues after it.
	res = prune(math.MaxInt64, 0)
	if res.Rows != 2 || res.AnchorID != n+4 {
		t.Errorf("everything: %+v", res)
	}
	check("everything pruned", n+4, 0, n+4, more[3].Hash)
	if h := anchorHash(); h != more[3].Hash {
		t.Errorf("anchor hash %s, want %s", h, more[3].Hash)
	}
	last := &Record{TimeNS: 9000, Source: "event", Path: "/after", Kind: "created", By: "root"}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, last) })
	if last.ID != n+5 {
		t.Errorf("id after pruning everything: %d, want %d", last.ID, n+5)
	}
	check("after everything", n+4, 1, n+5, last.Hash)
}

// Prune removes a prefix of the chain: a row whose time is later than the cutoff but whose id is
// below a row that is older is removed too (the clock went back between them).
func TestPrunePrefixOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, ts := range []int64{100, 900, 200, 1000} {
			if err := tx.AddHistory(ctx, &Record{TimeNS: ts, Source: "event", Path: "/p", Kind: "modified", By: "root"}); err != nil {
				return err
			}
		}
		return nil
	})
	res, err := db.Prune(ctx, 300, 0)
	if err != nil || res.Rows != 3 || res.AnchorID != 3 {
		t.Errorf("Prune = %+v, %v; want rows 1..3 removed", res, err)
	}
	if r := verify(t, db); !r.OK || r.Rows != 1 {
		t.Errorf("%+v", r)
	}
}

// A schema-2 database with history is upgraded: every row gets its hash, in id order.
func TestChainBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := t.TempDir() + "/old.db"
	var stmts []string
	for _, name := range []string{"001_init.sql", "002_gaps.sql"} {
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		stmts = append(stmts, string(b))
	}
	stmts = append(stmts,
		"PRAGMA user_version = 2",
		fmt.Sprintf("PRAGMA application_id = %d", applicationID),
		"INSERT INTO runs(id, kind, started_ns, root, by) VALUES(1, 'scan', 1, '/', 'root')",
		`INSERT INTO history(id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor, by) VALUES
			(1, 10, 1, 'scan', '/etc/crontab', 'cron', 'created', 'exec', NULL, '{"path":"/etc/crontab"}', 'r', 'high', 'alert', '["a"]', NULL, 'root'),
			(2, 20, NULL, 'event', '/x'||char(10)||'y', 'cron', 'deleted', '', '{"path":"/x"}', NULL, '', 'info', 'log', NULL, '{"pid":1}', 'root'),
			(3, 30, NULL, 'event', '/é', '', 'modified', '', NULL, NULL, '', 'low', 'log', '', '', ''),
			(7, 40, 1, 'accept', '/etc/crontab', 'cron', 'accepted', '', NULL, NULL, '', 'none', 'accepted', NULL, NULL, 'alice')`,
	)
	rawExec(t, path, stmts...)

	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ver int
	if err := db.w.QueryRow("PRAGMA user_version").Scan(&ver); err != nil || ver != SchemaVersion() {
		t.Fatalf("user_version %d, %v", ver, err)
	}
	rows, err := db.w.Query("SELECT id, hash FROM history ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var h string
		if err := rows.Scan(&id, &h); err != nil {
			t.Fatal(err)
		}
		if !hex64.MatchString(h) {
			t.Errorf("row %d: hash %q", id, h)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if fmt.Sprint(ids) != "[1 2 3 7]" {
		t.Errorf("ids %v", ids)
	}
	// A gap in the ids of the legacy rows is part of the backfilled chain, not a deletion.
	res := verify(t, db)
	if !res.OK || res.Rows != 4 || res.HeadID != 7 {
		t.Errorf("VerifyChain = %+v", res)
	}
	r := &Record{TimeNS: 50, Source: "event", Path: "/new", Kind: "created", By: "root"}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, r) })
	if r.ID != 8 {
		t.Errorf("next id %d, want 8", r.ID)
	}
	if res := verify(t, db); !res.OK || res.Rows != 5 || res.Head != r.Hash {
		t.Errorf("after a new row: %+v", res)
	}
	// The legacy rows are still there, as they were.
	hist, err := db.History(ctx, HistoryQuery{UID: -1})
	if err != nil || len(hist) != 5 || hist[1].Path != "/x\ny" || hist[1].RunID != 0 || hist[0].RunID != 1 {
		t.Errorf("History = %+v, %v", hist, err)
	}

	// Reopening does not backfill again.
	db.Close()
	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	if res := verify(t, db2); !res.OK || res.Head != r.Hash {
		t.Errorf("reopened: %+v", res)
	}
}

func TestChainCorruptHead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, bad := range []string{"not hex at all", "abcd", strings.Repeat("zz", 32), strings.Repeat("ab", 33)} {
		t.Run(bad, func(t *testing.T) {
			t.Parallel()
			db, path, _ := chainFixture(t, 4)
			execW(t, db, "UPDATE history SET hash = ? WHERE id = 4", bad)
			tx, err := db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			err = tx.AddHistory(ctx, &Record{TimeNS: 1, Source: "event", Path: "/p", Kind: "created", By: "root"})
			checkMessage(t, err, path, "corrupt history")
			tx.Rollback()
			res := verify(t, db)
			if res.OK || res.BadRow != 4 {
				t.Errorf("VerifyChain = %+v; want BadRow 4", res)
			}
			if c, err := db.Count(ctx); err != nil || c.History != 4 {
				t.Errorf("Count = %+v, %v", c, err)
			}
		})
	}
	// A corrupt hash in the middle is reported at its row.
	db, _, _ := chainFixture(t, 4)
	execW(t, db, "UPDATE history SET hash = 'x' WHERE id = 2")
	if res := verify(t, db); res.OK || res.BadRow != 2 {
		t.Errorf("VerifyChain = %+v; want BadRow 2", res)
	}
}
