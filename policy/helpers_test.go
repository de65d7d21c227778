package policy_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// load parses a policy the test expects to be valid.
func load(t testing.TB, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v\n%s", err, src)
	}
	return p
}

// loc writes one location of a small test policy as a YAML flow mapping.
func loc(id string, use policy.Use, paths ...string) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = strconv.Quote(p)
	}
	return "  - {id: " + id + ", category: test, use: " + string(use) + ", paths: [" + strings.Join(q, ", ") + "]}\n"
}

// smallPolicy is a version-1 policy with the given homes (a YAML flow list; "" for /root and
// /home/*), a few ignore patterns and the given locations.
func smallPolicy(homes string, locs ...string) string {
	if homes == "" {
		homes = "[/root, /home/*]"
	}
	return "version: 1\nhomes: " + homes + "\nignore: [\"*.dpkg-new\", \".*.swp\", \"*~\"]\nlocations:\n" + strings.Join(locs, "")
}

// matchID is the id of the location Match gives, or "".
func matchID(p *policy.Policy, path string) string {
	if l := p.Match(path); l != nil {
		return l.ID
	}
	return ""
}

// treeSelect follows an absolute path through p.Tree() the way baseline.Walk does and returns
// the location selected for its last segment ("" when the walk stops earlier or nothing owns it).
func treeSelect(p *policy.Policy, path string) string {
	tree := p.Tree()
	var sel baseline.Selection
	for _, seg := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if tree == nil {
			return ""
		}
		sel, tree = tree.Child(seg)
	}
	return sel.Location
}

// known is the actor of a change made by a process the exec cache knows, with its ancestors
// (parent first).
func known(p proc.Process, ancestors ...proc.Process) *proc.Actor {
	return &proc.Actor{Attribution: proc.AttrKernel, PID: p.PID, Process: &p, Ancestors: ancestors}
}
