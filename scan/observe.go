package scan

import (
	"context"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// Observation is one path observed outside a full scan: by the watcher, after a kernel event.
type Observation struct {
	Path   string
	Cur    *baseline.Entry // nil: the path does not exist now
	Source string          // "event"
	TimeNS int64
	By     string
	// Actor is recorded in the history as it is (JSON): the process that made the change, as
	// far as it is known; nil when nobody is.
	Actor any
	// PolicyActor is what the policy needs of the actor (trusted writers, exceptions); nil when
	// nobody is known.
	PolicyActor *policy.Actor
}

// Observe compares an observation with the last one of its path (the drift row, else the
// baseline) inside tx: it records a change in the history, updates the drift row, and returns
// the change judged by the policy. changed is false when nothing an investigator cares about
// changed; ok is false when no rule fired (the change is still recorded).
func Observe(ctx context.Context, tx *store.Tx, pol *policy.Policy, o Observation) (f policy.Finding, changed, ok bool, err error) {
	st, base, err := tx.Lookup(ctx, o.Path)
	if err != nil {
		return f, false, false, err
	}
	prev := base
	if st != nil {
		prev = nil
		if st.Present {
			prev = &st.Entry
		}
	}
	ch, changed := baseline.Diff(prev, o.Cur)
	if changed {
		f, ok, err = recordChange(ctx, tx, pol, ch, o.Source, 0, o.TimeNS, o.By, o.Actor, o.PolicyActor)
		if err != nil {
			return f, changed, ok, err
		}
	}
	switch {
	case o.Cur == nil && base == nil:
		if st != nil {
			err = tx.DeleteState(ctx, o.Path)
		}
	case o.Cur == nil:
		if st != nil && !st.Present {
			break // already recorded as deleted
		}
		err = tx.PutState(ctx, base, false, o.TimeNS)
	case base != nil && identical(base, o.Cur):
		if st != nil {
			err = tx.DeleteState(ctx, o.Path)
		}
	case st != nil && st.Present && identical(&st.Entry, o.Cur):
	default:
		err = tx.PutState(ctx, o.Cur, true, o.TimeNS)
	}
	return f, changed, ok, err
}

// locationOf returns the location that owns an entry: the one it was recorded under when the
// policy still has it, else whatever the policy matches now.
func locationOf(pol *policy.Policy, e *baseline.Entry) *policy.Location {
	if l := pol.Location(e.Location); l != nil {
		return l
	}
	return pol.Match(e.Path)
}

// recordChange appends a change to the history, judged by the policy, and returns the judgement
// (ok false when no rule fired).
func recordChange(ctx context.Context, tx *store.Tx, pol *policy.Policy, ch baseline.Change, source string, runID, nowNS int64, by string, actor any, pa *policy.Actor) (policy.Finding, bool, error) {
	loc := locationOf(pol, ch.Entry())
	rec := &store.Record{TimeNS: nowNS, RunID: runID, Source: source, Path: ch.Path, Kind: string(ch.Kind),
		Flags: ch.Flags.Names(), Old: ch.Old, New: ch.New, Severity: policy.SevNone.String(), Verdict: "none", By: by, Actor: actor}
	if loc != nil {
		rec.Location = loc.ID
	}
	f, ok := pol.Evaluate(ch, loc, pa)
	if ok {
		rec.Rule, rec.Severity, rec.Verdict, rec.Hits = f.Rule(), f.Severity.String(), string(f.Verdict), f.Hits
	}
	if err := tx.AddHistory(ctx, rec); err != nil {
		return f, ok, err
	}
	f.HistoryID, f.HistoryHash = rec.ID, rec.Hash
	return f, ok, nil
}

// KeepContent stores the content of e (a hashed regular file of at most store.MaxContentFile
// bytes) unless it is stored already, so that history can show it and restore put it back. A file
// that changed since it was hashed is not stored: its change is an event or the next scan's
// finding, and its new content is kept then. It returns store.ErrContentFull when the store is
// full of contents the baseline needs: callers count it and say so.
func KeepContent(ctx context.Context, tx *store.Tx, root string, e *baseline.Entry, nowNS int64) error {
	if e == nil || e.Type != baseline.TypeFile || e.HashState != baseline.HashOK || e.Size > store.MaxContentFile {
		return nil
	}
	if tx.ContentFull() {
		return store.ErrContentFull
	}
	if ok, err := tx.HasContent(ctx, e.SHA256, nowNS); err != nil || ok {
		return err
	}
	data, err := baseline.ReadContent(root, e.Path, e, store.MaxContentFile)
	if err != nil {
		return nil
	}
	return tx.PutContent(ctx, e.SHA256, data, nowNS)
}
