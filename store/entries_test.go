package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// testEntry returns an entry with every field set, inode and dev above 1<<63 (negative as
// int64), and values that differ with i.
func testEntry(path string, i int) baseline.Entry {
	return baseline.Entry{
		Path:      path,
		Location:  fmt.Sprintf("loc-%d", i%3),
		Type:      baseline.TypeFile,
		Mode:      uint32(0o4755 - i%8),
		UID:       math.MaxUint32 - uint32(i),
		GID:       uint32(i),
		Size:      int64(i) * 1000,
		Inode:     1<<63 + uint64(i),
		Dev:       math.MaxUint64 - uint64(i),
		Nlink:     math.MaxUint32,
		MtimeNS:   -1 - int64(i), // before 1970
		CtimeNS:   math.MaxInt64 - int64(i),
		BtimeNS:   math.MinInt64 + int64(i),
		Target:    fmt.Sprintf("../target\n%d", i),
		SHA256:    strings.Repeat(fmt.Sprintf("%x", i%16), 64),
		HashState: baseline.HashOK,
	}
}

func commit(t testing.TB, db *DB, f func(ctx context.Context, tx *Tx) error) {
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

func collect(t testing.TB, db *DB) []Approved {
	t.Helper()
	it, err := db.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var out []Approved
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		out = append(out, a)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func paths(as []Approved) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Path)
	}
	return out
}

// Paths that sort differently in byte order, in a walk and in a collation.
var hardPaths = []string{
	"/a",
	"/a-b",
	"/a/b",
	"/a/b/c",
	"/a0",
	"/a\nb",
	"/\xff",
	"/a\xff/x",
	"/b c",
	"/" + strings.Repeat("long/", 799) + "end", // ~4000 bytes
	"/A",
	"/é",
}

func TestBaselineRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTest(t)
	if len(hardPaths[9]) < 3990 {
		t.Fatalf("long path has %d bytes", len(hardPaths[9]))
	}
	want := map[string]Approved{}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for i, p := range hardPaths {
			e := testEntry(p, i)
			if i == 3 {
				e.Type, e.SHA256, e.HashState = baseline.TypeSymlink, "", baseline.HashNotRegular
			}
			a := Approved{Entry: e, ApprovedNS: int64(1700000000000000000 + i), ApprovedBy: fmt.Sprintf("uid %d", i)}
			want[p] = a
			if err := tx.PutBaseline(ctx, &e, a.ApprovedNS, a.ApprovedBy); err != nil {
				return err
			}
		}
		return nil
	})

	sorted := slices.Clone(hardPaths)
	sort.Strings(sorted) // Go compares strings bytewise
	check := func(t *testing.T, got []Approved) {
		t.Helper()
		if !slices.Equal(paths(got), sorted) {
			t.Fatalf("order:\n%q\nwant byte order:\n%q", paths(got), sorted)
		}
		for _, a := range got {
			if a != want[a.Path] {
				t.Errorf("%q:\n got %+v\nwant %+v", a.Path, a, want[a.Path])
			}
		}
	}
	t.Run("Baseline", func(t *testing.T) { check(t, collect(t, db)) })
	t.Run("BaselineEntries all", func(t *testing.T) {
		got, err := db.BaselineEntries(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, got)
	})
	t.Run("BaselineEntries root prefix", func(t *testing.T) {
		got, err := db.BaselineEntries(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got)
	})
	t.Run("read-only handle", func(t *testing.T) {
		ro, err := OpenReadOnly(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		check(t, collect(t, ro))
	})
	t.Run("inode and dev bits", func(t *testing.T) {
		// Stored as the int64 with the same bits, so SQLite sees negative numbers.
		var inode, dev int64
		err := rawOpen(t, path, "mode=ro").QueryRow("SELECT inode, dev FROM baseline WHERE path = '/a'").Scan(&inode, &dev)
		if err != nil {
			t.Fatal(err)
		}
		if uint64(inode) != 1<<63 || uint64(dev) != math.MaxUint64 || inode >= 0 {
			t.Errorf("stored inode %d, dev %d", inode, dev)
		}
	})

	t.Run("BaselineEntries", func(t *testing.T) {
		tests := []struct {
			args []string
			want []string
		}{
			{[]string{"/a"}, []string{"/a"}},
			{[]string{"/a/b"}, []string{"/a/b"}},
			{[]string{"/a\nb"}, []string{"/a\nb"}},
			{[]string{"/\xff"}, []string{"/\xff"}},
			{[]string{hardPaths[9]}, []string{hardPaths[9]}},
			{[]string{"/nope"}, nil},
			{[]string{"/a/b/"}, []string{"/a/b/c"}},
			{[]string{"/a/"}, []string{"/a/b", "/a/b/c"}},
			{[]string{"/a\xff/"}, []string{"/a\xff/x"}},
			{[]string{"/long/"}, []string{hardPaths[9]}},
			{[]string{"/nope/"}, nil},
			{[]string{"/a0", "/a/", "/nope"}, []string{"/a0", "/a/b", "/a/b/c"}},
		}
		for _, tt := range tests {
			got, err := db.BaselineEntries(ctx, tt.args...)
			if err != nil {
				t.Fatalf("%q: %v", tt.args, err)
			}
			if !slices.Equal(paths(got), tt.want) {
				t.Errorf("BaselineEntries(%q) = %q, want %q", tt.args, paths(got), tt.want)
			}
			for _, a := range got {
				if a != want[a.Path] {
					t.Errorf("BaselineEntries(%q): %q = %+v, want %+v", tt.args, a.Path, a, want[a.Path])
				}
			}
		}
	})

	t.Run("replace and delete", func(t *testing.T) {
		e := testEntry("/a", 99)
		e.Type, e.Target, e.SHA256, e.HashState = baseline.TypeDir, "", "", baseline.HashNotRegular
		commit(t, db, func(ctx context.Context, tx *Tx) error {
			if err := tx.PutBaseline(ctx, &e, 5, "admin"); err != nil {
				return err
			}
			return tx.DeleteBaseline(ctx, "/a-b", "t", 1)
		})
		got, err := db.BaselineEntries(ctx, "/a", "/a-b")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != (Approved{Entry: e, ApprovedNS: 5, ApprovedBy: "admin"}) {
			t.Errorf("after replace and delete: %+v", got)
		}
		if c, err := db.Count(ctx); err != nil || c.Baseline != int64(len(hardPaths)-1) {
			t.Errorf("Count = %+v, %v; want %d baseline rows", c, err, len(hardPaths)-1)
		}
	})
}

