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

// The package of the file as it is now (of the file as it was, for a deletion) is carried.
func TestFindingRecordPackage(t *testing.T) {
	pkg := &baseline.Package{Name: "cron", Version: "3.0pl1-163", Type: "deb", State: baseline.PkgModified}
	for _, c := range []baseline.Change{
		{Path: "/etc/cron.daily/x", Kind: baseline.Modified, Old: &baseline.Entry{}, New: &baseline.Entry{Package: pkg}},
		{Path: "/etc/cron.daily/x", Kind: baseline.Deleted, Old: &baseline.Entry{Package: pkg}},
	} {
		f := &policy.Finding{Change: c, Severity: policy.SevHigh, Hits: []policy.Hit{{Rule: "package-file-modified", Severity: policy.SevHigh}}}
		r := FindingRecord(f, "event", nil, nil)
		if r.Package != "cron" || r.PackageVersion != "3.0pl1-163" || r.PackageType != "deb" || r.PackageState != "modified" {
			t.Errorf("%s: %+v", c.Kind, r)
		}
	}
	un := &policy.Finding{Change: baseline.Change{Path: "/etc/cron.daily/y", Kind: baseline.Created,
		New: &baseline.Entry{Package: &baseline.Package{State: baseline.PkgUnowned}}}, Hits: []policy.Hit{{Rule: "unowned-executable"}}}
	if r := FindingRecord(un, "event", nil, nil); r.Package != "" || r.PackageState != "unowned" {
		t.Errorf("unowned: %+v", r)
	}
	none := &policy.Finding{Change: baseline.Change{Path: "/etc/cron.daily/z", Kind: baseline.Created, New: &baseline.Entry{}},
		Hits: []policy.Hit{{Rule: "file-created"}}}
	if r := FindingRecord(none, "event", nil, nil); r.Package != "" || r.PackageState != "" {
		t.Errorf("no package database: %+v", r)
	}
}
