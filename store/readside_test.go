package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/proc"
)

// queryPlan returns SQLite's plan for q, one line per step.
func queryPlan(t *testing.T, db *DB, q HistoryQuery) string {
	t.Helper()
	sqlq, args, err := historySQL(q)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+sqlq, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// `history --since` (alone, and with an actor filter) looks the window up in history_time or the
// actor's index instead of reading every row.
func TestHistorySinceUsesIndex(t *testing.T) {
	db, _ := openTest(t)
	for _, c := range []struct {
		name string
		q    HistoryQuery
		want []string
	}{
		{"--since", HistoryQuery{SinceNS: 5, UID: -1}, []string{"USING COVERING INDEX history_time", "USING INTEGER PRIMARY KEY (rowid>?)"}},
		{"--since --until", HistoryQuery{SinceNS: 5, UntilNS: 9, UID: -1}, []string{"USING COVERING INDEX history_time", "INDEX history_time (time_ns>? AND time_ns<?)"}},
		{"--since --pid", HistoryQuery{SinceNS: 5, PID: 7, UID: -1}, []string{"USING INDEX history_actor (actor_id=? AND rowid>?)", "INDEX actors_pid (pid=?)"}},
		{"--since --exe", HistoryQuery{SinceNS: 5, Exe: "/bin/sh", UID: -1}, []string{"USING INDEX history_actor (actor_id=? AND rowid>?)", "INDEX actors_exe (exe=?)"}},
	} {
		plan := queryPlan(t, db, c.q)
		for _, w := range c.want {
			if !strings.Contains(plan, w) {
				t.Errorf("%s: the plan does not say %q:\n%s", c.name, w, plan)
			}
		}
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "SCAN history") {
				t.Errorf("%s: the plan reads the whole history:\n%s", c.name, plan)
			}
		}
	}
}

