package main

import (
	"context"
	"os"

	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/store"
)

// newProgress returns the progress line of a scan writing to e.stderr, or nil when stderr is not
// a terminal (nothing is shown then: no line in a log file or a pipe). The baseline's path count,
// when there is a baseline, is the expected total for the percent and the ETA.
func newProgress(ctx context.Context, e *env, db *store.DB) *report.Progress {
	f, ok := e.stderr.(*os.File)
	if !ok || !e.stderrTTY {
		return nil
	}
	var expected int64
	if n, err := db.Count(ctx); err == nil {
		expected = n.Baseline
	} else {
		e.log.Debug("progress without a total", "err", err)
	}
	return report.NewProgress(f, expected)
}