// The iterator reads a snapshot: a commit during the iteration is not seen.
func TestBaselineSnapshot(t *testing.T) {
	t.Parallel()
	db, _ := openTest(t)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for i := 0; i < 100; i++ {
			e := testEntry(fmt.Sprintf("/etc/%03d", i), i)
			if err := tx.PutBaseline(ctx, &e, 1, "root"); err != nil {
				return err
			}
		}
		return nil
	})
	it, err := db.Baseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	first, ok := it.Next()
	if !ok || first.Path != "/etc/000" {
		t.Fatalf("first = %q, %v", first.Path, ok)
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		e := testEntry("/etc/050-new", 1)
		if err := tx.PutBaseline(ctx, &e, 1, "root"); err != nil {
			return err
		}
		return tx.DeleteBaseline(ctx, "/etc/099", "t", 1)
	})
	n := 1
	last := first.Path
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		if a.Path == "/etc/050-new" {
			t.Error("the iterator saw a row committed after it started")
		}
		last = a.Path
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 100 || last != "/etc/099" {
		t.Errorf("iterated %d rows ending at %q, want the 100 of the snapshot", n, last)
	}
	if got := len(collect(t, db)); got != 100 {
		t.Errorf("a new iterator sees %d rows, want 100 (one added, one deleted)", got)
	}
}

