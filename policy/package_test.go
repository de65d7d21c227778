package policy_test

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

func owned(e *baseline.Entry, state baseline.PackageState) *baseline.Entry {
	return with(e, func(e *baseline.Entry) {
		e.Package = &baseline.Package{Name: "cron", Version: "3.0pl1-162", Type: "deb", State: state, Detail: "md5 aaa, cron 3.0pl1-162 recorded bbb"}
	})
}

func unowned(e *baseline.Entry) *baseline.Entry {
	return with(e, func(e *baseline.Entry) { e.Package = &baseline.Package{State: baseline.PkgUnowned} })
}

func TestEvaluatePresent(t *testing.T) {
	pol := policy.Default()
	for _, c := range []struct {
		name, loc string
		e         *baseline.Entry
		rule      string // "" : no finding
		sev       policy.Severity
		verdict   policy.Verdict
	}{
		{"modified in an executed location", "cron-periodic", owned(file("/etc/cron.daily/cron", 0o755), baseline.PkgModified), policy.RulePackageFileModified, policy.SevHigh, policy.VerdictAlert},
		{"modified in a config location", "crontab-system", owned(file("/etc/cron.d/x", 0o644), baseline.PkgModified), policy.RulePackageFileModified, policy.SevMedium, policy.VerdictAlert},
		{"conffile edited", "crontab-system", owned(file("/etc/cron.d/x", 0o644), baseline.PkgConffileModified), policy.RuleConffileModified, policy.SevInfo, policy.VerdictRecorded},
		{"verified", "cron-periodic", owned(file("/etc/cron.daily/cron", 0o755), baseline.PkgVerified), "", 0, ""},
		{"no digest", "cron-periodic", owned(file("/etc/cron.daily/cron", 0o755), baseline.PkgNoDigest), "", 0, ""},
		{"unowned executable, executed", "cron-periodic", unowned(file("/etc/cron.daily/evil", 0o755)), policy.RuleUnownedExecutable, policy.SevMedium, policy.VerdictAlert},
		{"unowned, not executable", "cron-periodic", unowned(file("/etc/cron.daily/evil", 0o644)), "", 0, ""},
		{"unowned executable, config location", "crontab-system", unowned(file("/etc/cron.d/x", 0o755)), "", 0, ""},
		{"no package database", "cron-periodic", file("/etc/cron.daily/evil", 0o755), "", 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, ok := pol.EvaluatePresent(c.e, pol.Location(c.loc))
			if c.rule == "" {
				if ok {
					t.Fatalf("fired %s", f.Rule())
				}
				return
			}
			if !ok || f.Rule() != c.rule || f.Severity != c.sev || f.Verdict != c.verdict || f.Change.Kind != baseline.Present {
				t.Fatalf("got %v %+v, want %s %s %s", ok, f, c.rule, c.sev, c.verdict)
			}
		})
	}
}

// A change that matches its package is trusted with the package named when a package manager
// made it; the same content written by a shell keeps its alert, with the match noted.
func TestEvaluatePackageMatch(t *testing.T) {
	pol := policy.Default()
	loc := pol.Location("cron-periodic")
	old := file("/etc/cron.daily/cron", 0o755)
	cur := owned(with(old, content(shaB)), baseline.PkgVerified)
	ch, _ := baseline.Diff(old, cur)
	dpkg := known(proc.Process{Exe: "/usr/bin/dpkg", Args: []string{"dpkg", "-i", "cron.deb"}})
	f, _ := pol.Evaluate(ch, loc, dpkg)
	if f.Verdict != policy.VerdictTrusted || !strings.HasPrefix(f.Why, "matches cron 3.0pl1-162 (trusted writer /usr/bin/dpkg") {
		t.Errorf("dpkg: %s %q", f.Verdict, f.Why)
	}
	// The daemon splits a finding per process (Regroup): each part is judged as Evaluate does,
	// package note included.
	g := pol.Regroup(f, f.Hits, dpkg)
	if g.Verdict != policy.VerdictTrusted || !strings.HasPrefix(g.Why, "matches cron 3.0pl1-162 (trusted writer /usr/bin/dpkg") {
		t.Errorf("dpkg, regrouped: %s %q", g.Verdict, g.Why)
	}
	f, _ = pol.Evaluate(ch, loc, known(proc.Process{Exe: "/usr/bin/cp"}))
	if f.Verdict != policy.VerdictAlert || !strings.Contains(f.Why, "content matches cron 3.0pl1-162") {
		t.Errorf("cp: %s %q", f.Verdict, f.Why)
	}
	// A change that leaves the file unlike its package adds package-file-modified, high here.
	bad := owned(with(old, content(shaC)), baseline.PkgModified)
	ch, _ = baseline.Diff(old, bad)
	f, _ = pol.Evaluate(ch, loc, nil)
	if f.Rule() != policy.RulePackageFileModified || f.Severity != policy.SevHigh || len(f.Hits) != 2 {
		t.Errorf("modified: %+v", f.Hits)
	}
	f, _ = pol.Evaluate(ch, loc, dpkg)
	if f.Verdict != policy.VerdictTrusted || !strings.Contains(f.Why, "does not match cron 3.0pl1-162 (modified)") {
		t.Errorf("dpkg, modified: %s %q", f.Verdict, f.Why)
	}
}
