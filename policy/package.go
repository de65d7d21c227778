package policy

import (
	"fmt"

	"github.com/tripline/tripline/baseline"
)

// packageHits adds the package rules' hits for an entry whose package the scan or the daemon
// looked up (e.Package; nil when no package database was read):
//   - package-file-modified: a package's file whose content, mode or target differs from what
//     the installed version recorded;
//   - conffile-modified: a configuration file edited since it was installed (info);
//   - unowned-executable: an executable in an executed location that no package owns.
func packageHits(e *baseline.Entry, loc *Location, add func(rule, reason string)) {
	pkg := e.Package
	if pkg == nil {
		return
	}
	switch pkg.State {
	case baseline.PkgModified:
		add(RulePackageFileModified, fmt.Sprintf("differs from %s (%s): %s", pkg, baseline.QuoteLine(pkg.Type), baseline.QuoteLine(pkg.Detail)))
	case baseline.PkgConffileModified:
		add(RuleConffileModified, fmt.Sprintf("configuration file of %s edited: %s", pkg, baseline.QuoteLine(pkg.Detail)))
	case baseline.PkgUnowned:
		if e.Executable() && loc.Use == Executed {
			add(RuleUnownedExecutable, fmt.Sprintf("executable (mode %s) that no installed package owns, in a location whose files are executed", baseline.ModeString(e.Mode)))
		}
	}
}

// EvaluatePresent judges what an entry is, without a change: the package rules on its package
// state. A scan calls it for every path, the first scan included, so that a file altered before
// tripline's first run is reported and not approved. It returns false when no rule fires.
// Exceptions apply; trusted writers do not (there is no writer).
func (p *Policy) EvaluatePresent(e *baseline.Entry, loc *Location) (Finding, bool) {
	if loc == nil || e.Package == nil {
		return Finding{}, false
	}
	var hits []Hit
	packageHits(e, loc, func(rule, reason string) {
		if s := p.severity(rule, loc); s != SevNone {
			hits = append(hits, Hit{Rule: rule, Severity: s, Reason: reason})
		}
	})
	if len(hits) == 0 {
		return Finding{}, false
	}
	c := baseline.Change{Path: e.Path, Kind: baseline.Present, New: e}
	f := Finding{Change: c, Location: loc, Hits: hits, Severity: hits[0].Severity, Verdict: VerdictAlert}
	p.judge(&f, nil)
	if f.Verdict == VerdictAlert && f.Severity <= SevInfo {
		f.Verdict = VerdictRecorded
	}
	return f, true
}

// notePackage says in Why what the package database said of a change's result: a trusted
// writer's change that matches the package (digest and mode) is "matches PKG VERSION"; the same
// content written by anyone else keeps its verdict, with the match noted; a trusted writer's
// change that does not match says so.
func notePackage(f *Finding) {
	e := f.Change.New
	if e == nil || e.Package == nil || !e.Package.Owned() {
		return
	}
	pkg := e.Package
	switch {
	case f.Verdict == VerdictTrusted && pkg.State == baseline.PkgVerified:
		f.Why = "matches " + pkg.String() + " (" + f.Why + ")"
	case f.Verdict == VerdictTrusted && pkg.State == baseline.PkgNoDigest:
		f.Why += "; " + pkg.String() + " records nothing to compare with"
	case f.Verdict == VerdictTrusted:
		f.Why += "; does not match " + pkg.String() + " (" + string(pkg.State) + ")"
	case pkg.State == baseline.PkgVerified:
		note := "content matches " + pkg.String() + ", but the writer is not a trusted package manager"
		if f.Why != "" {
			note = f.Why + "; " + note
		}
		f.Why = note
	}
}
