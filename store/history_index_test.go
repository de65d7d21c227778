package store

import (
	"context"
	"strings"
	"testing"
)

// The actor filters of 'history' are answered from indexes (schema 8: the actors table's, then
// history_actor), not by decoding every row's actor: SQLite's plan for each query names the
// indexes, and never a full scan of history.
func TestHistoryActorFiltersUseIndex(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		q     HistoryQuery
		index []string
	}{
		{"--pid", HistoryQuery{PID: 4242, UID: -1}, []string{"history_actor", "actors_pid"}},
		{"--user", HistoryQuery{UID: 1000}, []string{"history_actor", "actors_uid", "actors_euid", "actors_loginuid"}},
		{"--exe", HistoryQuery{Exe: "/usr/bin/chmod", UID: -1}, []string{"history_actor", "actors_exe"}},
	} {
		sqlq, args, err := historySQL(c.q)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+sqlq, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
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
		for _, ix := range c.index {
			if !strings.Contains(all, "INDEX "+ix) {
				t.Errorf("%s: the plan does not use %s:\n%s", c.name, ix, all)
			}
		}
		for _, line := range plan {
			if strings.HasPrefix(line, "SCAN history") && !strings.Contains(line, "INDEX") {
				t.Errorf("%s: the plan scans the whole history:\n%s", c.name, all)
			}
		}
	}
}
