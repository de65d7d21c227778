package sink

import (
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// FindingRecord carries what structured sinks need beside the message, and the message without
// its newline.
func TestFindingRecord(t *testing.T) {
	f := &policy.Finding{Change: baseline.Change{Path: "/etc/cron.daily/x", Kind: baseline.Modified},
		Location: &policy.Location{ID: "cron-periodic"}, Severity: policy.SevHigh, Verdict: policy.VerdictAlert,
		Hits: []policy.Hit{{Rule: "exec-bit-set", Severity: policy.SevHigh}}, HistoryID: 42}
	a := &proc.Actor{Attribution: proc.AttrKernel, PID: 7, Process: &proc.Process{PID: 7, Exe: "/usr/bin/chmod"}}
	r := FindingRecord(f, "event", a, []byte("{\"x\":1}\n"))
	if string(r.Message) != `{"x":1}` || r.Rule != "exec-bit-set" || r.Path != "/etc/cron.daily/x" || r.Location != "cron-periodic" ||
		r.Kind != "modified" || r.Verdict != "alert" || r.Source != "event" || r.PID != 7 || r.Exe != "/usr/bin/chmod" ||
		r.HistoryID != 42 || r.Severity != policy.SevHigh || r.Time.IsZero() {
		t.Errorf("%+v", r)
	}
	if r := FindingRecord(f, "reconcile", nil, nil); r.PID != 0 || r.Exe != "" || r.Source != "reconcile" {
		t.Errorf("without an actor: %+v", r)
	}
	if r := FindingRecord(f, "event", proc.Nobody(), nil); r.PID != 0 || r.Exe != "" {
		t.Errorf("nobody: %+v", r)
	}
}
