// Package journal owns recording an observation: it compares what was seen of a path with what
// the store last knew of it (the drift row, else the baseline), appends the change to the history
// judged by the policy, brings the drift row up to date and keeps the file's content. The scan,
// the watcher's events, restore and accept all record through it, so a change is written one way
// whoever saw it. It runs inside the caller's store.Tx and prints nothing.
package journal

import (
	"context"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/pkgdb"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// Observation is one path as it was seen.
type Observation struct {
	Path   string
	Cur    *baseline.Entry // nil: the path does not exist now
	Source store.Source
	RunID  int64 // the scan run that saw it; 0 for an event
	TimeNS int64
	// ReadNS is when the kernel event that made the caller look was read; 0 when none did.
	ReadNS int64
	By     string
	// Actor is the process that made the change, as far as it is known; nil when nobody is
	// (a scan).
	Actor *proc.Actor
	// Packages, when set, is the package index Cur is verified against before it is judged
	// (unless Cur already carries its package, as a scan's entries do).
	Packages *pkgdb.Index
}

// verify sets o.Cur's package from o.Packages (and, for a change made by a package manager
// installing a package, from the package file it installs).
func (o *Observation) verify() {
	if o.Packages != nil && o.Cur != nil && o.Cur.Package == nil {
		o.Cur.Package = o.Packages.VerifyBy(o.Cur, pkgdb.ContentReader(o.Packages.Root()), o.Actor)
	}
}

// Known is what the store knew of a path before an observation.
type Known struct {
	State *store.State    // the drift row; nil when none (Present false: last seen deleted)
	Base  *baseline.Entry // the baseline entry; nil when none
}

// Last returns the last observation of the path: the drift row, else the baseline; nil when
// the path was last seen deleted or never seen.
func (k Known) Last() *baseline.Entry {
	if k.State != nil {
		if k.State.Present {
			return &k.State.Entry
		}
		return nil
	}
	return k.Base
}

// Entry is the outcome of recording one observation.
type Entry struct {
	Finding policy.Finding // the change judged by the policy, with its history row
	Changed bool           // something an investigator cares about changed: a history row was written
	Fired   bool           // a rule fired on the change
}

// Observe looks up what the store knows of o.Path inside tx and records o against it (see
// Record).
func Observe(ctx context.Context, tx *store.Tx, pol *policy.Policy, o Observation) (Entry, error) {
	st, base, err := tx.Lookup(ctx, o.Path)
	if err != nil {
		return Entry{}, err
	}
	return Record(ctx, tx, pol, Known{State: st, Base: base}, o)
}

// Record compares o with the last observation k holds: a change is appended to the history,
// judged by the policy (a change no rule fires on is recorded too), and the drift row is made to
// say what was seen, or removed when that is the baseline again.
func Record(ctx context.Context, tx *store.Tx, pol *policy.Policy, k Known, o Observation) (Entry, error) {
	o.verify()
	var out Entry
	if ch, changed := baseline.Diff(k.Last(), o.Cur); changed {
		out.Changed = true
		var err error
		if out.Finding, out.Fired, err = addChange(ctx, tx, pol, ch, o); err != nil {
			return out, err
		}
	}
	return out, settle(ctx, tx, o.Path, k, o.Cur, o.TimeNS)
}

// Judge is what Record would find, without the store: the change o makes against the last
// observation k holds, judged by the policy. The Finding has no history row. A daemon that cannot
// write its database judges with it and records later, through Record.
func Judge(pol *policy.Policy, k Known, o Observation) Entry {
	o.verify()
	ch, changed := baseline.Diff(k.Last(), o.Cur)
	if !changed {
		return Entry{}
	}
	f, fired := pol.Evaluate(ch, LocationOf(pol, ch.Entry()), o.Actor)
	return Entry{Finding: f, Changed: true, Fired: fired}
}

// settle makes the drift row of path say cur, or removes it when cur is the baseline (or the
// path is gone and never was in it). The drift table stays as small as the drift.
func settle(ctx context.Context, tx *store.Tx, path string, k Known, cur *baseline.Entry, nowNS int64) error {
	st, base := k.State, k.Base
	switch {
	case cur == nil && base == nil:
		if st != nil {
			return tx.DeleteState(ctx, path)
		}
	case cur == nil:
		if st != nil && !st.Present {
			return nil // already recorded as deleted
		}
		return tx.PutState(ctx, base, false, nowNS)
	case base != nil && identical(base, cur):
		if st != nil {
			return tx.DeleteState(ctx, path)
		}
	case st != nil && st.Present && identical(&st.Entry, cur):
	default:
		return tx.PutState(ctx, cur, true, nowNS)
	}
	return nil
}

// LocationOf returns the location that owns an entry: the one it was recorded under when the
// policy still has it, else whatever the policy matches now.
func LocationOf(pol *policy.Policy, e *baseline.Entry) *policy.Location {
	if l := pol.Location(e.Location); l != nil {
		return l
	}
	return pol.Match(e.Path)
}

// addChange appends a change to the history, judged by the policy, and returns the judgement
// (fired false when no rule fired).
func addChange(ctx context.Context, tx *store.Tx, pol *policy.Policy, ch baseline.Change, o Observation) (policy.Finding, bool, error) {
	loc := LocationOf(pol, ch.Entry())
	f, fired := pol.Evaluate(ch, loc, o.Actor)
	rec := recordOf(ch, loc, &f, fired, o)
	if err := tx.AddHistory(ctx, rec); err != nil {
		return f, fired, err
	}
	f.HistoryID, f.HistoryHash = rec.ID, rec.Hash
	return f, fired, nil
}

// Noted records a finding that no comparison of entries made (a mount over a location, which
// changes what is visible there without a file event): a history row that says what f says, with
// its actor. The drift row is not touched: the reconcile that follows observes what is visible
// now. f gets its history row.
func Noted(ctx context.Context, tx *store.Tx, f *policy.Finding, o Observation) error {
	rec := recordOf(f.Change, f.Location, f, true, o)
	if err := tx.AddHistory(ctx, rec); err != nil {
		return err
	}
	f.HistoryID, f.HistoryHash = rec.ID, rec.Hash
	return nil
}

// recordOf is the history row of change ch at loc, with the judgement f when a rule fired.
func recordOf(ch baseline.Change, loc *policy.Location, f *policy.Finding, fired bool, o Observation) *store.Record {
	rec := &store.Record{TimeNS: o.TimeNS, RunID: o.RunID, Source: o.Source, Path: ch.Path, Kind: ch.Kind,
		Flags: ch.Flags.Names(), Old: ch.Old, New: ch.New, Severity: policy.SevNone.String(), Verdict: policy.VerdictNone,
		By: o.By, Actor: o.Actor, ReadNS: o.ReadNS}
	if loc != nil {
		rec.Location = loc.ID
	}
	if fired {
		rec.Rule, rec.Severity, rec.Verdict, rec.Hits = f.Rule(), f.Severity.String(), f.Verdict, f.Hits
	}
	return rec
}

// Restored records tripline's own restore of a path to its baseline entry want: a history row
// (kind and verdict restored, by actor) from the last observation k to after, what the path is
// now. after becomes the last observation, so a watcher handling the restore's own events finds
// nothing new.
func Restored(ctx context.Context, tx *store.Tx, k Known, after *baseline.Entry, by string, actor *proc.Actor, nowNS int64) (*store.Record, error) {
	rec := &store.Record{TimeNS: nowNS, Source: store.SourceRestore, Path: after.Path, Location: k.Base.Location,
		Kind: baseline.Restored, Flags: []string{}, Old: k.Last(), New: after, Severity: policy.SevNone.String(),
		Verdict: policy.VerdictRestored, By: by, Actor: actor}
	if err := tx.AddHistory(ctx, rec); err != nil {
		return nil, err
	}
	var err error
	if _, changed := baseline.Diff(k.Base, after); !changed {
		err = tx.DeleteState(ctx, after.Path)
	} else {
		err = tx.PutState(ctx, after, true, nowNS)
	}
	return rec, err
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

// Identical reports whether two observations are the same in every field the store keeps, so no
// drift row is needed to remember the newer one. A directory's times, size and link count move
// whenever a child comes or goes and mean nothing (baseline.Diff ignores them too), so they do not
// make a directory drift.
func identical(a, b *baseline.Entry) bool {
	if a.Type == baseline.TypeDir && b.Type == baseline.TypeDir {
		return a.Inode == b.Inode && a.Dev == b.Dev && a.Mode == b.Mode && a.UID == b.UID &&
			a.GID == b.GID && a.Location == b.Location
	}
	return a.SameInode(b) && a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID &&
		a.Target == b.Target && a.SHA256 == b.SHA256 && a.HashState == b.HashState &&
		a.Location == b.Location && a.Nlink == b.Nlink && a.BtimeNS == b.BtimeNS
}
