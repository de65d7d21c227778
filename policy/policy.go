// Package policy owns what tripline watches and how it judges a change: the embedded default
// policy, loading and validating a user policy (which replaces or extends the default), matching a
// path to its persistence location, and evaluating a baseline.Change (with the acting process,
// when known) into a Finding with rules, a severity and a verdict. It never touches the filesystem
// or the store.
package policy

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default policy as written.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Use says how the consumer of a location uses a file, which decides what an exec bit means there.
type Use string

// Uses of a location (see LOCATIONS.md): executed files need the exec bit to run, sourced files
// are read by a shell whatever their mode, config files are parsed.
const (
	Executed Use = "executed"
	Sourced  Use = "sourced"
	Config   Use = "config"
)

var uses = []Use{Executed, Sourced, Config}

// Location is one persistence location of the policy.
type Location struct {
	ID          string              `yaml:"id" json:"id"`
	Description string              `yaml:"description,omitempty" json:"description,omitempty"`
	Paths       []string            `yaml:"paths" json:"paths"`
	Category    string              `yaml:"category" json:"category"`
	Technique   string              `yaml:"technique" json:"technique"`
	Use         Use                 `yaml:"use" json:"use"`
	Severity    map[string]Severity `yaml:"severity,omitempty" json:"severity,omitempty"` // per-rule overrides here
	// Compliance lists the control ids this location is evidence for ("PCI DSS 4.0 11.5.2");
	// when empty, the policy's top-level compliance list applies.
	Compliance []string `yaml:"compliance,omitempty" json:"compliance,omitempty"`
	line       int
}

// Trusted lists the writers whose changes are recorded without an alert: package managers,
// configuration management and their maintainer scripts. Patterns use the path pattern syntax.
type Trusted struct {
	Executables []string `yaml:"executables,omitempty" json:"executables,omitempty"`
	// Ancestors match the executable or the first two arguments of any ancestor, so that a
	// maintainer script run as "/bin/sh /var/lib/dpkg/info/x.postinst" is recognised.
	Ancestors []string `yaml:"ancestors,omitempty" json:"ancestors,omitempty"`
}

// Exception turns matching findings into recorded, non-alerting ones. Every criterion given must
// hold; within one list any entry may match. At least one of Paths, SHA256, Exe, Ancestors.
type Exception struct {
	Reason    string   `yaml:"reason" json:"reason"`
	Paths     []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	SHA256    []string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	Exe       []string `yaml:"exe,omitempty" json:"exe,omitempty"`
	Ancestors []string `yaml:"ancestors,omitempty" json:"ancestors,omitempty"`
	Rules     []string `yaml:"rules,omitempty" json:"rules,omitempty"` // empty: every rule
	line      int
}

// RuleConfig tunes one built-in rule.
type RuleConfig struct {
	Severity SeverityByUse `yaml:"severity" json:"severity"`
}

// Policy is a loaded, validated policy. It is immutable after Load and safe for concurrent use.
type Policy struct {
	Version    int                   `yaml:"version" json:"version"`
	Extends    string                `yaml:"extends,omitempty" json:"extends,omitempty"`
	Homes      []string              `yaml:"homes,omitempty" json:"homes,omitempty"`
	Rules      map[string]RuleConfig `yaml:"rules,omitempty" json:"rules,omitempty"`
	Locations  []Location            `yaml:"locations" json:"locations"`
	Disable    []string              `yaml:"disable,omitempty" json:"disable,omitempty"`
	Trusted    Trusted               `yaml:"trusted,omitempty" json:"trusted,omitempty"`
	Ignore     []string              `yaml:"ignore,omitempty" json:"ignore,omitempty"`
	Exceptions []Exception           `yaml:"exceptions,omitempty" json:"exceptions,omitempty"`
	// Compliance is the control ids of every location that names none of its own.
	Compliance []string `yaml:"compliance,omitempty" json:"compliance,omitempty"`

	// lines says where the file put its values, for errors found after decoding: top-level keys
	// ("version"), their sequence items ("ignore.2") and mapping keys ("rules.exec-bit-set",
	// "trusted.executables.0"). baseLen counts, per list, the leading items that came from the
	// base policy of an extends, which have no line in this file.
	lines   map[string]int
	baseLen map[string]int
	source  string // file name, or "default"
	digest  string
	m       *matcher
	exe     *matcher // trusted executables
	anc     *matcher // trusted ancestors
	excs    []compiledException
}

