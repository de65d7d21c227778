package policy

import (
	"path"
	"strings"

	"github.com/tripline/tripline/baseline"
)

// maxMatchDirs bounds a Matcher's cache: past it the cache starts again empty.
const maxMatchDirs = 65536

// Matcher answers Match for many paths in the same few directories, as a daemon's events name
// them: the policy's cursor for each directory is kept and stepped by the child's name only,
// instead of matching the whole path from the root each time. It agrees with Policy.Match for
// every path. Not safe for concurrent use.
type Matcher struct {
	pol   *Policy
	trees map[string]baseline.Tree // by logical directory; nil Tree: nothing below can match
}

// Matcher returns a Matcher over p.
func (p *Policy) Matcher() *Matcher {
	return &Matcher{pol: p, trees: map[string]baseline.Tree{}}
}

// Policy returns the policy m matches with.
func (m *Matcher) Policy() *Policy { return m.pol }

// Match returns the location that owns the absolute logical path p, as Policy.Match does.
func (m *Matcher) Match(p string) *Location {
	dir, name := path.Split(p)
	dir = path.Clean(dir)
	if name == "" || p == "/" {
		return m.pol.Match(p)
	}
	if len(m.trees) > maxMatchDirs {
		m.trees = map[string]baseline.Tree{}
	}
	t, ok := m.trees[dir]
	if !ok {
		t = m.pol.Tree()
		for _, seg := range strings.Split(strings.Trim(dir, "/"), "/") {
			if seg == "" || t == nil {
				continue
			}
			_, t = t.Child(seg)
		}
		m.trees[dir] = t
	}
	if t == nil {
		return nil
	}
	sel, _ := t.Child(name)
	if sel.Location == "" {
		return nil
	}
	return m.pol.Location(sel.Location)
}
