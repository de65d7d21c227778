package journal

import (
	"context"
	"sort"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// AcceptResult says what an acceptance changed.
type AcceptResult struct {
	Approved []string // paths whose observed change is now the baseline
	Removed  []string // paths removed from the baseline (observed deleted)
	// Refreshed are paths whose drift carried no change (a new ctime or inode with the same
	// content and attributes): the baseline row is updated, no history row is written.
	Refreshed []string
	Unknown   []string // paths asked for that have no drift recorded
	DryRun    bool     // WouldAccept: nothing was changed
}

// Accept makes the last observed state the baseline, in one transaction and one run: for every
// path in paths, or for every path with drift (in path order) when paths is empty. Each
// acceptance is recorded in the history with who ran it.
func Accept(ctx context.Context, db *store.DB, paths []string, by string, nowNS int64) (AcceptResult, error) {
	return acceptAll(ctx, db, paths, by, nowNS, false)
}

// WouldAccept says what Accept would do, without doing it: the same transaction, under the same
// write lock, rolled back instead of committed. Its result has DryRun set.
func WouldAccept(ctx context.Context, db *store.DB, paths []string, by string, nowNS int64) (AcceptResult, error) {
	return acceptAll(ctx, db, paths, by, nowNS, true)
}

func acceptAll(ctx context.Context, db *store.DB, paths []string, by string, nowNS int64, dryRun bool) (AcceptResult, error) {
	res := AcceptResult{DryRun: dryRun}
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	// Read the drift under the write lock: a state a writer records meanwhile must not be
	// deleted without being accepted.
	states, err := tx.States(ctx)
	if err != nil {
		return res, err
	}
	var todo []store.State
	if len(paths) == 0 {
		for _, s := range states {
			todo = append(todo, s)
		}
		sort.Slice(todo, func(i, j int) bool { return todo[i].Path < todo[j].Path })
	} else {
		seen := map[string]bool{}
		for _, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			s, ok := states[p]
			if !ok {
				res.Unknown = append(res.Unknown, p)
				continue
			}
			todo = append(todo, s)
		}
	}
	run, err := tx.StartRun(ctx, store.SourceAccept, "", by, nowNS)
	if err != nil {
		return res, err
	}
	for i := range todo {
		if err := accept(ctx, tx, &todo[i], run, by, nowNS, &res); err != nil {
			return res, err
		}
	}
	if err := tx.FinishRun(ctx, run, nowNS, len(todo), 0, 0); err != nil {
		return res, err
	}
	if dryRun {
		return res, nil // the deferred rollback undoes it all
	}
	return res, tx.Commit()
}

// accept makes one drift row the baseline and records it, unless nothing Diff cares about
// changed (then the baseline row is only refreshed).
func accept(ctx context.Context, tx *store.Tx, s *store.State, run int64, by string, nowNS int64, res *AcceptResult) error {
	_, old, err := tx.Lookup(ctx, s.Path)
	if err != nil {
		return err
	}
	rec := &store.Record{TimeNS: nowNS, RunID: run, Source: store.SourceAccept, Path: s.Path, Location: s.Location,
		Kind: baseline.Accepted, Old: old, Severity: policy.SevNone.String(), Verdict: policy.VerdictAccepted, By: by}
	if s.Present {
		if err := tx.PutBaseline(ctx, &s.Entry, nowNS, by); err != nil {
			return err
		}
		if _, changed := baseline.Diff(old, &s.Entry); !changed {
			res.Refreshed = append(res.Refreshed, s.Path)
			return tx.DeleteState(ctx, s.Path)
		}
		rec.New = &s.Entry
		res.Approved = append(res.Approved, s.Path)
	} else {
		if err := tx.DeleteBaseline(ctx, s.Path, by, nowNS); err != nil {
			return err
		}
		res.Removed = append(res.Removed, s.Path)
	}
	if err := tx.AddHistory(ctx, rec); err != nil {
		return err
	}
	return tx.DeleteState(ctx, s.Path)
}
