package store

import (
	"context"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// accepted writes the rows journal.Accept writes when it accepts the drift of path (a present
// state): the baseline entry, the history row and no drift row. journal cannot be imported here;
// journal's own tests check that it writes exactly these.
func accepted(t testing.TB, db *DB, path, by string, nowNS int64) {
	t.Helper()
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		st, old, err := tx.Lookup(ctx, path)
		if err != nil {
			return err
		}
		if st == nil || !st.Present {
			t.Fatalf("%s has no present drift to accept", path)
		}
		run, err := tx.StartRun(ctx, SourceAccept, "", by, nowNS)
		if err != nil {
			return err
		}
		if err := tx.PutBaseline(ctx, &st.Entry, nowNS, by); err != nil {
			return err
		}
		rec := &Record{TimeNS: nowNS, RunID: run, Source: SourceAccept, Path: path, Location: st.Location, Kind: baseline.Accepted,
			Old: old, New: &st.Entry, Severity: policy.SevNone.String(), Verdict: policy.VerdictAccepted, By: by}
		if err := tx.AddHistory(ctx, rec); err != nil {
			return err
		}
		if err := tx.DeleteState(ctx, path); err != nil {
			return err
		}
		return tx.FinishRun(ctx, run, nowNS, 1, 0, 0)
	})
}
