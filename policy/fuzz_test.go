package policy_test

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// FuzzLoad feeds arbitrary bytes to Load: it must not panic, and must either return a usable
// policy or a *SyntaxError of one line. More seeds are in testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	f.Add(policy.DefaultYAML())
	f.Add([]byte("extends: default\nversion: 1\ndisable: [upstart]\n"))
	f.Add([]byte(smallPolicy("", loc("kde", policy.Executed, "~/.kde{,4}/Autostart/*"), loc("units", policy.Config, "/etc/systemd/system/**"))))
	f.Add([]byte("version: 1\nexceptions:\n  - reason: r\n    sha256: [" + strings.Repeat("0", 64) + "]\n    rules: [exec-bit-set]\n"))
	f.Add([]byte("version: 1\nlocations:\n  - id: a\n    pahts: [/x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Load("fuzz.yaml", data)
		if err != nil {
			var se *policy.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is a %T, not a *policy.SyntaxError", err, err)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "fuzz.yaml") {
				t.Fatalf("error %q is not one line starting with the file name", msg)
			}
			if p != nil {
				t.Fatalf("Load returned a policy with error %v", err)
			}
			return
		}
		if p.Version != 1 {
			t.Fatalf("loaded a policy of version %d", p.Version)
		}
		// A loaded policy is usable.
		for _, l := range p.Locations {
			if l.ID == "" || len(l.Paths) == 0 {
				t.Fatalf("location %+v without id or paths", l)
			}
			_ = p.Patterns(l.ID)
		}
		_ = p.Targets()
		for _, x := range []string{"/etc/cron.daily/x", "/root/.bashrc", "/", "/etc"} {
			if l := p.Match(x); l != nil && p.Location(l.ID) != l {
				t.Fatalf("Match(%q) = %s, not the policy's own location", x, l.ID)
			}
		}
		tree := p.Tree()
		if names, all := tree.Probe(); !all {
			for _, n := range names {
				tree.Child(n)
			}
		}
	})
}

var fuzzPolicy = policy.Default()

// FuzzMatch matches arbitrary paths against the default policy, through Match and through the
// Tree that baseline.Walk follows: no panic, and both agree on which location owns a clean path.
func FuzzMatch(f *testing.F) {
	for _, s := range []string{
		"/etc/cron.daily/x", "/etc/systemd/system/a/b.conf", "/home/alice/.kde4/Autostart/x",
		"/usr/lib/udev/rules.d/x.rules", "/etc/cron.d", "/etc/cron.daily/x.dpkg-new", "/", "",
		"relative/path", "/etc//cron.d/../x", "/etc/cron.daily/\x00\xff",
	} {
		f.Add(s)
	}
	p := fuzzPolicy
	f.Fuzz(func(t *testing.T, s string) {
		l := p.Match(s)
		if l != nil && p.Location(l.ID) != l {
			t.Fatalf("Match(%q) = %s, not the policy's own location", s, l.ID)
		}
		var segs []string
		if strings.HasPrefix(s, "/") {
			segs = strings.Split(s[1:], "/")
		}
		tree := p.Tree()
		var sel baseline.Selection
		reached := true
		for i, seg := range segs {
			if tree == nil {
				reached = false
				break
			}
			tree.Probe()
			sel, tree = tree.Child(seg)
			if sel.Ignored && i < len(segs)-1 {
				return // Walk stops at an ignored directory; Match looks only at the last name
			}
		}
		if s == "/" || s != path.Clean(s) || !strings.HasPrefix(s, "/") {
			return
		}
		want := ""
		if reached {
			want = sel.Location
		}
		if got := matchID(p, s); got != want {
			t.Fatalf("Match(%q) = %q, Tree walk selects %q", s, got, want)
		}
	})
}
