package scan

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

// observe stats a logical path under the env's root and runs Observe in its own transaction.
func (e *env) observe(p string) (f policy.Finding, changed, ok bool) {
	e.t.Helper()
	var cur *baseline.Entry
	if st, err := baseline.Stat(e.root, p, 0); err == nil {
		st.Location = e.pol.Match(p).ID
		cur = &st
	}
	tx, err := e.db.Begin(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	defer tx.Rollback()
	out, err := journal.Observe(context.Background(), tx, e.pol, journal.Observation{Path: p, Cur: cur, Source: store.SourceEvent, TimeNS: 1, By: "test",
		Actor: &proc.Actor{Attribution: proc.AttrPIDOnly, PID: 7}})
	if err != nil {
		e.t.Fatal(err)
	}
	f, changed, ok = out.Finding, out.Changed, out.Fired
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return f, changed, ok
}

// Observe diffs against the last observation (drift, else baseline), records once per change,
// and keeps the drift table as small as the drift.
func TestObserveSequence(t *testing.T) {
	e := newEnv(t)
	e.scan()
	p := "/etc/cron.daily/new"
	full := filepath.Join(e.root, p)
	steps := []struct {
		name    string
		do      func()
		changed bool
		rule    string
		states  int
	}{
		{"created", func() { e.write("etc/cron.daily/new", "#!/bin/sh\n", 0o644) }, true, "file-created", 1},
		{"same again", func() {}, false, "", 1},
		{"armed", func() { os.Chmod(full, 0o755) }, true, "exec-bit-set", 1},
		{"deleted", func() { os.Remove(full) }, true, "file-deleted", 0},
		{"deleted again", func() {}, false, "", 0},
	}
	for _, s := range steps {
		s.do()
		f, changed, ok := e.observe(p)
		if changed != s.changed || (s.rule != "" && (!ok || f.Rule() != s.rule)) {
			t.Errorf("%s: changed=%v ok=%v rule=%q, want changed=%v rule=%q", s.name, changed, ok, f.Rule(), s.changed, s.rule)
		}
		states, _ := e.db.States(context.Background())
		if len(states) != s.states {
			t.Errorf("%s: %d drift rows, want %d", s.name, len(states), s.states)
		}
	}
	if got := e.historyRows(); got != 3 {
		t.Errorf("history rows %d, want 3", got)
	}
	// A baseline file changed and changed back: the drift row goes away again.
	b := "/etc/cron.daily/a"
	os.Chmod(filepath.Join(e.root, b), 0o755)
	if _, changed, _ := e.observe(b); !changed {
		t.Error("chmod of a baseline file not seen")
	}
	os.Chmod(filepath.Join(e.root, b), 0o644)
	if _, changed, _ := e.observe(b); !changed {
		t.Error("chmod back not seen")
	}
	// Its ctime moved, so it drifts from its baseline by its ctime only: one drift row (for the
	// hash to be reused), no finding.
	if states, _ := e.db.States(context.Background()); len(states) != 1 {
		t.Errorf("drift rows after the round trip: %d, want 1", len(states))
	}
	if res := e.scan(); res.Findings.Len() != 0 || res.Recorded != 0 {
		t.Errorf("a scan after the observed round trip: %d findings, %d recorded", res.Findings.Len(), res.Recorded)
	}
}
