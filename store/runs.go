package store

import (
	"context"
)

// StartRun records the start of a run and returns its id.
func (t *Tx) StartRun(ctx context.Context, kind Source, root, by string, startedNS int64) (int64, error) {
	res, err := t.tx.ExecContext(ctx, "INSERT INTO runs(kind, started_ns, root, by) VALUES(?, ?, ?, ?)", string(kind), startedNS, root, by)
	if err != nil {
		return 0, t.db.wrap(err)
	}
	id, err := res.LastInsertId()
	return id, t.db.wrap(err)
}

// FinishRun records the end of a run.
func (t *Tx) FinishRun(ctx context.Context, id, finishedNS int64, files, findings, errs int) error {
	return t.exec(ctx, "UPDATE runs SET finished_ns = ?, files = ?, findings = ?, errors = ? WHERE id = ?", finishedNS, files, findings, errs, id)
}