// legacyHistory makes a database of schema 7 holding recs as a schema-7 tripline wrote them:
// entries and actor as JSON in the row, chained. It returns the chain's head.
func legacyHistory(t *testing.T, path string, recs []*Record) string {
	t.Helper()
	for _, name := range []string{"001_init.sql", "002_gaps.sql", "003_chain.sql", "004_approvals.sql", "005_read_time.sql", "006_actor_index.sql", "007_package.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		rawExec(t, path, string(body))
	}
	rawExec(t, path, fmt.Sprintf("PRAGMA user_version = 7; PRAGMA application_id = %d", applicationID))
	h := rawOpen(t, path, "")
	prev := ""
	js := func(v any) sql.NullString {
		if v == nil || reflect.ValueOf(v).IsNil() {
			return sql.NullString{}
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return sql.NullString{String: string(b), Valid: true}
	}
	for i, r := range recs {
		row := chainRow{ID: int64(i + 1), TimeNS: r.TimeNS, Source: string(r.Source), Path: r.Path, Location: r.Location, Kind: string(r.Kind),
			Flags: strings.Join(r.Flags, ","), Old: js(r.Old), New: js(r.New), Rule: r.Rule, Severity: r.Severity, Verdict: string(r.Verdict),
			Hits: js(r.Hits), Actor: js(r.Actor), By: r.By}
		if r.ReadNS != 0 {
			row.ReadNS = sql.NullInt64{Int64: r.ReadNS, Valid: true}
		}
		var err error
		if row.Hash, err = rowHash(prev, &row); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Exec(`INSERT INTO history(id, time_ns, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor, by, hash, read_ns)
			VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, row.ID, row.TimeNS, row.Source, row.Path, row.Location, row.Kind, row.Flags,
			row.Old, row.New, row.Rule, row.Severity, row.Verdict, row.Hits, row.Actor, row.By, row.Hash, row.ReadNS); err != nil {
			t.Fatal(err)
		}
		prev = row.Hash
	}
	return prev
}

// A database written at schema 7 (entries and actors as JSON in every row, expression indexes
// on the actor) is carried to schema 8 when a newer tripline opens it: each distinct actor goes
// to the actors table once, the rows read back exactly as they were written, their chain still
// verifies (and an edit of a moved actor still breaks it), and the actor filters return the same
// rows through the new indexes, including a row whose clock stepped back.
func TestCompactHistoryUpgradeFromSchema7(t *testing.T) {
	path := t.TempDir() + "/seven.db"
	base := time.Unix(1_700_000_000, 0).UnixNano()
	times := []int64{base, base + 10, base + 20, base + 15, base + 30} // row 4's clock stepped back
	var recs []*Record
	for i, ts := range times {
		a := &proc.Actor{Attribution: proc.AttrKernel, PID: int32(100 + i%2), Process: &proc.Process{PID: int32(100 + i%2), Exe: []string{"/usr/bin/chmod", "/usr/bin/cp"}[i%2],
			Args: []string{"chmod", "+x"}, UID: int32(i % 2), EUID: int32(i % 2), LoginUID: 1000}, Ancestors: []proc.Process{{PID: 1, Name: "init"}}}
		old := testEntry(fmt.Sprintf("/etc/f%d", i), i)
		cur := old
		cur.Mode = 0o755
		recs = append(recs, &Record{TimeNS: ts, Source: SourceEvent, Path: old.Path, Location: "etc", Kind: "modified",
			Flags: []string{"mode"}, Old: &old, New: &cur, Rule: "r", Severity: "high", Verdict: "alert", Hits: []string{"r"}, Actor: a, By: "root"})
	}
	recs[2].Actor = nil // a scan's row
	recs[2].Source = SourceScan
	head := legacyHistory(t, path, recs)

	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res := verify(t, db); !res.OK || res.Rows != 5 || res.Head != head {
		t.Fatalf("the chain after the upgrade: %+v, want ok, 5 rows, head %s", res, head)
	}
	var actors int
	if err := db.r.QueryRow("SELECT count(*) FROM actors").Scan(&actors); err != nil || actors != 2 {
		t.Errorf("%d actors stored (%v), want 2: one per distinct actor", actors, err)
	}
	rows, err := db.History(context.Background(), HistoryQuery{UID: -1})
	if err != nil || len(rows) != 5 {
		t.Fatalf("History: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		if !reflect.DeepEqual(r.Old, recs[i].Old) || !reflect.DeepEqual(r.New, recs[i].New) || !reflect.DeepEqual(r.Actor, recs[i].Actor) {
			t.Errorf("row %d reads back as old %+v new %+v actor %+v; written %+v %+v %+v", r.ID, r.Old, r.New, r.Actor, recs[i].Old, recs[i].New, recs[i].Actor)
		}
	}
	for _, c := range []struct {
		name  string
		q     HistoryQuery
		index string
		want  []int64
	}{
		{"--pid 101", HistoryQuery{PID: 101, UID: -1}, "actors_pid", []int64{2, 4}},
		{"--pid 100", HistoryQuery{PID: 100, UID: -1}, "actors_pid", []int64{1, 5}},
		{"--user 1", HistoryQuery{UID: 1}, "actors_uid", []int64{2, 4}},
		{"--user 0", HistoryQuery{UID: 0}, "actors_uid", []int64{1, 5}},
		{"--user 1000 (login uid)", HistoryQuery{UID: 1000}, "actors_loginuid", []int64{1, 2, 4, 5}},
		{"--exe", HistoryQuery{Exe: "/usr/bin/chmod", UID: -1}, "actors_exe", []int64{1, 5}},
		{"--since", HistoryQuery{SinceNS: base + 15, UID: -1}, "history_time", []int64{3, 4, 5}},
		{"--since after the step back", HistoryQuery{SinceNS: base + 16, UID: -1}, "history_time", []int64{3, 5}},
		{"--since --until", HistoryQuery{SinceNS: base + 10, UntilNS: base + 20, UID: -1}, "history_time", []int64{2, 4}},
		{"--since past the end", HistoryQuery{SinceNS: base + 31, UID: -1}, "history_time", nil},
		{"--since --pid", HistoryQuery{SinceNS: base + 15, PID: 101, UID: -1}, "actors_pid", []int64{4}},
	} {
		if plan := queryPlan(t, db, c.q); !strings.Contains(plan, "INDEX "+c.index) {
			t.Errorf("%s: the plan does not use %s:\n%s", c.name, c.index, plan)
		}
		rows, err := db.History(context.Background(), c.q)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, r := range rows {
			got = append(got, r.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: rows %v, want %v", c.name, got, c.want)
		}
	}
	// A new row by an actor recorded before the upgrade refers to the same actor.
	same := *recs[1].Actor
	rec := &Record{TimeNS: base + 40, Source: SourceEvent, Path: "/etc/f9", Location: "etc", Kind: "created", New: recs[1].New,
		Severity: "high", Verdict: "alert", Actor: &same, By: "root"}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, rec) })
	if err := db.r.QueryRow("SELECT count(*) FROM actors").Scan(&actors); err != nil || actors != 2 {
		t.Errorf("%d actors stored after a row by a known actor (%v), want 2", actors, err)
	}
	if res := verify(t, db); !res.OK || res.Rows != 6 || res.Head != rec.Hash {
		t.Fatalf("the chain after a new row: %+v", res)
	}
	if rows, err := db.History(context.Background(), HistoryQuery{PID: 101, UID: -1}); err != nil || len(rows) != 3 || rows[2].ID != rec.ID {
		t.Errorf("--pid 101 after a new row: %d rows, %v", len(rows), err)
	}
	// A moved actor is still covered by the chain, and its indexed copies by the check.
	rawExec(t, path, "UPDATE actors SET pid = 7 WHERE pid = 101")
	if res := verify(t, db); res.OK || res.BadRow != 2 || !strings.Contains(res.Problem, "indexed columns") {
		t.Errorf("after editing an actor's pid column: %+v; want row 2, indexed columns", res)
	}
	rawExec(t, path, "UPDATE actors SET pid = 101 WHERE pid = 7", `UPDATE actors SET json = replace(json, '"uid":1', '"uid":0') WHERE pid = 101`)
	if res := verify(t, db); res.OK || res.BadRow != 2 || !strings.Contains(res.Problem, "edited") {
		t.Errorf("after editing an actor's JSON: %+v; want row 2 edited", res)
	}
}

// pages returns the database's page_count and freelist_count, read by the writer.
func pages(t *testing.T, db *DB) (int64, int64) {
	t.Helper()
	var n, free int64
	if err := db.w.QueryRow("SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count)").Scan(&n, &free); err != nil {
		t.Fatal(err)
	}
	return n, free
}

func addRows(t *testing.T, db *DB, n int) {
	t.Helper()
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for i := 0; i < n; i++ {
			a := &proc.Actor{Attribution: proc.AttrKernel, PID: int32(i), Process: &proc.Process{PID: int32(i), Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", strings.Repeat("x", 200)}}}
			rec := &Record{TimeNS: int64(1000 + i), Source: SourceEvent, Path: fmt.Sprintf("/etc/f%d", i), Location: "etc", Kind: "modified",
				Flags: []string{"mode"}, Rule: "r", Severity: "high", Verdict: "alert", Actor: a, By: "root"}
			if err := tx.AddHistory(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
}

// Pruning gives the space back, on a new database (created with incremental auto-vacuum) and on
// one created before (switched over by a VACUUM at its first prune); the chain still verifies.
func TestPruneGivesSpaceBack(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("created-before=%v", old), func(t *testing.T) {
			path := t.TempDir() + "/tripline.db"
			if old {
				rawExec(t, path, "PRAGMA auto_vacuum = NONE", "CREATE TABLE x(a INTEGER)", "DROP TABLE x")
				for _, name := range []string{"001_init.sql", "002_gaps.sql", "003_chain.sql", "004_approvals.sql", "005_read_time.sql"} {
					body, err := migrationFS.ReadFile("migrations/" + name)
					if err != nil {
						t.Fatal(err)
					}
					rawExec(t, path, string(body))
				}
				rawExec(t, path, fmt.Sprintf("PRAGMA user_version = 5; PRAGMA application_id = %d", applicationID))
			}
			db, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var mode int
			if err := db.w.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{false: 2, true: 0}[old]; mode != want {
				t.Fatalf("auto_vacuum = %d before the prune, want %d", mode, want)
			}
			addRows(t, db, 3000)
			before, _ := pages(t, db)
			res, err := db.Prune(context.Background(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			after, free := pages(t, db)
			t.Logf("pruned %d rows: %d pages before, %d after, %d free", res.Rows, before, after, free)
			if res.Rows != 2900 || after*4 > before || free != 0 {
				t.Errorf("pruned %d rows: %d pages before, %d after with %d free; want a quarter or less and none free", res.Rows, before, after, free)
			}
			if err := db.w.QueryRow("PRAGMA auto_vacuum").Scan(&mode); err != nil || mode != 2 {
				t.Errorf("auto_vacuum = %d (%v) after the prune, want 2 (incremental)", mode, err)
			}
			if r := verify(t, db); !r.OK || r.Rows != 100 {
				t.Errorf("the chain after the prune: %+v", r)
			}
			// The next prune only truncates the free pages.
			addRows(t, db, 1000)
			if _, err := db.Prune(context.Background(), 0, 100); err != nil {
				t.Fatal(err)
			}
			if n, free := pages(t, db); n > after+after/2 || free != 0 {
				t.Errorf("after a second prune: %d pages, %d free; want about %d, none free", n, free, after)
			}
		})
	}
}

// EachHistoryStored yields the rows EachHistory does, with each actor as stored: read with its
// row or looked up when asked, one missing actor said as missing, and the window still looked up
// in history_time without a sort.
func TestEachHistoryStoredIsEachHistory(t *testing.T) {
	db, path := openTest(t)
	addRows(t, db, 3)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		shared := &proc.Actor{Attribution: proc.AttrKernel, PID: 77, Process: &proc.Process{PID: 77, Exe: "/usr/bin/install"}}
		for i, a := range []*proc.Actor{shared, nil, shared} {
			rec := &Record{TimeNS: int64(2000 + i), Source: SourceEvent, Path: fmt.Sprintf("/etc/g%d", i), Location: "etc", Kind: "created",
				Flags: []string{}, Severity: "low", Verdict: "alert", Actor: a, By: "root"}
			if err := tx.AddHistory(ctx, rec); err != nil {
				return err
			}
		}
		return nil
	})
	// An actor removed outside tripline (the first row's).
	rawExec(t, path, "PRAGMA foreign_keys = OFF", "DELETE FROM actors WHERE id = (SELECT actor_id FROM history ORDER BY id LIMIT 1)")
	ctx := context.Background()
	q := HistoryQuery{SinceNS: 1000, UID: -1}
	want, err := db.History(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 6 || want[0].Actor == nil || !strings.Contains(want[0].Actor.Why, "missing") {
		t.Fatalf("the rows to compare with: %+v", want)
	}
	for _, actorJSON := range []bool{true, false} {
		var got []HistoryRow
		ids := map[int64]bool{}
		err := db.EachHistoryStored(ctx, q, actorJSON, func(r HistoryRow) error {
			if r.Actor != nil {
				t.Errorf("row %d: Actor set", r.ID)
			}
			if (r.Stored.JSON != nil) != (actorJSON && r.ID != want[0].ID && r.Stored.ID != 0) {
				t.Errorf("actorJSON %v: row %d: JSON %q", actorJSON, r.ID, r.Stored.JSON)
			}
			ids[r.Stored.ID] = true
			r.Actor, r.Stored = r.Stored.Decode(), StoredActor{}
			got = append(got, r)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("actorJSON %v:\n got %+v\nwant %+v", actorJSON, got, want)
		}
		if len(ids) != 5 { // the first three, the shared one, none
			t.Errorf("actorJSON %v: actor ids %v", actorJSON, ids)
		}
		sqlq, args, err := historySQLCols(q, actorJSON)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlq, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		if !strings.Contains(all, "COVERING INDEX history_time") || strings.Contains(all, "TEMP B-TREE") {
			t.Errorf("actorJSON %v: plan\n%s", actorJSON, all)
		}
	}
}
