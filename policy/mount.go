package policy

import (
	"path"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// MountCovers returns the location a mount at logical path mnt changes what is visible of: the
// location of mnt itself (a file or a directory in one), else the first location, in policy
// order, with a target at or below mnt (a mount over /etc hides every location in it); nil when
// the mount touches none.
func (p *Policy) MountCovers(mnt string) *Location {
	mnt = path.Clean(mnt)
	if l := p.Match(mnt); l != nil {
		return l
	}
	segs := splitPath(mnt)
	for _, t := range p.Targets() {
		ts := splitPath(t.Path)
		if len(ts) < len(segs) {
			continue
		}
		covered := true
		for i, s := range segs {
			if ok, err := path.Match(ts[i], s); err != nil || !ok {
				covered = false
				break
			}
		}
		if covered {
			return p.Location(t.Location)
		}
	}
	return nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// MountOver judges a change of the mount table at a location: a mount, unmount or move that
// changes what is visible at c.Path without any file event (a bind mount over an init script
// swaps what runs at boot). It always fires the mount-over rule, at its configured severity
// (high by default); trusted writers and exceptions apply as to any finding. reason says what
// was mounted; actor may be nil.
func (p *Policy) MountOver(c baseline.Change, loc *Location, reason string, actor *proc.Actor) Finding {
	s := p.severity(RuleMountOver, loc)
	f := Finding{Change: c, Location: loc, Hits: []Hit{{Rule: RuleMountOver, Severity: s, Reason: reason}}, Severity: s, Verdict: VerdictAlert}
	p.judge(&f, actor)
	if f.Verdict == VerdictAlert && f.Severity <= SevInfo {
		f.Verdict = VerdictRecorded
	}
	return f
}
