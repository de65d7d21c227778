package policy

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// Rule ids. They are part of the output contract (rule.id in ECS): never rename one.
const (
	RuleExecBitSet        = "exec-bit-set"
	RuleExecutableCreated = "executable-created"
	RuleSetuidSet         = "setuid-set"
	RuleSetgidSet         = "setgid-set"
	RuleWorldWritable     = "world-writable"
	RuleContentChanged    = "content-changed"
	RuleFileCreated       = "file-created"
	RuleFileDeleted       = "file-deleted"
	RuleOwnerChanged      = "owner-changed"
	RuleSymlinkRetargeted = "symlink-retargeted"
	RuleTypeChanged       = "type-changed"
	RuleModeChanged       = "mode-changed"
	RuleTimestomp         = "timestomp"
	RuleMountOver         = "mount-over" // see mount.go
	// The package rules (package.go) judge an entry against its package database.
	RulePackageFileModified = "package-file-modified"
	RuleConffileModified    = "conffile-modified"
	RuleUnownedExecutable   = "unowned-executable"
	// RuleTransientExecutable: an executable file created and removed within TransientWindow,
	// known from the kernel's file-change feed (see Transient).
	RuleTransientExecutable = "transient-executable"
)

type ruleInfo struct {
	id, name string
}

// rules lists the built-in rules in the order they are reported when severities tie.
var rules = []ruleInfo{
	{RuleSetuidSet, "Setuid bit set in a persistence location"},
	{RuleSetgidSet, "Setgid bit set in a persistence location"},
	{RuleExecBitSet, "Executable bit set for potential persistence script"},
	{RuleExecutableCreated, "Executable file created in a persistence location"},
	{RuleTransientExecutable, "Executable file created and removed at once in a persistence location"},
	{RuleWorldWritable, "World-writable file in a persistence location"},
	{RuleTimestomp, "File timestamp forged in a persistence location"},
	{RuleMountOver, "Mount over a persistence location"},
	{RulePackageFileModified, "Package file differs from what its package shipped"},
	{RuleUnownedExecutable, "Executable owned by no package in a persistence location"},
	{RuleContentChanged, "Persistence file content changed"},
	{RuleFileCreated, "File created in a persistence location"},
	{RuleTypeChanged, "File type changed in a persistence location"},
	{RuleSymlinkRetargeted, "Symlink retargeted in a persistence location"},
	{RuleOwnerChanged, "Owner changed in a persistence location"},
	{RuleFileDeleted, "File deleted from a persistence location"},
	{RuleModeChanged, "Permissions changed in a persistence location"},
	{RuleConffileModified, "Package configuration file edited"},
}

// RuleIDs lists the built-in rule ids.
func RuleIDs() []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.id
	}
	return out
}

// RuleName returns the human name of a rule id.
func RuleName(id string) string {
	for _, r := range rules {
		if r.id == id {
			return r.name
		}
	}
	return id
}

func knownRule(id string) bool {
	for _, r := range rules {
		if r.id == id {
			return true
		}
	}
	return false
}

func ruleOrder(id string) int {
	for i, r := range rules {
		if r.id == id {
			return i
		}
	}
	return len(rules)
}

// Verdict says what becomes of a finding.
type Verdict string

// Verdicts. Only VerdictAlert findings raise alerts and count towards scan's exit code; the others
// are recorded in the history all the same.
const (
	VerdictAlert    Verdict = "alert"
	VerdictTrusted  Verdict = "trusted"  // made by a trusted writer (a package manager...)
	VerdictExcepted Verdict = "excepted" // matched a policy exception
	// VerdictRecorded is for changes whose severity is info (an exec bit removed, a permission
	// tightened): worth a line in the history, never an alert.
	VerdictRecorded Verdict = "recorded"
	// VerdictNone is the verdict of a recorded change no rule fired on.
	VerdictNone Verdict = "none"
	// VerdictAccepted and VerdictRestored are the verdicts of the history rows that baseline
	// accept and tripline restore write: decisions of a person, not of a rule.
	VerdictAccepted Verdict = "accepted"
	VerdictRestored Verdict = "restored"
)

// Hit is one rule that fired for a change.
type Hit struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Reason   string   `json:"reason"`
}

