package policy

import (
	"fmt"
	"path"
	"strings"
)

// Pattern syntax, on absolute paths split at "/":
//
//	*, ?, [a-z], [!x]  match within one path segment (path.Match, with the shell's [!x] read as
//	                   path.Match's [^x]), dot files included
//	**                 as a whole segment: zero or more segments
//	{a,b}              alternatives, expanded when the policy is loaded
//	~/x                x under every home directory (the policy's homes, e.g. /root and /home/*)
//
// Elastic's rules write "*" for "anything, across /"; a location that nests (dracut modules,
// unit drop-ins, NetworkManager) says "**".

// pattern is one compiled, brace-expanded path pattern.
type pattern struct {
	raw      string   // as written in the policy, before expansion
	expanded string   // this expansion
	segs     []string // segments; "**" is the multi-segment wildcard
	literal  []bool   // segs[i] has no wildcard
	loc      int      // index of the owning location
	// specificity orders overlapping patterns: more literal segments win, then fewer "**".
	specificity int
}

func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[\\") }

// shellClass rewrites the shell's negated class "[!...]" into path.Match's "[^...]": path.Match
// reads "[!x]" as "! or x", the opposite of what a policy author coming from the shell means.
func shellClass(glob string) string {
	if !strings.Contains(glob, "[!") {
		return glob
	}
	b := []byte(glob)
	in := false
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == '\\':
			i++
		case !in && b[i] == '[':
			in = true
			if i+1 < len(b) && b[i+1] == '!' {
				b[i+1] = '^'
				i++
			}
		case in && b[i] == ']':
			in = false
		}
	}
	return string(b)
}

// Bounds on what a policy can expand to, so that a small file cannot make Load or Match slow:
// one pattern as written (braces times homes), and the whole policy.
const (
	maxExpansions = 4096
	maxPatterns   = 1 << 16
)

// expandBraces expands {a,b} alternatives, nested or repeated, into every combination.
func expandBraces(s string) ([]string, error) {
	open := strings.IndexByte(s, '{')
	if open < 0 {
		if strings.IndexByte(s, '}') >= 0 {
			return nil, fmt.Errorf("unmatched } in %q", s)
		}
		return []string{s}, nil
	}
	depth, end := 0, -1
	var commas []int
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				end = i
			}
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		}
		if end >= 0 {
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("unmatched { in %q", s)
	}
	var alts []string
	start := open + 1
	for _, c := range append(commas, end) {
		alts = append(alts, s[start:c])
		start = c + 1
	}
	var out []string
	for _, alt := range alts {
		rest, err := expandBraces(s[:open] + alt + s[end+1:])
		if err != nil {
			return nil, err
		}
		out = append(out, rest...)
		if len(out) > maxExpansions {
			return nil, fmt.Errorf("%q expands to more than %d patterns", s, maxExpansions)
		}
	}
	return out, nil
}

// compilePatterns expands and validates one pattern as written in a policy. homes are the
// patterns of home directories that "~/" stands for.
func compilePatterns(raw string, homes []string, loc int) ([]pattern, error) {
	if raw == "" {
		return nil, fmt.Errorf("empty path pattern")
	}
	expanded, err := expandBraces(raw)
	if err != nil {
		return nil, err
	}
	var out []pattern
	for _, x := range expanded {
		var bases []string
		switch {
		case x == "~" || strings.HasPrefix(x, "~/"):
			if len(homes) == 0 {
				return nil, fmt.Errorf("%q uses ~ but the policy lists no homes", raw)
			}
			for _, h := range homes {
				bases = append(bases, strings.TrimSuffix(h, "/")+strings.TrimPrefix(x, "~"))
			}
		case strings.HasPrefix(x, "/"):
			bases = []string{x}
		default:
			return nil, fmt.Errorf("path pattern %q is not absolute (start it with / or ~/)", raw)
		}
		if len(out)+len(bases) > maxExpansions {
			return nil, fmt.Errorf("%q expands to more than %d patterns", raw, maxExpansions)
		}
		for _, b := range bases {
			p, err := compileOne(b)
			if err != nil {
				return nil, fmt.Errorf("path pattern %q: %w", raw, err)
			}
			p.raw, p.loc = raw, loc
			out = append(out, p)
		}
	}
	return out, nil
}

func compileOne(s string) (pattern, error) {
	if strings.Contains(s, "//") {
		return pattern{}, fmt.Errorf("empty segment (//)")
	}
	s = strings.TrimSuffix(s, "/")
	p := pattern{expanded: s}
	if s == "" {
		return p, fmt.Errorf("the pattern selects the root directory itself")
	}
	for _, seg := range strings.Split(s[1:], "/") {
		if seg == "." || seg == ".." {
			return p, fmt.Errorf("segment %q is not allowed", seg)
		}
		if seg != "**" && strings.Contains(seg, "**") {
			return p, fmt.Errorf("** must be a whole segment, as in /etc/systemd/system/**")
		}
		if seg != "**" {
			written := seg
			seg = shellClass(seg)
			if _, err := path.Match(seg, ""); err != nil {
				return p, fmt.Errorf("segment %q: %w", written, err)
			}
		}
		lit := seg != "**" && !hasMeta(seg)
		p.segs = append(p.segs, seg)
		p.literal = append(p.literal, lit)
		p.specificity += segSpecificity(seg, lit)
	}
	return p, nil
}