type compiledException struct {
	Exception
	paths, exe, anc *matcher
	sha             map[string]bool
	rules           map[string]bool
}

// Source names where the policy came from: "default" or a file name (with "+default" when it
// extends the default).
func (p *Policy) Source() string { return p.source }

// Digest is the sha256 of the policy's sources, so an export can say which policy judged it.
func (p *Policy) Digest() string { return p.digest }

// Location returns the location with the given id, or nil.
func (p *Policy) Location(id string) *Location {
	for i := range p.Locations {
		if p.Locations[i].ID == id {
			return &p.Locations[i]
		}
	}
	return nil
}

// Match returns the location that owns the absolute logical path, or nil when the policy does not
// cover it or ignores its name.
func (p *Policy) Match(path string) *Location {
	i := p.m.match(path, true)
	if i < 0 {
		return nil
	}
	return &p.Locations[i]
}

// Tree returns the policy as a baseline.Tree, for baseline.Walk.
func (p *Policy) Tree() baseline.Tree {
	return &cursor{m: p.m, states: p.m.start()}
}

// Patterns lists the expanded path patterns of a location, in policy order.
func (p *Policy) Patterns(id string) []string {
	var out []string
	for _, pat := range p.m.pats {
		if p.Locations[pat.loc].ID == id {
			out = append(out, pat.expanded)
		}
	}
	return out
}

// Ignored reports whether the policy ignores a file name (editor swap files, *.dpkg-new...).
func (p *Policy) Ignored(name string) bool { return p.m.ignored(name) }

type cursor struct {
	m      *matcher
	states []state
}

func (c *cursor) Probe() ([]string, bool) {
	var names []string
	for _, s := range c.states {
		pat := &c.m.pats[s.pat]
		if s.i >= len(pat.segs) {
			continue
		}
		if !pat.literal[s.i] {
			return nil, true
		}
		names = append(names, pat.segs[s.i])
	}
	sort.Strings(names)
	out := names[:0]
	for i, n := range names {
		if i == 0 || n != names[i-1] {
			out = append(out, n)
		}
	}
	return out, false
}

func (c *cursor) Child(name string) (baseline.Selection, baseline.Tree) {
	next := c.m.step(c.states, name)
	if len(next) == 0 {
		return baseline.Selection{}, nil
	}
	if c.m.ignored(name) {
		return baseline.Selection{Ignored: true}, nil
	}
	var sel baseline.Selection
	if loc := c.m.best(next, true); loc >= 0 {
		sel.Location = c.m.locIDs[loc]
	}
	if !c.m.canDescend(next) {
		return sel, nil
	}
	return sel, &cursor{m: c.m, states: next}
}