func TestStates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	if st, err := db.States(ctx); err != nil || len(st) != 0 {
		t.Fatalf("States of a new database = %v, %v", st, err)
	}
	want := map[string]State{}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for i, p := range hardPaths {
			s := State{Entry: testEntry(p, i), Present: i%2 == 0, SeenNS: int64(i) << 40}
			want[p] = s
			if err := tx.PutState(ctx, &s.Entry, s.Present, s.SeenNS); err != nil {
				return err
			}
		}
		return nil
	})
	got, err := db.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("States:\n got %+v\nwant %+v", got, want)
	}

	// Replace one (deleted now), forget another, forget one that has no state.
	deleted := State{Entry: testEntry("/a", 42), Present: false, SeenNS: 99}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		if err := tx.PutState(ctx, &deleted.Entry, false, 99); err != nil {
			return err
		}
		if err := tx.DeleteState(ctx, "/a/b"); err != nil {
			return err
		}
		return tx.DeleteState(ctx, "/never-seen")
	})
	want["/a"] = deleted
	delete(want, "/a/b")
	if got, err := db.States(ctx); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("States after replace and delete:\n got %+v, %v\nwant %+v", got, err, want)
	}
	if c, err := db.Count(ctx); err != nil || c.State != int64(len(want)) {
		t.Errorf("Count = %+v, %v; want %d state rows", c, err, len(want))
	}

	// ClearBaseline empties both tables.
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		e := testEntry("/x", 1)
		if err := tx.PutBaseline(ctx, &e, 1, "root"); err != nil {
			return err
		}
		return tx.ClearBaseline(ctx)
	})
	if c, err := db.Count(ctx); err != nil || c.State != 0 || c.Baseline != 0 {
		t.Errorf("Count after ClearBaseline = %+v, %v", c, err)
	}
}

type historyRow struct {
	runID                               sql.NullInt64
	source, path, location, kind, flags string
	old, new                            *baseline.Entry // from either encoding (rowEntries)
	hits, actor                         sql.NullString  // actor: the actor's JSON, from the actors table
	rule, severity, verdict, by         string
	timeNS                              int64
}