// Finding is a Change judged by the policy.
type Finding struct {
	Change   baseline.Change
	Location *Location
	Hits     []Hit // highest severity first; never empty
	Severity Severity
	Verdict  Verdict
	Why      string // why the verdict is not alert: the trusted writer or the exception reason
	// HistoryID and HistoryHash name the history row that recorded the finding, once recorded:
	// the hash is that row's link in the tamper-evident chain.
	HistoryID   int64
	HistoryHash string
}

// Rule returns the id of the rule that decides the severity.
func (f *Finding) Rule() string { return f.Hits[0].Rule }

// Alerting reports whether the finding should raise an alert.
func (f *Finding) Alerting() bool { return f.Verdict == VerdictAlert }

// severity returns the configured severity of rule at loc.
func (p *Policy) severity(rule string, loc *Location) Severity {
	if s, ok := loc.Severity[rule]; ok {
		return s
	}
	if rc, ok := p.Rules[rule]; ok {
		if s, ok := rc.Severity[loc.Use]; ok {
			return s
		}
	}
	return builtinSeverity(rule, loc.Use)
}

// builtinSeverity is a rule's severity when the policy does not set one (a policy that replaces
// the default may leave out its rules: section). It matches the default policy's rules.
func builtinSeverity(rule string, use Use) Severity {
	byUse := func(executed, sourced, config Severity) Severity {
		switch use {
		case Executed:
			return executed
		case Sourced:
			return sourced
		}
		return config
	}
	switch rule {
	case RuleExecBitSet, RuleExecutableCreated, RuleTransientExecutable:
		return byUse(SevHigh, SevMedium, SevLow)
	case RuleSetuidSet, RuleSetgidSet:
		return SevCritical
	case RuleWorldWritable, RuleTimestomp, RuleMountOver:
		return SevHigh
	case RuleContentChanged:
		return byUse(SevMedium, SevMedium, SevLow)
	case RuleFileCreated:
		return byUse(SevLow, SevMedium, SevMedium)
	case RuleFileDeleted:
		return SevLow
	case RuleModeChanged, RuleConffileModified:
		return SevInfo
	case RulePackageFileModified:
		return byUse(SevHigh, SevMedium, SevMedium)
	case RuleUnownedExecutable:
		return SevMedium
	}
	return SevMedium
}

