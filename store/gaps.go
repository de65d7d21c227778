package store

import (
	"context"
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

// CloseGaps closes every open gap that started at or before the reconcile run's start (startedNS)
// at endNS, when the run ended, naming the run that closed them.
func (t *Tx) CloseGaps(ctx context.Context, startedNS, endNS, run int64) error {
	return t.exec(ctx, "UPDATE gaps SET end_ns = ?, reconcile_run = ? WHERE end_ns = 0 AND start_ns <= ?", endNS, run, startedNS)
}

// Gaps returns the gaps that overlap [fromNS, toNS) (toNS 0: up to now), oldest first.
func (db *DB) Gaps(ctx context.Context, fromNS, toNS int64) ([]Gap, error) {
	q := "SELECT id, start_ns, end_ns, reason, detail, coalesce(reconcile_run, 0) FROM gaps WHERE (end_ns = 0 OR end_ns >= ?)"
	args := []any{fromNS}
	if toNS != 0 {
		q += " AND start_ns < ?"
		args = append(args, toNS)
	}
	rows, err := db.r.QueryContext(ctx, q+" ORDER BY start_ns", args...)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer rows.Close()
	var out []Gap
	for rows.Next() {
		var g Gap
		if err := rows.Scan(&g.ID, &g.StartNS, &g.EndNS, &g.Reason, &g.Detail, &g.ReconcileRun); err != nil {
			return nil, db.wrap(err)
		}
		out = append(out, g)
	}
	return out, db.wrap(rows.Err())
}