// segSpecificity is what one segment adds to a pattern's specificity: a literal name more than a
// wildcard within a segment, "**" nothing.
func segSpecificity(seg string, literal bool) int {
	switch {
	case literal:
		return 4
	case seg != "**":
		return 2
	}
	return 0
}

func (p *pattern) matchSeg(i int, name string) bool {
	if p.literal[i] {
		return p.segs[i] == name
	}
	ok, _ := path.Match(p.segs[i], name)
	return ok
}

// state is a position in one pattern: segs[:i] matched so far.
type state struct {
	pat int
	i   int
}

// matcher is the compiled set of patterns of a policy with the ignore globs; it implements
// baseline.Tree through cursor.
type matcher struct {
	pats   []pattern
	ignore []string // base-name globs
	locIDs []string // location id by index
	// startStates caches the closure of the initial states, computed once after compiling.
	startStates []state
	// literals holds the patterns without any wildcard of a set that only answers matches
	// (trusted lists, exceptions), as clean paths.
	literals map[string]bool
}

// closure adds the states reachable without consuming a segment ("**" can match zero segments).
func (m *matcher) closure(in []state) []state {
	out := make([]state, 0, len(in)+2)
	// A scan of out is cheapest for the few states a step leaves; a set keeps the closure of
	// every pattern at the start linear.
	var seen map[state]bool
	if len(in) > 32 {
		seen = make(map[state]bool, len(in)+len(in)/4)
	}
	var add func(s state)
	add = func(s state) {
		if seen != nil {
			if seen[s] {
				return
			}
			seen[s] = true
		} else {
			for _, o := range out {
				if o == s {
					return
				}
			}
		}
		out = append(out, s)
		p := &m.pats[s.pat]
		if s.i < len(p.segs) && p.segs[s.i] == "**" {
			add(state{s.pat, s.i + 1})
		}
	}
	for _, s := range in {
		add(s)
	}
	return out
}

// step consumes one segment name from every state.
func (m *matcher) step(states []state, name string) []state {
	var next []state
	for _, s := range states {
		p := &m.pats[s.pat]
		if s.i >= len(p.segs) {
			continue
		}
		if p.segs[s.i] == "**" {
			next = append(next, s)
			continue
		}
		if p.matchSeg(s.i, name) {
			next = append(next, state{s.pat, s.i + 1})
		}
	}
	return m.closure(next)
}

// best returns the location of the most specific pattern that has matched completely in states,
// or -1. A pattern whose last segment is a wildcard also selects the directory it lists
// (/etc/cron.d/* selects /etc/cron.d itself), so a world-writable location directory is seen.
func (m *matcher) best(states []state, parentOf bool) int {
	loc, spec := -1, -1
	for _, s := range states {
		p := &m.pats[s.pat]
		full := s.i == len(p.segs)
		container := parentOf && s.i == len(p.segs)-1 && !p.literal[s.i]
		if !full && !container {
			continue
		}
		sp := p.specificity
		if container {
			// Only the segments that matched count, and the pattern that names the directory
			// itself wins a tie over one that lists it.
			sp -= segSpecificity(p.segs[s.i], false) + 1
		}
		if sp > spec || (sp == spec && p.loc < loc) {
			loc, spec = p.loc, sp
		}
	}
	return loc
}

func matchName(glob, name string) (bool, error) { return path.Match(glob, name) }

func (m *matcher) ignored(name string) bool {
	for _, g := range m.ignore {
		if ok, _ := matchName(g, name); ok {
			return true
		}
	}
	return false
}

// match returns the index of the location that owns the absolute path p, or -1. With parentOf, a
// pattern whose last segment is a wildcard also selects the directory it lists (see best). The path
// is cleaned first, so "/etc/cron.daily/.." is /etc and not an entry of /etc/cron.daily.
func (m *matcher) match(p string, parentOf bool) int {
	if !strings.HasPrefix(p, "/") {
		return -1
	}
	states := m.start()
	var segs []string
	if p = path.Clean(p); p != "/" {
		segs = strings.Split(p[1:], "/")
	}
	for i, seg := range segs {
		if i == len(segs)-1 && m.ignored(seg) {
			return -1
		}
		states = m.step(states, seg)
		if len(states) == 0 {
			return -1
		}
	}
	return m.best(states, parentOf)
}

func (m *matcher) start() []state {
	if m.startStates != nil {
		return m.startStates
	}
	s := make([]state, len(m.pats))
	for i := range m.pats {
		s[i] = state{i, 0}
	}
	return m.closure(s)
}

// canDescend reports whether some state still has segments to match below.
func (m *matcher) canDescend(states []state) bool {
	for _, s := range states {
		if s.i < len(m.pats[s.pat].segs) {
			return true
		}
	}
	return false
}
