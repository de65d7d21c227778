package journal_test

import (
	"context"
	"os"
	"testing"

	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// Judge finds what Record finds, without writing: the same rule, severity and verdict; no change
// against an identical observation; and Record keeps the read time in the history row.
func TestJudgeAsRecord(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	root, full, db, base := baselinedJob(t, pol)
	const p = job
	if err := os.Chmod(full, 0o755); err != nil {
		t.Fatal(err)
	}
	o := journal.Observation{Path: p, Cur: stat(t, pol, root, p), Source: store.SourceEvent, TimeNS: 20, ReadNS: 10, By: "test"}

	if got := journal.Judge(pol, journal.Known{Base: base}, journal.Observation{Path: p, Cur: base}); got.Changed || got.Fired {
		t.Errorf("judged against itself: %+v, want no change", got)
	}
	judged := journal.Judge(pol, journal.Known{Base: base}, o)
	var recorded journal.Entry
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
		var err error
		recorded, err = journal.Observe(ctx, tx, pol, o)
		return err
	})
	if !judged.Changed || !judged.Fired || judged.Finding.Rule() != recorded.Finding.Rule() ||
		judged.Finding.Severity != recorded.Finding.Severity || judged.Finding.Verdict != recorded.Finding.Verdict || judged.Finding.HistoryID != 0 {
		t.Errorf("Judge %+v, Record %+v: want the same judgement, and no history row from Judge", judged.Finding, recorded.Finding)
	}
	rows, err := db.History(ctx, store.HistoryQuery{Path: p, UID: -1})
	if err != nil || len(rows) != 1 || rows[0].ReadNS != 10 || rows[0].TimeNS != 20 {
		t.Errorf("history %+v, %v; want one row read at 10, recorded at 20", rows, err)
	}
}
