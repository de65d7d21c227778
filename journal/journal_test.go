package journal_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// stat observes logical path p under root as the daemon does, or returns nil when it is gone.
// job is the one file of the journal's tests: a cron job, as its baseline has it (mode 0644).
const job = "/etc/cron.daily/job"

// baselinedJob makes a root with the job, a database, and the job's baseline entry in it.
func baselinedJob(t *testing.T, pol *policy.Policy) (root, full string, db *store.DB, base *baseline.Entry) {
	t.Helper()
	root = t.TempDir()
	db, _ = openTest(t)
	full = filepath.Join(root, job)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base = stat(t, pol, root, job)
	commit(t, db, func(ctx context.Context, tx *store.Tx) error { return tx.PutBaseline(ctx, base, 1, "test") })
	return root, full, db, base
}

func stat(t *testing.T, pol *policy.Policy, root, p string) *baseline.Entry {
	t.Helper()
	e, err := baseline.Stat(root, p, 0)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	e.Location = pol.Match(p).ID
	return &e
}

// One recorder for every observer: a change is a history row with its actor and the policy's
// judgement, the drift row follows what was seen, a return to the baseline removes it, and a
// restore is recorded as tripline's own.
func TestRecordAndRestore(t *testing.T) {
	ctx := context.Background()
	pol := policy.Default()
	root, full, db, _ := baselinedJob(t, pol)
	const p = job

	chmod := &proc.Actor{Attribution: proc.AttrKernel, PID: 7, Process: &proc.Process{PID: 7, Exe: "/usr/bin/chmod"}}
	observe := func(actor *proc.Actor) journal.Entry {
		t.Helper()
		var out journal.Entry
		commit(t, db, func(ctx context.Context, tx *store.Tx) error {
			var err error
			out, err = journal.Observe(ctx, tx, pol, journal.Observation{Path: p, Cur: stat(t, pol, root, p), Source: store.SourceEvent, TimeNS: 2, By: "test", Actor: actor})
			return err
		})
		return out
	}
	states := func() int {
		t.Helper()
		s, err := db.States(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}

	if out := observe(nil); out.Changed || out.Fired || states() != 0 {
		t.Fatalf("the baseline observed again: %+v, %d drift rows", out, states())
	}
	os.Chmod(full, 0o755)
	out := observe(chmod)
	if !out.Changed || !out.Fired || out.Finding.Rule() != policy.RuleExecBitSet || out.Finding.HistoryID == 0 || states() != 1 {
		t.Fatalf("chmod +x: %+v, %d drift rows", out, states())
	}
	if out := observe(chmod); out.Changed || states() != 1 {
		t.Errorf("the same state again: %+v, %d drift rows", out, states())
	}

	// Restored to the baseline's mode: one row, tripline's own, and no drift left.
	os.Chmod(full, 0o644)
	self := &proc.Actor{Attribution: proc.AttrSelf, PID: 99, Why: "tripline restore"}
	var rec *store.Record
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
		st, want, err := tx.Lookup(ctx, p)
		if err != nil {
			return err
		}
		rec, err = journal.Restored(ctx, tx, journal.Known{State: st, Base: want}, stat(t, pol, root, p), "alice", self, 3)
		return err
	})
	if states() != 0 {
		t.Errorf("%d drift rows after the restore, want 0", states())
	}
	rows, err := db.History(ctx, store.HistoryQuery{UID: -1})
	if err != nil || len(rows) != 2 {
		t.Fatalf("history %+v, %v; want 2 rows", rows, err)
	}
	ev, rs := rows[0], rows[1]
	if ev.Source != store.SourceEvent || ev.Kind != baseline.Modified || ev.Verdict != policy.VerdictAlert || ev.Rule != policy.RuleExecBitSet ||
		ev.Actor == nil || ev.Actor.Process == nil || ev.Actor.Process.Exe != "/usr/bin/chmod" {
		t.Errorf("event row %+v (actor %+v)", ev, ev.Actor)
	}
	if rs.ID != rec.ID || rs.Source != store.SourceRestore || rs.Kind != baseline.Restored || rs.Verdict != policy.VerdictRestored ||
		rs.By != "alice" || rs.Actor == nil || rs.Actor.Attribution != proc.AttrSelf || rs.Old == nil || rs.Old.Mode&0o111 == 0 || rs.New.Mode&0o111 != 0 {
		t.Errorf("restore row %+v (actor %+v)", rs, rs.Actor)
	}
	if out := observe(nil); out.Changed {
		t.Errorf("the restore's own change observed as new: %+v", out)
	}
}
