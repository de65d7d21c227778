package policy

import (
	"testing"

	"github.com/tripline/tripline/baseline"
)

func TestMountCovers(t *testing.T) {
	pol := Default()
	for _, c := range []struct{ mnt, want string }{
		{"/etc/init.d/alpha", "sysv-init"},   // a file in a location
		{"/etc/cron.daily", "cron-periodic"}, // a location's directory
		{"/etc", ""},                         // a parent of many: the first in policy order
		{"/home/alice", ""},                  // a parent through a wildcard (~/.bashrc...)
		{"/srv/data", "-"},                   // nothing below it
		{"/etc/cron.daily/../../srv", "-"},   // cleaned first
		{"/", ""},                            // everything
	} {
		got := pol.MountCovers(c.mnt)
		switch c.want {
		case "-":
			if got != nil {
				t.Errorf("%s: %s, want none", c.mnt, got.ID)
			}
		case "":
			if got == nil {
				t.Errorf("%s: none, want a location", c.mnt)
			}
		default:
			if got == nil || got.ID != c.want {
				t.Errorf("%s: %v, want %s", c.mnt, got, c.want)
			}
		}
	}
}

func TestMountOverSeverity(t *testing.T) {
	pol := Default()
	loc := pol.Location("sysv-init")
	e := &baseline.Entry{Path: "/etc/init.d/alpha", Type: baseline.TypeFile, Mode: 0o755}
	f := pol.MountOver(baseline.Change{Path: e.Path, Kind: baseline.Modified, New: e}, loc, "bind mount over it", nil)
	if f.Rule() != RuleMountOver || f.Severity != SevHigh || f.Verdict != VerdictAlert {
		t.Errorf("%+v: want a high mount-over alert", f)
	}
	if RuleName(RuleMountOver) == RuleMountOver {
		t.Errorf("mount-over has no name")
	}
}