func digestOf(parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// line returns the line of a top-level key or of a "key.item" of the file, 0 when unknown.
func (p *Policy) line(key string) int { return p.lines[key] }

// itemLine returns the line of item i of the list key ("ignore", "trusted.executables"), falling
// back to the line of the key; 0 for an item inherited from the base policy.
func (p *Policy) itemLine(key string, i int) int {
	if i -= p.baseLen[key]; i < 0 {
		return 0
	}
	if l, ok := p.lines[key+"."+strconv.Itoa(i)]; ok {
		return l
	}
	return p.lines[key]
}

// checkVersion refuses a policy that is not version 1.
func (p *Policy) checkVersion(file string) error {
	if p.Version == 1 {
		return nil
	}
	if p.line("version") == 0 {
		return &SyntaxError{File: file, Line: 1, Msg: "no version (start the policy with \"version: 1\")"}
	}
	return &SyntaxError{File: file, Line: p.line("version"), Msg: fmt.Sprintf("version: %d is not supported (this tripline reads version 1)", p.Version)}
}

// compile validates the merged policy and builds its matchers. Errors carry the line of the
// offending entry where one is known.
func (p *Policy) compile(file string) error {
	if err := p.checkVersion(file); err != nil {
		return err
	}
	for i := range p.Locations {
		if len(p.Locations[i].Compliance) == 0 {
			p.Locations[i].Compliance = p.Compliance
		}
		for _, c := range p.Locations[i].Compliance {
			if strings.TrimSpace(c) == "" || strings.ContainsAny(c, "\n\r") {
				return &SyntaxError{File: file, Line: p.Locations[i].line, Msg: fmt.Sprintf("location %s: compliance: %q is not a control id", p.Locations[i].ID, c)}
			}
		}
	}
	var homes []string
	for i, h := range p.Homes {
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: file, Line: p.itemLine("homes", i), Msg: fmt.Sprintf("homes: %q ", h) + fmt.Sprintf(format, a...)}
		}
		if !strings.HasPrefix(h, "/") {
			return bad("is not an absolute path pattern")
		}
		xs, err := expandBraces(h)
		if err != nil {
			return bad("%v", err)
		}
		for _, x := range xs {
			if strings.Trim(x, "/") == "" {
				continue // "/" as a home: ~/x is /x
			}
			if _, err := compileOne(x); err != nil {
				return bad("%v", err)
			}
		}
		homes = append(homes, xs...)
	}
	ruleIDs := make([]string, 0, len(p.Rules))
	for rule := range p.Rules {
		ruleIDs = append(ruleIDs, rule)
	}
	sort.Strings(ruleIDs) // the first error is the same on every run
	for _, rule := range ruleIDs {
		if !knownRule(rule) {
			return &SyntaxError{File: file, Line: p.line("rules." + rule), Msg: fmt.Sprintf("rules: unknown rule %q (known: %s)", rule, strings.Join(RuleIDs(), ", "))}
		}
	}
	m := &matcher{}
	for _, g := range p.Ignore {
		m.ignore = append(m.ignore, shellClass(g))
	}
	total := 0 // patterns of the whole policy, at most maxPatterns
	tooMany := fmt.Sprintf("the policy expands to more than %d path patterns", maxPatterns)
	seen := map[string]int{}
	for i := range p.Locations {
		l := &p.Locations[i]
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: file, Line: l.line, Msg: fmt.Sprintf("location %q: ", l.ID) + fmt.Sprintf(format, a...)}
		}
		if l.ID == "" {
			return &SyntaxError{File: file, Line: l.line, Msg: "location without an id"}
		}
		if prev, dup := seen[l.ID]; dup {
			return bad("duplicate id (first at line %d)", prev)
		}
		seen[l.ID] = l.line
		if len(l.Paths) == 0 {
			return bad("no paths")
		}
		if !validUse(l.Use) {
			return bad("use %q must be one of executed, sourced, config", l.Use)
		}
		if l.Category == "" {
			return bad("no category")
		}
		for rule := range l.Severity {
			if !knownRule(rule) {
				return bad("severity for unknown rule %q", rule)
			}
		}
		for _, raw := range l.Paths {
			pats, err := compilePatterns(raw, homes, i)
			if err != nil {
				return bad("%v", err)
			}
			if total += len(pats); total > maxPatterns {
				return bad("%s", tooMany)
			}
			m.pats = append(m.pats, pats...)
		}
		m.locIDs = append(m.locIDs, l.ID)
	}
	for i, g := range p.Ignore {
		if strings.Contains(g, "/") {
			return &SyntaxError{File: file, Line: p.itemLine("ignore", i), Msg: fmt.Sprintf("ignore: %q must be a file-name pattern, without /", g)}
		}
		if err := checkGlob(g); err != nil {
			return &SyntaxError{File: file, Line: p.itemLine("ignore", i), Msg: fmt.Sprintf("ignore: %q: %v", g, err)}
		}
	}
	m.startStates = m.start()
	p.m = m
	trusted := func(key string, globs []string) (*matcher, error) {
		for i, g := range globs {
			if _, err := compilePatterns(g, homes, 0); err != nil {
				return nil, &SyntaxError{File: file, Line: p.itemLine(key, i), Msg: key + ": " + err.Error()}
			}
		}
		m, err := globSet(globs, homes)
		if err != nil {
			return nil, &SyntaxError{File: file, Line: p.line(key), Msg: key + ": " + err.Error()}
		}
		if m != nil {
			if total += len(m.pats); total > maxPatterns {
				return nil, &SyntaxError{File: file, Line: p.line(key), Msg: key + ": " + tooMany}
			}
		}
		return m, nil
	}
	var err error
	if p.exe, err = trusted("trusted.executables", p.Trusted.Executables); err != nil {
		return err
	}
	if p.anc, err = trusted("trusted.ancestors", p.Trusted.Ancestors); err != nil {
		return err
	}
	p.excs = nil
	for _, e := range p.Exceptions {
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: file, Line: e.line, Msg: "exception: " + fmt.Sprintf(format, a...)}
		}
		if len(e.Paths)+len(e.SHA256)+len(e.Exe)+len(e.Ancestors) == 0 {
			return bad("needs at least one of paths, sha256, exe, ancestors")
		}
		if e.Reason == "" {
			return bad("needs a reason (it is shown with every finding it silences)")
		}
		ce := compiledException{Exception: e, sha: map[string]bool{}, rules: map[string]bool{}}
		if ce.paths, err = globSet(e.Paths, homes); err != nil {
			return bad("paths: %v", err)
		}
		if ce.exe, err = globSet(e.Exe, homes); err != nil {
			return bad("exe: %v", err)
		}
		if ce.anc, err = globSet(e.Ancestors, homes); err != nil {
			return bad("ancestors: %v", err)
		}
		for _, x := range []*matcher{ce.paths, ce.exe, ce.anc} {
			if x != nil {
				total += len(x.pats)
			}
		}
		if total > maxPatterns {
			return bad("%s", tooMany)
		}
		for _, s := range e.SHA256 {
			s = strings.ToLower(s)
			if len(s) != 64 || strings.Trim(s, "0123456789abcdef") != "" {
				return bad("sha256 %q is not 64 hex digits", s)
			}
			ce.sha[s] = true
		}
		for _, r := range e.Rules {
			if !knownRule(r) {
				return bad("unknown rule %q", r)
			}
			ce.rules[r] = true
		}
		p.excs = append(p.excs, ce)
	}
	return nil
}