func historyRows(t testing.TB, path string) []historyRow {
	t.Helper()
	rows, err := rawOpen(t, path, "mode=ro").Query(`SELECT time_ns, run_id, source, path, location, kind, flags, old, new,
		old_entry, new_entry, rule, severity, verdict, hits, actors.json, by FROM history LEFT JOIN actors ON actors.id = actor_id
		WHERE source != 'approval' ORDER BY history.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []historyRow
	for rows.Next() {
		var r historyRow
		var old, cur, oldB, curB []byte
		if err := rows.Scan(&r.timeNS, &r.runID, &r.source, &r.path, &r.location, &r.kind, &r.flags, &old, &cur,
			&oldB, &curB, &r.rule, &r.severity, &r.verdict, &r.hits, &r.actor, &r.by); err != nil {
			t.Fatal(err)
		}
		if r.old, r.new, err = rowEntries(r.path, r.location, old, cur, oldB, curB); err != nil {
			t.Fatalf("row of %q: %v", r.path, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTest(t)
	old, cur := testEntry("/etc/crontab", 1), testEntry("/etc/crontab", 2)
	var run int64
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		var err error
		if run, err = tx.StartRun(ctx, "scan", "/", "root", 10); err != nil {
			return err
		}
		recs := []*Record{
			{TimeNS: 11, RunID: run, Source: "scan", Path: cur.Path, Location: "cron", Kind: "created", New: &cur,
				Flags: []string{"exec", "suid"}, Rule: "new-exec", Severity: "high", Verdict: "alert",
				Hits: []string{"a", "b"}, By: "root"},
			{TimeNS: 12, RunID: run, Source: "scan", Path: cur.Path, Location: "cron", Kind: "modified", Old: &old, New: &cur,
				Actor: &proc.Actor{Attribution: proc.AttrLive, PID: 42, Process: &proc.Process{PID: 42, Exe: "/usr/bin/vi"}}},
			{TimeNS: 13, Source: "event", Path: cur.Path, Kind: "deleted", Old: &old},
			{TimeNS: 14, Source: "event", Path: "/x\ny", Kind: "deleted", Old: (*baseline.Entry)(nil), New: nil},
		}
		for _, r := range recs {
			if err := tx.AddHistory(ctx, r); err != nil {
				return err
			}
		}
		return tx.FinishRun(ctx, run, 20, 3, 2, 1)
	})
	if c, err := db.Count(ctx); err != nil || c.History != 4 || c.Runs != 1 {
		t.Fatalf("Count = %+v, %v; want 4 history rows, 1 run", c, err)
	}
	rows := historyRows(t, path)
	if len(rows) != 4 {
		t.Fatalf("%d history rows", len(rows))
	}
	r := rows[0]
	if r.timeNS != 11 || r.runID != (sql.NullInt64{Int64: run, Valid: true}) || r.source != "scan" || r.kind != "created" ||
		r.location != "cron" || r.flags != "exec,suid" || r.rule != "new-exec" || r.severity != "high" ||
		r.verdict != "alert" || r.by != "root" || r.hits.String != `["a","b"]` || r.actor.Valid || r.old != nil {
		t.Errorf("row 1 = %+v", r)
	}
	if e := r.new; e == nil || *e != cur {
		t.Errorf("row 1 new = %+v, want %+v", e, cur)
	}
	r = rows[1]
	if e := r.old; e == nil || *e != old {
		t.Errorf("row 2 old = %+v, want %+v", e, old)
	}
	if e := r.new; e == nil || *e != cur {
		t.Errorf("row 2 new = %+v, want %+v", e, cur)
	}
	if r.actor.String != `{"attribution":"live","pid":42,"process":{"pid":42,"ppid":0,"name":"","exe":"/usr/bin/vi","start_ticks":0,"uid":0,"euid":0,"gid":0,"egid":0,"loginuid":0,"sessionid":0}}` || r.hits.Valid || r.flags != "" {
		t.Errorf("row 2 = %+v", r)
	}
	r = rows[2]
	if r.runID.Valid || r.new != nil || r.old == nil {
		t.Errorf("row 3 (no run, no new) = %+v", r)
	}
	r = rows[3]
	if r.old != nil || r.new != nil || r.path != "/x\ny" {
		t.Errorf("row 4 (typed nil entries) = %+v", r)
	}

	var finished, files, findings, errs int64
	var kind, by string
	err := rawOpen(t, path, "mode=ro").QueryRow("SELECT kind, by, finished_ns, files, findings, errors FROM runs WHERE id = ?", run).
		Scan(&kind, &by, &finished, &files, &findings, &errs)
	if err != nil || kind != "scan" || by != "root" || finished != 20 || files != 3 || findings != 2 || errs != 1 {
		t.Errorf("run = %s %s %d %d %d %d, %v", kind, by, finished, files, findings, errs, err)
	}

	// Foreign keys are on: a record of an unknown run is refused.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	err = tx.AddHistory(ctx, &Record{RunID: run + 100, Source: "scan", Path: "/p", Kind: "created"})
	checkMessage(t, err, path, "FOREIGN KEY")
}

// dropPackageColumns takes a database back from schema 7's package columns, for tests that
// rebuild an older schema.
const dropPackageColumns = `ALTER TABLE baseline DROP COLUMN pkg_name; ALTER TABLE baseline DROP COLUMN pkg_version;
ALTER TABLE baseline DROP COLUMN pkg_type; ALTER TABLE baseline DROP COLUMN pkg_state; ALTER TABLE baseline DROP COLUMN pkg_detail;
ALTER TABLE state DROP COLUMN pkg_name; ALTER TABLE state DROP COLUMN pkg_version; ALTER TABLE state DROP COLUMN pkg_type;
ALTER TABLE state DROP COLUMN pkg_state; ALTER TABLE state DROP COLUMN pkg_detail`

// An entry's package goes into the baseline and the drift rows and comes back; no package stays
// nil, and the seal does not depend on it.
func TestPackageRoundTrip(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	owned := testEntry("/etc/cron.daily/a", 1)
	owned.Package = &baseline.Package{Name: "a", Version: "1:2.0-1", Type: "deb", State: baseline.PkgModified, Detail: "md5 x, a 1:2.0-1 recorded y"}
	bare := testEntry("/etc/cron.daily/b", 2)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		if err := tx.PutBaseline(ctx, &owned, 1, "t"); err != nil {
			return err
		}
		if err := tx.PutBaseline(ctx, &bare, 1, "t"); err != nil {
			return err
		}
		return tx.PutState(ctx, &owned, true, 2)
	})
	got := collect(t, db)
	if len(got) != 2 || got[0].Package == nil || *got[0].Package != *owned.Package || got[1].Package != nil {
		t.Fatalf("baseline: %+v / %+v", got[0].Package, got[1].Package)
	}
	st, err := db.States(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p := st["/etc/cron.daily/a"].Package; p == nil || *p != *owned.Package {
		t.Errorf("state: %+v", p)
	}
	if chk, err := db.VerifyBaseline(ctx); err != nil || !chk.OK {
		t.Errorf("seal: %+v %v", chk, err)
	}
}
