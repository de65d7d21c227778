package baseline

import (
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"golang.org/x/sys/unix"
)

// tnode is a Tree for tests. A node stands for one path: loc is its location ("" when the path
// itself is not selected), kids are the literal names worth looking up below it, and any, when set,
// matches every name (the directory is then listed). ignore marks names that any matches as
// ignored.
type tnode struct {
	loc     string
	ignored bool
	kids    map[string]*tnode
	any     *tnode
	ignore  func(name string) bool
}

func (n *tnode) Probe() ([]string, bool) {
	if n.any != nil {
		return nil, true
	}
	names := make([]string, 0, len(n.kids))
	for name := range n.kids {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, false
}

func (n *tnode) Child(name string) (Selection, Tree) {
	k := n.kids[name]
	if k == nil {
		k = n.any
	}
	if k == nil {
		return Selection{}, nil
	}
	if n.ignore != nil && n.ignore(name) {
		return Selection{Location: k.loc, Ignored: true}, nil
	}
	sel := Selection{Location: k.loc, Ignored: k.ignored}
	if k.ignored || (k.any == nil && len(k.kids) == 0) {
		return sel, nil
	}
	return sel, k
}

// everything selects every path below it with location loc.
func everything(loc string) *tnode {
	n := &tnode{loc: loc}
	n.any = n
	return n
}

// rootAll is a Tree for the root directory that selects every path under it with location "loc".
func rootAll() *tnode { return &tnode{any: everything("loc")} }

// under selects everything under each prefix (the prefix itself included) with location loc; the
// directories leading to a prefix are walked through, not selected.
func under(loc string, prefixes ...string) *tnode {
	root := &tnode{kids: map[string]*tnode{}}
	for _, p := range prefixes {
		n := root
		segs := splitPath(p)
		for i, seg := range segs {
			if i == len(segs)-1 {
				n.kids[seg] = everything(loc)
				break
			}
			k := n.kids[seg]
			if k == nil {
				k = &tnode{kids: map[string]*tnode{}}
				n.kids[seg] = k
			}
			n = k
		}
	}
	return root
}

// literal builds a Tree that looks up exactly the given paths (no listing), each selected with
// location loc.
func literal(loc string, paths ...string) *tnode {
	root := &tnode{kids: map[string]*tnode{}}
	for _, p := range paths {
		n := root
		segs := splitPath(p)
		for i, seg := range segs {
			k := n.kids[seg]
			if k == nil {
				k = &tnode{kids: map[string]*tnode{}}
				n.kids[seg] = k
			}
			if i == len(segs)-1 {
				k.loc = loc
			}
			n = k
		}
	}
	return root
}

func splitPath(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }

// seen is what a test keeps of a Visit after releasing it.
type seen struct {
	Entry    Entry
	Err      error
	Unlisted bool
	Ignored  bool
}

// walkAll walks root with tree, releases every Visit and returns what it saw, in visit order.
func walkAll(t testing.TB, root string, tree Tree) []seen {
	t.Helper()
	var out []seen
	err := Walk(t.Context(), root, tree, func(v *Visit) error {
		out = append(out, seen{Entry: v.Entry, Err: v.Err, Unlisted: v.Unlisted, Ignored: v.Ignored})
		v.Release()
		return nil
	})
	if err != nil {
		t.Fatalf("Walk(%s): %v", root, err)
	}
	return out
}

func paths(vs []seen) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Entry.Path
	}
	return out
}

// byPath indexes the visits without an error by path (the last one wins).
func byPath(vs []seen) map[string]seen {
	m := map[string]seen{}
	for _, v := range vs {
		if v.Err == nil {
			m[v.Entry.Path] = v
		}
	}
	return m
}

// write creates the file rel under root (and its parents) with content and exactly mode perm.
func write(t testing.TB, root, rel, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(p, uint32(perm)); err != nil { // bypass the umask, keep setuid bits
		t.Fatal(err)
	}
	return p
}

func mkdir(t testing.TB, root, rel string, perm uint32) string {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// within runs fn on its own goroutine and fails the test when it has not returned after d: the
// code under test must never block on a FIFO, a socket or a device.
func within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v: it blocked", what, d)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

const nobody = 65534

// asNobody runs fn on a thread whose filesystem uid and gid are 65534 and waits for it. Changing
// the fsuid away from 0 clears CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from that
// thread's effective set (capabilities(7)), so permission checks apply to that thread as to an
// ordinary user, while the rest of the test keeps root. The goroutine exits with its thread still
// locked, so the runtime discards the thread instead of reusing it with that identity. fn must
// not start goroutines (they would run as root) and must not call t.Fatal.
func asNobody(t *testing.T, fn func()) {
	t.Helper()
	testenv.RequireRoot(t)
	done := make(chan string, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if err := unix.Setfsgid(nobody); err != nil {
			done <- "setfsgid: " + err.Error()
			return
		}
		if err := unix.Setfsuid(nobody); err != nil {
			done <- "setfsuid: " + err.Error()
			return
		}
		if cur, _ := unix.SetfsuidRetUid(-1); cur != nobody { // -1 changes nothing, returns the fsuid
			done <- "fsuid did not change"
			return
		}
		fn()
		done <- ""
	}()
	select {
	case msg := <-done:
		if msg != "" {
			t.Fatal(msg)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("code run as nobody did not return within 10s")
	}
}

// nobodyRoot returns a fresh temporary root that uid 65534 can reach: t.TempDir makes its
// directories 0700.
func nobodyRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{root, filepath.Dir(root)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
