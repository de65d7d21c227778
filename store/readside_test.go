package store

import (
	"context"
	"fmt"
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
		{"--since --pid", HistoryQuery{SinceNS: 5, PID: 7, UID: -1}, []string{"USING INDEX history_actor_pid"}},
		{"--since --exe", HistoryQuery{SinceNS: 5, Exe: "/bin/sh", UID: -1}, []string{"USING INDEX history_actor_exe"}},
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

// A database written at schema 5 gets the indexes of schema 7 when a newer tripline opens it; its
// rows (and their chain) are untouched, and the filters return the same rows through the indexes,
// including a row whose clock stepped back (recorded after a newer one).
func TestActorIndexesOnSchema5Database(t *testing.T) {
	path := t.TempDir() + "/five.db"
	for _, name := range []string{"001_init.sql", "002_gaps.sql", "003_chain.sql", "004_approvals.sql", "005_read_time.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		rawExec(t, path, string(body))
	}
	rawExec(t, path, fmt.Sprintf("PRAGMA user_version = 5; PRAGMA application_id = %d", applicationID))
	// Rows as a schema-5 tripline writes them, chain included: written through AddHistory of a
	// database opened here, then the version and the new indexes are taken back to schema 5.
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Unix(1_700_000_000, 0).UnixNano()
	times := []int64{base, base + 10, base + 20, base + 15, base + 30} // row 4's clock stepped back
	for i, ts := range times {
		a := &proc.Actor{Attribution: proc.AttrKernel, PID: int32(100 + i%2), Process: &proc.Process{PID: int32(100 + i%2), Exe: []string{"/usr/bin/chmod", "/usr/bin/cp"}[i%2], UID: int32(i % 2), EUID: int32(i % 2), LoginUID: 1000}}
		rec := &Record{TimeNS: ts, Source: SourceEvent, Path: fmt.Sprintf("/etc/f%d", i), Location: "etc", Kind: "modified",
			Flags: []string{"mode"}, Rule: "r", Severity: "high", Verdict: "alert", Actor: a, By: "root"}
		commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, rec) })
	}
	head := verify(t, db).Head
	db.Close()
	rawExec(t, path, "DROP INDEX history_actor_pid", "DROP INDEX history_actor_uid", "DROP INDEX history_actor_euid",
		"DROP INDEX history_actor_loginuid", "DROP INDEX history_actor_exe", "PRAGMA user_version = 5")

	db, err = Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res := verify(t, db); !res.OK || res.Rows != 5 || res.Head != head {
		t.Fatalf("the chain after the upgrade: %+v, want ok, 5 rows, head %s", res, head)
	}
	for _, c := range []struct {
		name  string
		q     HistoryQuery
		index string
		want  []int64
	}{
		{"--pid 101", HistoryQuery{PID: 101, UID: -1}, "history_actor_pid", []int64{2, 4}},
		{"--user 1", HistoryQuery{UID: 1}, "history_actor_uid", []int64{2, 4}},
		{"--user 1000 (login uid)", HistoryQuery{UID: 1000}, "history_actor_loginuid", []int64{1, 2, 3, 4, 5}},
		{"--exe", HistoryQuery{Exe: "/usr/bin/chmod", UID: -1}, "history_actor_exe", []int64{1, 3, 5}},
		{"--since", HistoryQuery{SinceNS: base + 15, UID: -1}, "history_time", []int64{3, 4, 5}},
		{"--since after the step back", HistoryQuery{SinceNS: base + 16, UID: -1}, "history_time", []int64{3, 5}},
		{"--since --until", HistoryQuery{SinceNS: base + 10, UntilNS: base + 20, UID: -1}, "history_time", []int64{2, 4}},
		{"--since past the end", HistoryQuery{SinceNS: base + 31, UID: -1}, "history_time", nil},
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
}