// Evaluate judges a change at a location. It returns false when no rule fires (for example a
// permission change on a symlink, or a deletion of an ignored name). actor is who made the change;
// trusted writers and exceptions by executable or ancestor apply only when it names a process
// (actor.Known): nil, pid-only and none are nobody.
func (p *Policy) Evaluate(c baseline.Change, loc *Location, actor *proc.Actor) (Finding, bool) {
	if loc == nil {
		return Finding{}, false
	}
	var hits []Hit
	add := func(rule, reason string) {
		s := p.severity(rule, loc)
		if s == SevNone {
			return
		}
		hits = append(hits, Hit{Rule: rule, Severity: s, Reason: reason})
	}
	e := c.Entry()
	f := c.Flags
	use := string(loc.Use)
	switch c.Kind {
	case baseline.Created:
		if f&baseline.ExecAdded != 0 {
			add(RuleExecutableCreated, fmt.Sprintf("created with mode %s in a location whose files are %s", baseline.ModeString(e.Mode), use))
		} else {
			add(RuleFileCreated, fmt.Sprintf("new %s (mode %s)", e.Type, baseline.ModeString(e.Mode)))
		}
	case baseline.Deleted:
		add(RuleFileDeleted, fmt.Sprintf("%s removed", c.Old.Type))
	case baseline.Modified:
		if f&baseline.TypeChanged != 0 {
			if f&baseline.ExecAdded != 0 {
				add(RuleExecutableCreated, fmt.Sprintf("%s replaced by an executable file (mode %s)", c.Old.Type, baseline.ModeString(e.Mode)))
			} else {
				add(RuleTypeChanged, fmt.Sprintf("%s became %s", c.Old.Type, c.New.Type))
			}
		} else if f&baseline.ExecAdded != 0 {
			add(RuleExecBitSet, fmt.Sprintf("mode %s -> %s in a location whose files are %s", baseline.ModeString(c.Old.Mode), baseline.ModeString(c.New.Mode), use))
		}
		if f&baseline.ContentChanged != 0 {
			add(RuleContentChanged, contentReason(c))
		}
		if f&baseline.OwnerChanged != 0 {
			add(RuleOwnerChanged, fmt.Sprintf("owner %d:%d -> %d:%d", c.Old.UID, c.Old.GID, c.New.UID, c.New.GID))
		}
		if f&baseline.TargetChanged != 0 {
			add(RuleSymlinkRetargeted, fmt.Sprintf("target %s -> %s", baseline.QuotePath(c.Old.Target), baseline.QuotePath(c.New.Target)))
		}
		if f&baseline.MtimeBackwards != 0 {
			add(RuleTimestomp, "mtime moved backwards")
		}
	}
	if f&baseline.MtimeBeforeBirth != 0 {
		add(RuleTimestomp, "mtime is earlier than the file's birth time")
	}
	if f&baseline.SetuidAdded != 0 {
		add(RuleSetuidSet, fmt.Sprintf("setuid bit set (mode %s)", baseline.ModeString(e.Mode)))
	}
	if f&baseline.SetgidAdded != 0 {
		add(RuleSetgidSet, fmt.Sprintf("setgid bit set (mode %s)", baseline.ModeString(e.Mode)))
	}
	if f&baseline.WorldWritable != 0 {
		add(RuleWorldWritable, fmt.Sprintf("writable by every user (mode %s)", baseline.ModeString(e.Mode)))
	}
	if c.New != nil {
		packageHits(c.New, loc, add)
	}
	if c.Kind == baseline.Modified && f&baseline.ModeChanged != 0 && !hasModeRule(hits) {
		add(RuleModeChanged, fmt.Sprintf("mode %s -> %s", baseline.ModeString(c.Old.Mode), baseline.ModeString(c.New.Mode)))
	}
	if len(hits) == 0 {
		return Finding{}, false
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Severity != hits[j].Severity {
			return hits[i].Severity > hits[j].Severity
		}
		return ruleOrder(hits[i].Rule) < ruleOrder(hits[j].Rule)
	})
	fd := Finding{Change: c, Location: loc, Hits: hits, Severity: hits[0].Severity, Verdict: VerdictAlert}
	p.settle(&fd, actor)
	return fd, true
}

// settle gives f, whose hits are set, its verdict for actor: judged (trusted writers,
// exceptions), recorded rather than alerting at info severity, and with what its package says.
// Every finding is settled here, whichever way it was made (Evaluate, Regroup, Transient).
func (p *Policy) settle(f *Finding, actor *proc.Actor) {
	p.judge(f, actor)
	if f.Verdict == VerdictAlert && f.Severity <= SevInfo {
		f.Verdict = VerdictRecorded
	}
	notePackage(f)
}

// Regroup is f with only hits (a subset of f.Hits, in their order) and actor: a finding of its
// own for the rules one process's change fired, judged for that process. It shares f's history
// row. hits must not be empty.
func (p *Policy) Regroup(f Finding, hits []Hit, actor *proc.Actor) Finding {
	g := Finding{Change: f.Change, Location: f.Location, Hits: hits, Severity: hits[0].Severity, Verdict: VerdictAlert,
		HistoryID: f.HistoryID, HistoryHash: f.HistoryHash}
	p.settle(&g, actor)
	return g
}

// Transient judges a file that was created and removed before any observation could settle it,
// as the kernel's records tell it: c is a change of kind Created whose New entry has the mode
// the file was created with (and set to before it was removed). An executable regular file is
// transient-executable; any other is file-created. life says how long it existed.
func (p *Policy) Transient(c baseline.Change, loc *Location, actor *proc.Actor, life string) (Finding, bool) {
	if loc == nil || c.New == nil {
		return Finding{}, false
	}
	rule, reason := RuleFileCreated, fmt.Sprintf("new %s (mode %s), removed %s after it was created", c.New.Type, baseline.ModeString(c.New.Mode), life)
	if c.New.Executable() {
		rule, reason = RuleTransientExecutable, fmt.Sprintf("created with mode %s and removed %s later, before it could be observed, in a location whose files are %s", baseline.ModeString(c.New.Mode), life, loc.Use)
	}
	s := p.severity(rule, loc)
	if s == SevNone {
		return Finding{}, false
	}
	f := Finding{Change: c, Location: loc, Hits: []Hit{{Rule: rule, Severity: s, Reason: reason}}, Severity: s, Verdict: VerdictAlert}
	p.settle(&f, actor)
	return f, true
}