func checkGlob(g string) error {
	_, err := matchName(shellClass(g), "")
	return err
}

// globSet compiles path patterns (~/ expanding over homes) into a matcher; nil for an empty list.
func globSet(globs, homes []string) (*matcher, error) {
	if len(globs) == 0 {
		return nil, nil
	}
	m := &matcher{literals: map[string]bool{}}
	for _, g := range globs {
		pats, err := compilePatterns(g, homes, 0)
		if err != nil {
			return nil, err
		}
		for _, pat := range pats {
			if all(pat.literal) {
				// Most trusted executables are plain paths: a map answers them without the
				// automaton, which the daemon runs for the actor and each ancestor of every event.
				m.literals[pat.expanded] = true
				continue
			}
			m.pats = append(m.pats, pat)
		}
	}
	m.locIDs = []string{""}
	m.startStates = m.start()
	return m, nil
}

func all(bs []bool) bool {
	for _, b := range bs {
		if !b {
			return false
		}
	}
	return true
}

// matches reports whether a pattern of the set matches p itself: /etc/cron.d/* in an exception or
// a trusted list names the files in /etc/cron.d, not the directory (unlike a location, see best).
func (m *matcher) matches(p string) bool {
	if m == nil {
		return false
	}
	if m.literals[path.Clean(p)] {
		return true
	}
	return len(m.pats) > 0 && m.match(p, false) >= 0
}

func validUse(u Use) bool {
	for _, x := range uses {
		if u == x {
			return true
		}
	}
	return false
}

// Target is what one path pattern of a location resolves to before looking at the disk: a
// directory whose entries are watched (Dir) or a single file. Path may still hold wildcards in
// its directory components (/home/*/.config/autostart), to be expanded against a filesystem.
type Target struct {
	Location string `json:"location"`
	Pattern  string `json:"pattern"`
	Path     string `json:"path"`
	Dir      bool   `json:"dir"`
	// Recursive means everything below Path is covered (the pattern ends in **).
	Recursive bool `json:"recursive"`
}

// Targets lists the targets of every location, in policy order.
func (p *Policy) Targets() []Target {
	var out []Target
	for _, pat := range p.m.pats {
		t := Target{Location: p.Locations[pat.loc].ID, Pattern: pat.expanded}
		segs := pat.segs
		if n := len(segs); n > 0 && !pat.literal[n-1] {
			t.Dir = true
			t.Recursive = segs[n-1] == "**"
			segs = segs[:n-1]
			for len(segs) > 0 && segs[len(segs)-1] == "**" {
				segs = segs[:len(segs)-1]
			}
		}
		t.Path = "/" + strings.Join(segs, "/")
		out = append(out, t)
	}
	return out
}
