package pkgdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Options configure Load.
type Options struct {
	// Keep, when set, selects the logical paths worth indexing (those of the policy's locations);
	// the others are not kept, which keeps the index small.
	Keep *Filter
}

// mergedDirs are the top-level directories that a merged-/usr root makes symlinks into /usr.
var mergedDirs = []string{"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}

// Load reads the package databases under root ("" or "/" for the host). A root without any
// gives an empty Index and no error. The error reports what could not be read (a malformed
// stanza, an unreadable list); everything else is in the Index all the same.
func Load(ctx context.Context, root string, o Options) (*Index, error) {
	ix := &Index{root: root, files: map[string]File{}, keep: o.Keep, inflight: newInflight()}
	for _, d := range mergedDirs {
		if t, err := os.Readlink(join(root, d)); err == nil && path.Clean(path.Join("/", t)) == "/usr"+d {
			ix.merged = append(ix.merged, d)
		}
	}
	_, dpkgErr := ix.loadDpkg(root, o.Keep)
	_, rpmErr := ix.loadRPM(ctx, root, o.Keep)
	return ix, errors.Join(dpkgErr, rpmErr)
}

// Merged lists the root's merged-/usr directories ("/bin", "/lib"...).
func (ix *Index) Merged() []string { return ix.merged }

// Summary is one line on what was read: the sources, the file count, and any gap.
func (ix *Index) Summary() string {
	if ix.Empty() && len(ix.Gaps) == 0 {
		return "no package database (dpkg or rpm) under the root: files are not attributed to packages"
	}
	var b strings.Builder
	b.WriteString(strings.Join(ix.Sources, ", "))
	fmt.Fprintf(&b, ": %d paths in the policy's locations indexed", len(ix.files))
	for _, g := range ix.Gaps {
		b.WriteString("; not read: " + g.String())
	}
	return b.String()
}

// Filter selects the logical paths worth indexing: those under the literal part of a policy's
// path patterns (what comes before a pattern's first glob character), and the directories above
// them. Both merged-/usr spellings of a prefix are kept ("/lib/udev/" and "/usr/lib/udev/").
// Cheap enough to run on every path of a package database: one binary search, no allocation.
type Filter struct {
	pre []string // sorted; none is a prefix of another
}

// NewFilter returns the Filter of a list of path patterns.
func NewFilter(patterns []string) *Filter {
	var pre []string
	for _, p := range patterns {
		if i := strings.IndexAny(p, "*?[{\\"); i >= 0 {
			p = p[:i]
		}
		pre = append(pre, p)
		for _, d := range mergedDirs {
			if strings.HasPrefix(p, "/usr"+d+"/") {
				pre = append(pre, p[len("/usr"):])
			} else if strings.HasPrefix(p, d+"/") {
				pre = append(pre, "/usr"+p)
			}
		}
	}
	sort.Strings(pre)
	f := &Filter{}
	for _, p := range pre {
		if n := len(f.pre); n > 0 && strings.HasPrefix(p, f.pre[n-1]) {
			continue
		}
		f.pre = append(f.pre, p)
	}
	return f
}

// Keep reports whether the index keeps path p. A nil Filter keeps everything.
func (f *Filter) Keep(p []byte) bool {
	if f == nil {
		return true
	}
	// The largest prefix not above p is the only one that can be a prefix of p.
	i := sort.Search(len(f.pre), func(i int) bool { return f.pre[i] > string(p) })
	if i > 0 && len(p) >= len(f.pre[i-1]) && string(p[:len(f.pre[i-1])]) == f.pre[i-1] {
		return true
	}
	// p may be a directory above a prefix: the first prefix after p then starts with p + "/".
	if i < len(f.pre) {
		d := f.pre[i]
		return len(d) > len(p) && d[len(p)] == '/' && d[:len(p)] == string(p)
	}
	return false
}

// Cache holds the Index of a root and reloads it only when a package database changed: dpkg's
// status file (rewritten by every dpkg run that changes a package) and rpm's database files (with
// its write-ahead log). It is safe for concurrent use.
type Cache struct {
	root string
	o    Options

	mu    sync.Mutex
	stamp string
	ix    *Index
	err   error
	loads int
}

// NewCache returns a Cache of the package databases under root. It reads nothing until Index.
func NewCache(root string, o Options) *Cache { return &Cache{root: root, o: o} }

// Index returns the current Index, reloading it first when the databases changed since the last
// load. The error is the last load's (see Load): the Index is usable all the same.
func (c *Cache) Index(ctx context.Context) (*Index, error) {
	stamp := c.stampNow()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ix != nil && stamp == c.stamp {
		return c.ix, c.err
	}
	prev := c.ix
	c.ix, c.err = Load(ctx, c.root, c.o)
	c.stamp = stamp
	c.ix.cache, c.ix.stamp = c, stamp
	if prev != nil {
		c.ix.inflight = prev.inflight // the package files parsed are still what they were
	}
	// dpkg moves the control area it unpacks from (tmp.ci) into info/ before it records the new
	// version: while the package is still half-installed, what tmp.ci said stays the truth.
	if prev != nil && c.ix.pending == nil && prev.pending != nil && c.ix.unpacking[prev.pendingPkg()] {
		c.ix.pending = prev.pending
	}
	c.loads++
	return c.ix, c.err
}

// Loads returns how many times the index was read.
func (c *Cache) Loads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// stampNow identifies the current state of the database files: size, mtime, ctime and inode of
// each (a missing file stamps as missing).
func (c *Cache) stampNow() string {
	files := []string{DpkgAdmin + "/status", DpkgAdmin + "/updates", DpkgAdmin + "/diversions", DpkgAdmin + "/tmp.ci/control", DpkgAdmin + "/tmp.ci/md5sums"}
	for _, d := range RPMDirs {
		for _, f := range []string{"rpmdb.sqlite", "rpmdb.sqlite-wal", "Packages.db", "Packages"} {
			files = append(files, d+"/"+f)
		}
	}
	var b strings.Builder
	for _, f := range files {
		var st unix.Stat_t
		if err := unix.Stat(join(c.root, f), &st); err != nil {
			b.WriteString("-;")
			continue
		}
		fmt.Fprintf(&b, "%d.%d.%d.%d.%d.%d;", st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano(), st.Mode)
	}
	return b.String()
}