func hasModeRule(hits []Hit) bool {
	for _, h := range hits {
		switch h.Rule {
		case RuleExecBitSet, RuleSetuidSet, RuleSetgidSet, RuleWorldWritable, RuleExecutableCreated, RuleTypeChanged:
			return true
		}
	}
	return false
}

func contentReason(c baseline.Change) string {
	if c.Old.HashState == baseline.HashOK && c.New.HashState == baseline.HashOK {
		return fmt.Sprintf("sha256 %s -> %s", short(c.Old.SHA256), short(c.New.SHA256))
	}
	return fmt.Sprintf("size %d -> %d or mtime changed (no hash on one side: %s -> %s)", c.Old.Size, c.New.Size, c.Old.HashState, c.New.HashState)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// judge applies trusted writers and exceptions.
func (p *Policy) judge(f *Finding, a *proc.Actor) {
	var actor *proc.Process
	if a.Known() {
		actor = a.Process
	}
	if actor != nil {
		if p.exe.matches(actor.Exe) {
			f.Verdict, f.Why = VerdictTrusted, "trusted writer "+actor.Exe
			return
		}
		// The acting process itself may be a trusted script (a postinst running a builtin).
		if w := ancestorMatch(p.anc, actor); w != "" {
			f.Verdict, f.Why = VerdictTrusted, "trusted script "+w
			return
		}
		for i := range a.Ancestors {
			if w := ancestorMatch(p.anc, &a.Ancestors[i]); w != "" {
				f.Verdict, f.Why = VerdictTrusted, "trusted ancestor "+w
				return
			}
		}
	}
	e := f.Change.Entry()
	for i := range p.excs {
		x := &p.excs[i]
		if x.paths != nil && !x.paths.matches(f.Change.Path) {
			continue
		}
		if len(x.sha) > 0 && (e.HashState != baseline.HashOK || !x.sha[e.SHA256]) {
			continue
		}
		if x.exe != nil && (actor == nil || !x.exe.matches(actor.Exe)) {
			continue
		}
		if x.anc != nil && (actor == nil || !anyAncestor(x.anc, a.Ancestors)) {
			continue
		}
		if len(x.rules) == 0 {
			f.Verdict, f.Why = VerdictExcepted, "exception: "+x.Reason
			return
		}
		all := true
		for _, h := range f.Hits {
			if !x.rules[h.Rule] {
				all = false
			}
		}
		if all {
			f.Verdict, f.Why = VerdictExcepted, "exception: "+x.Reason
			return
		}
	}
}

func ancestorMatch(m *matcher, a *proc.Process) string {
	if m == nil {
		return ""
	}
	if m.matches(a.Exe) {
		return a.Exe
	}
	// A script run by an interpreter: "/bin/sh /var/lib/dpkg/info/PKG.postinst configure" or,
	// through a "#!/bin/sh -e" line, "/bin/sh -e /var/lib/dpkg/info/PKG.postinst". The script
	// is argv[0] or the first argument after shell options such as -e, -u and -x; an option
	// that takes code (sh -c, perl -e) ends the search, as its argument is not a script path.
	shell := len(a.Args) > 0 && (isShell(a.Exe) || isShell(a.Args[0]))
	for i, arg := range a.Args {
		if i > 0 && shell && len(arg) > 1 && arg[0] == '-' && strings.Trim(arg[1:], "euxv") == "" {
			continue
		}
		if strings.HasPrefix(arg, "/") && m.matches(arg) {
			return arg
		}
		if i > 0 {
			break
		}
	}
	return ""
}

// isShell reports whether an executable or argv[0] names a POSIX shell, whose -e, -u, -x and -v
// are options and not code.
func isShell(p string) bool {
	switch path.Base(p) {
	case "sh", "dash", "bash", "ash", "ksh", "mksh", "zsh", "busybox":
		return true
	}
	return false
}

func anyAncestor(m *matcher, as []proc.Process) bool {
	for i := range as {
		if ancestorMatch(m, &as[i]) != "" {
			return true
		}
	}
	return false
}
