package watch

import (
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

func rec(pid int32, ns uint64, t attrib.Touch) *sysRec {
	return &sysRec{c: &attrib.FileChange{PID: pid, BootNS: ns}, t: t}
}

// Each rule goes to the call that asked for what it is about; a chmod that kept no exec bit did
// not set it.
func TestMaker(t *testing.T) {
	p := "/etc/cron.daily/job"
	create := rec(1, 10, attrib.Touch{Path: p, Want: attrib.WantCreate | attrib.WantWrite, Mode: unix.S_IFREG | 0o644, HaveMode: true})
	chmodX := rec(2, 20, attrib.Touch{Path: p, Want: attrib.WantMode, Mode: 0o755, HaveMode: true})
	touch := rec(3, 30, attrib.Touch{Path: p, Want: attrib.WantTimes, MtimeNS: 1})
	chmodR := rec(4, 40, attrib.Touch{Path: p, Want: attrib.WantMode, Mode: 0o744, HaveMode: true})
	chmodNoX := rec(5, 50, attrib.Touch{Path: p, Want: attrib.WantMode, Mode: 0o644, HaveMode: true})
	recs := []*sysRec{create, chmodX, touch, chmodR, chmodNoX}
	for _, tc := range []struct {
		rule string
		kind baseline.Kind
		want *sysRec
	}{
		{policy.RuleExecBitSet, baseline.Modified, chmodR},
		{policy.RuleModeChanged, baseline.Modified, chmodNoX},
		{policy.RuleTimestomp, baseline.Modified, touch},
		{policy.RuleFileCreated, baseline.Created, create},
		{policy.RuleExecBitSet, baseline.Created, create},
		{policy.RuleContentChanged, baseline.Modified, create},
		{policy.RuleOwnerChanged, baseline.Modified, nil},
	} {
		if got := maker(recs, wantOf(tc.rule, tc.kind), tc.rule); got != tc.want {
			t.Errorf("%s (%s): got %+v, want %+v", tc.rule, tc.kind, got, tc.want)
		}
	}
	if got := primary(recs, &baseline.Entry{}); got != chmodNoX {
		t.Errorf("primary: %+v, want the last mode change", got)
	}
	rm := rec(6, 60, attrib.Touch{Path: p, Want: attrib.WantRemove})
	if got := primary(append(recs, rm), nil); got != rm {
		t.Errorf("primary of a deletion: %+v, want the unlink", got)
	}
}

// A file created, made executable and removed within transientAfter is transient once, with the
// mode it had; one that lived longer is not.
func TestSysLogTransient(t *testing.T) {
	l := newSysLog(nil)
	add := func(p string, r *sysRec) {
		sp := l.paths[p]
		if sp == nil {
			sp = &sysPath{}
			l.paths[p] = sp
		}
		sp.recs = append(sp.recs, r)
	}
	p := "/etc/cron.daily/y"
	add(p, rec(1, 1e9, attrib.Touch{Path: p, Want: attrib.WantCreate | attrib.WantWrite, Mode: unix.S_IFREG | 0o600, HaveMode: true}))
	add(p, rec(1, 1e9+10, attrib.Touch{Path: p, Want: attrib.WantMode, Mode: 0o755, HaveMode: true}))
	add(p, rec(2, 1e9+1e6, attrib.Touch{Path: p, Want: attrib.WantRemove}))
	c, r, mode, ok := l.transient(p)
	if !ok || c.c.PID != 1 || r.c.PID != 2 || mode != unix.S_IFREG|0o755 {
		t.Fatalf("transient: %v %+v %+v %o", ok, c, r, mode)
	}
	if _, _, _, ok := l.transient(p); ok {
		t.Error("the same create reported twice")
	}
	q := "/etc/cron.daily/z"
	add(q, rec(1, 1e9, attrib.Touch{Path: q, Want: attrib.WantCreate, Mode: unix.S_IFREG | 0o755, HaveMode: true}))
	add(q, rec(2, 1e9+uint64(transientAfter)+1, attrib.Touch{Path: q, Want: attrib.WantRemove}))
	if _, _, _, ok := l.transient(q); ok {
		t.Error("a file that lived longer than transientAfter reported transient")
	}
}

// feedDirs: every watched directory at level 0, and a pattern's deepest existing ancestor with
// the levels down to the pattern's directory.
func TestFeedDirs(t *testing.T) {
	root := t.TempDir()
	pol, err := policy.Load("test", []byte(`version: 1
locations:
  - id: ssh
    paths: ["/home/*/.ssh/authorized_keys"]
    category: ssh
    use: config
  - id: units
    paths: ["/home/*/.config/systemd/user/**"]
    category: systemd
    use: executed
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"home/alice"} {
		if err := os.MkdirAll(root+"/"+d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]uint32{}
	live := map[string]bool{}
	for _, d := range feedDirs(root, pol, []string{root + "/home", root + "/etc/cron.d"}, map[string]bool{root + "/etc/cron.d": true}) {
		if v, ok := got[d.Path]; !ok || d.Below > v {
			got[d.Path] = d.Below
		}
		live[d.Path] = live[d.Path] || d.Live
	}
	// A directory a backend watches is live; a polled one is not: its changes must wake the
	// feed's reader.
	if !live[root+"/home"] || live[root+"/etc/cron.d"] {
		t.Errorf("live %v: want %s/home live and the polled %s/etc/cron.d not", live, root, root)
	}
	// /home/*/.config/systemd/user is 4 levels below /home, and one more for a subdirectory.
	if got[root+"/home"] != 5 {
		t.Errorf("feed dirs %v: want %s/home covering 5 levels", got, root)
	}
	if err := os.MkdirAll(root+"/home/alice/.config/systemd/user", 0o755); err != nil {
		t.Fatal(err)
	}
	got = map[string]uint32{}
	for _, d := range feedDirs(root, pol, nil, nil) {
		got[d.Path] = max(got[d.Path], d.Below)
	}
	if got[root+"/home/alice/.config/systemd/user"] != attrib.MaxBelow {
		t.Errorf("feed dirs %v: want the existing recursive directory with every level below it", got)
	}
}

func TestOnTheWay(t *testing.T) {
	targets := []policy.Target{{Path: "/home/*/.ssh/authorized_keys*"}, {Path: "/home/*/.config/systemd/user", Dir: true, Recursive: true}}
	for d, want := range map[string]bool{
		"/home": true, "/home/alice": true, "/home/alice/.ssh": true, "/home/alice/.cache": false,
		"/home/alice/.config/systemd/user/sub": true, "/home/alice/.ssh/x": false, "/etc": false,
	} {
		if got := onTheWay(d, targets); got != want {
			t.Errorf("onTheWay(%s) = %v, want %v", d, got, want)
		}
	}
}

// The log drops records older than sysKeep as new ones come, in the order they were filed, and
// stays within sysMaxPaths paths under a flood of distinct paths however young they are.
func TestSysLogExpire(t *testing.T) {
	l := newSysLog(nil)
	chmod := func(p string, ns uint64) {
		l.add(&attrib.FileChange{Call: attrib.CallFchmod, ByFD: true, Base: p, BootNS: ns, Args: [6]uint64{3, 0o755}})
	}
	chmod("/etc/cron.daily/old", 1e9)
	chmod("/etc/cron.daily/kept", 1e9+uint64(sysKeep)/2)
	if len(l.paths) != 2 {
		t.Fatalf("%d paths, want 2: %v", len(l.paths), l.paths)
	}
	chmod("/etc/cron.daily/new", 1e9+uint64(sysKeep)+1)
	if l.paths["/etc/cron.daily/old"] != nil || l.paths["/etc/cron.daily/kept"] == nil || l.paths["/etc/cron.daily/new"] == nil {
		t.Fatalf("after sysKeep: %v", l.paths)
	}
	// A flood within sysKeep: the oldest go first, the bound holds, the newest is there.
	base := uint64(10 * time.Hour)
	for i := 0; i < 3*sysMaxPaths; i++ {
		chmod(fmt.Sprintf("/etc/cron.daily/f%d", i), base+uint64(i))
		if len(l.paths) > sysMaxPaths+1 {
			t.Fatalf("%d paths after %d records", len(l.paths), i+1)
		}
	}
	last := fmt.Sprintf("/etc/cron.daily/f%d", 3*sysMaxPaths-1)
	if l.paths[last] == nil || l.paths["/etc/cron.daily/f0"] != nil {
		t.Errorf("the newest must stay and the oldest go: %v %v", l.paths[last], l.paths["/etc/cron.daily/f0"])
	}
	if len(l.filed)-l.head > 2*sysMaxPaths {
		t.Errorf("%d filed entries kept for %d paths", len(l.filed)-l.head, len(l.paths))
	}
}
