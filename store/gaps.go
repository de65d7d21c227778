package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/tripline/tripline/baseline"
)

// Gap is a window in which changes may have been missed.
type Gap struct {
	ID           int64  `json:"id"`
	StartNS      int64  `json:"start_ns"`
	EndNS        int64  `json:"end_ns"` // 0 while open
	Reason       string `json:"reason"`
	Detail       string `json:"detail,omitempty"`
	ReconcileRun int64  `json:"reconcile_run,omitempty"` // the run that closed it; 0 while open
}

// OpenGap records the start of a gap and returns its id.
func (t *Tx) OpenGap(ctx context.Context, startNS int64, reason, detail string) (int64, error) {
	res, err := t.tx.ExecContext(ctx, "INSERT INTO gaps(start_ns, reason, detail) VALUES(?, ?, ?)", startNS, reason, detail)
	if err != nil {
		return 0, t.db.wrap(err)
	}
	id, err := res.LastInsertId()
	return id, t.db.wrap(err)
}

// CloseGaps closes every open gap that started at or before the reconcile run's start, naming the
// run that closed them.
func (t *Tx) CloseGaps(ctx context.Context, endNS, run int64) error {
	return t.exec(ctx, "UPDATE gaps SET end_ns = ?, reconcile_run = ? WHERE end_ns = 0 AND start_ns <= ?", endNS, run, endNS)
}

// Lookup returns what is known of a path: its drift row (nil when it has none; Present false when
// it was last seen deleted) and its baseline entry (nil when it has none).
func (t *Tx) Lookup(ctx context.Context, path string) (*State, *baseline.Entry, error) {
	var st *State
	var present int
	var seen int64
	e, err := scanEntry(t.queryRow(ctx, sqlStateOf, path), &present, &seen)
	switch {
	case err == nil:
		st = &State{Entry: e, Present: present != 0, SeenNS: seen}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, nil, t.db.wrap(err)
	}
	base, err := t.db.baselineEntry(ctx, t, path)
	return st, base, err
}
