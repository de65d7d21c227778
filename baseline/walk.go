package baseline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Tree tells Walk which paths a policy selects. A Tree stands for one directory; Walk never lists
// or descends into a directory for which no Tree exists. Implementations must be safe to use from
// the single goroutine that runs Walk.
type Tree interface {
	// Probe returns the names worth looking up in this directory, or all=true when it must be
	// listed (a wildcard can match any name). Names are single file names: "", ".", ".." or a
	// name with a slash is reported as a Visit with Err and never looked up.
	Probe() (names []string, all bool)
	// Child says what the policy makes of the child name: the location that owns it (empty when
	// it is not selected) or that it is ignored, and the Tree for its descendants (nil when nothing
	// below it can be selected).
	Child(name string) (sel Selection, next Tree)
}

// Selection is a policy's verdict on one path.
type Selection struct {
	Location string // id of the owning location; "" when the path itself is not selected
	Ignored  bool   // the name matches an ignore pattern: counted, not observed
}

// Visit is one path Walk found. Entry carries the statx result (no hash yet: call Hash, which may
// run on another goroutine). Every Visit holds its directory open until Release is called.
type Visit struct {
	Entry Entry
	// Err is set when the path could not be observed (stat failed) or, with Unlisted, when the
	// directory could not be opened or listed. Entry.Path names the path either way.
	Err error
	// Unlisted means the directory's descendants are unknown: nothing under it may be taken as
	// deleted.
	Unlisted bool
	// Ignored means the policy ignores the name; Entry has only Path and Location.
	Ignored bool

	dir  *dirRef
	name string
}

// Hash sets Entry.SHA256 and Entry.HashState for a regular file, reading at most maxBytes
// (see Stat) through buf. It returns an error that names the path when the file could not be read
// completely and consistently; Entry.HashState then says why.
func (v *Visit) Hash(maxBytes int64, buf []byte) error {
	if v.dir == nil || v.Err != nil || v.Entry.Type != TypeFile {
		return nil
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxHashBytes
	}
	if err := hashAt(v.dir.fd, v.name, &v.Entry, maxBytes, buf); err != nil {
		return &PathError{Path: v.Entry.Path, Err: err}
	}
	return nil
}

// HashContent is Hash that also returns the file's bytes when it is at most keepMax bytes long:
// the very bytes hashed, read once (nil for a larger file, or when the hash did not end HashOK).
func (v *Visit) HashContent(maxBytes int64, buf []byte, keepMax int64) ([]byte, error) {
	if v.dir == nil || v.Err != nil || v.Entry.Type != TypeFile {
		return nil, nil
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxHashBytes
	}
	data, err := hashKeepAt(v.dir.fd, v.name, &v.Entry, maxBytes, buf, keepMax)
	if err != nil {
		return nil, &PathError{Path: v.Entry.Path, Err: err}
	}
	return data, nil
}

// Release lets the directory of the Visit be closed. Calling it more than once is harmless.
func (v *Visit) Release() {
	if v.dir != nil {
		v.dir.release()
		v.dir = nil
	}
}

type dirRef struct {
	fd   int
	refs atomic.Int32
}

func (d *dirRef) acquire() *dirRef { d.refs.Add(1); return d }
func (d *dirRef) release() {
	if d.refs.Add(-1) == 0 {
		unix.Close(d.fd)
	}
}

// MaxDepth bounds how deep Walk descends, against bind-mount loops; deeper directories are
// reported as errors, not skipped silently.
const MaxDepth = 512

// Walk visits every path that tree selects under root ("" or "/" for the host), calling fn for
// each in the byte order of the logical paths, so that the visits can be merged with a list sorted
// the same way. Symlinks are never followed: a symlinked directory is visited as a symlink.
// Errors about single paths reach fn as Visits with Err set and do not stop the walk; Walk returns
// only fn's error, ctx's error, or an error opening root itself.
func Walk(ctx context.Context, root string, tree Tree, fn func(*Visit) error) error {
	fd, err := openRoot(root)
	if err != nil {
		return err
	}
	d := &dirRef{fd: fd}
	d.refs.Store(1)
	defer d.release()
	w := walker{ctx: ctx, fn: fn, root: tree}
	return w.dir(d, "/", tree, 0)
}

type walker struct {
	ctx  context.Context
	fn   func(*Visit) error
	root Tree
}

type walkItem struct {
	key      string // name, or name+"/" for the descent into a directory
	name     string
	entry    Entry
	err      error
	sel      Selection
	next     Tree
	descend  bool
	unlisted bool // what is below it is not known (an error item for a directory)
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

func (w *walker) dir(d *dirRef, logical string, tree Tree, depth int) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	names, all := tree.Probe()
	if all {
		var err error
		names, err = readNames(d.fd, logical)
		if err != nil {
			return w.emit(&Visit{Entry: Entry{Path: logical, Type: TypeDir}, Err: &PathError{Path: logical, Err: fmt.Errorf("list directory: %w", err)}, Unlisted: true})
		}
	}
	items := make([]walkItem, 0, len(names))
	for _, name := range names {
		sel, next := tree.Child(name)
		if sel.Location == "" && !sel.Ignored && next == nil {
			continue
		}
		p := join(logical, name)
		if !validName(name) {
			// Only a Tree's literal names can be like this (a directory listing never is): "..",
			// "." or "a/b" would lead the *at calls out of root or through a symlink.
			items = append(items, walkItem{key: name, name: name, entry: Entry{Path: p, Location: sel.Location}, err: errBadName})
			continue
		}
		if sel.Ignored {
			if !all {
				// A literal name is only a guess: count it as ignored only when it exists.
				if _, err := statAt(d.fd, name); errors.Is(err, unix.ENOENT) {
					continue
				}
			}
			items = append(items, walkItem{key: name, name: name, entry: Entry{Path: p, Location: sel.Location}, sel: sel})
			continue
		}
		e, err := statAt(d.fd, name)
		if errors.Is(err, unix.ENOENT) {
			// Not there (a location that does not exist here) or gone since the listing.
			continue
		}
		e.Path = p
		e.Location = sel.Location
		if err == nil && e.Type == TypeSymlink {
			e.Target, err = readlinkAt(d.fd, name)
			if err == nil && sel.Location == "" && next != nil && !covers(w.root, linkTarget(p, e.Target), next) {
				// The policy names locations below it that the walk of its target does not
				// reach: say so rather than report nothing (an image whose /etc links elsewhere,
				// or to /usr; a ~/.config that links to ~/.kde).
				items = append(items, walkItem{key: name, name: name, entry: e, unlisted: true,
					err: fmt.Errorf("is a symbolic link to %s, which tripline never follows: the locations below it were not scanned (scan the tree it points to)", QuotePath(e.Target))})
				continue
			}
		}
		if sel.Location != "" || err != nil {
			items = append(items, walkItem{key: name, name: name, entry: e, err: err, sel: sel})
		}
		if err == nil && e.Type == TypeDir && next != nil {
			items = append(items, walkItem{key: name + "/", name: name, entry: e, next: next, descend: true})
		}
	}
	// The items are large: their order is sorted, not they (sort.Slice moving them through
	// reflection was 5% of a check's CPU).
	order := make([]int32, len(items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(items[a].key, items[b].key) })
	for _, i := range order {
		it := &items[i]
		if !it.descend {
			v := &Visit{Entry: it.entry, Ignored: it.sel.Ignored}
			if it.err != nil {
				v.Err, v.Unlisted = &PathError{Path: it.entry.Path, Err: it.err}, it.unlisted
			} else if !it.sel.Ignored {
				v.dir, v.name = d.acquire(), it.name
			}
			if err := w.emit(v); err != nil {
				return err
			}
			continue
		}
		p := it.entry.Path
		if depth+1 >= MaxDepth {
			if err := w.emit(&Visit{Entry: it.entry, Err: &PathError{Path: p, Err: fmt.Errorf("deeper than %d directories: not descended", MaxDepth)}, Unlisted: true}); err != nil {
				return err
			}
			continue
		}
		fd, err := openDirAt(d.fd, it.name)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed since the stat: its descendants are gone too
			}
			if err := w.emit(&Visit{Entry: it.entry, Err: &PathError{Path: p, Err: fmt.Errorf("open directory: %w", err)}, Unlisted: true}); err != nil {
				return err
			}
			continue
		}
		child := &dirRef{fd: fd}
		child.refs.Store(1)
		err = w.dir(child, p, it.next, depth+1)
		child.release()
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) emit(v *Visit) error {
	// Checked before every visit, not only per directory: a large directory must not keep fn
	// running after the caller gave up.
	if err := w.ctx.Err(); err != nil {
		v.Release()
		return err
	}
	if err := w.fn(v); err != nil {
		v.Release()
		return err
	}
	return nil
}

// linkTarget is the logical path a symlink at logical path p points to (under root: an absolute
// target is taken from root, as the system in the tree would).
func linkTarget(p, target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return path.Join(path.Dir(p), target)
}

// covers reports whether the walk of tree reaches, under logical path p, every location that link
// (the Tree below a symlinked directory) names below the symlink: then what the system finds
// through the link is scanned under its target's name, and the link is no gap. That is merged
// /usr: /lib -> usr/lib, with /lib/systemd/system/** and /usr/lib/systemd/system/** both in the
// policy. A target the tree walks at all is not enough: /etc -> usr leads to no /usr/cron.d.
func covers(tree Tree, p string, link Tree) bool {
	for _, name := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			return subsumes(link, nil) // out of root: a path the tree cannot name
		}
		_, next := tree.Child(name)
		if next == nil {
			return subsumes(link, nil)
		}
		tree = next
	}
	return subsumes(link, tree)
}

// subsumes reports whether target (nil: nothing below it is walked) walks every name link would:
// each literal name link probes that it selects or descends into is selected, and descended into
// as deeply, under target too; a wildcard level of link needs one of target (what matches below
// a wildcard cannot be enumerated, so the levels below it are not compared).
func subsumes(link, target Tree) bool {
	names, all := link.Probe()
	if all {
		if target == nil {
			return false
		}
		_, tall := target.Probe()
		return tall
	}
	for _, name := range names {
		sel, next := link.Child(name)
		if sel.Ignored || (sel.Location == "" && next == nil) {
			continue
		}
		var tsel Selection
		var tnext Tree
		if target != nil {
			tsel, tnext = target.Child(name)
		}
		if sel.Location != "" && (tsel.Location == "" || tsel.Ignored) {
			return false
		}
		if next != nil && !subsumes(next, tnext) {
			return false
		}
	}
	return true
}

// errBadName is the error of a Visit for a name from a Tree that is not one path component.
var errBadName = errors.New("not a single file name (a policy tree named it): not looked up")

func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsRune(name, '/')
}

// readNames lists the directory open at fd. It lists through a duplicate so that the os.File
// doing the work can be closed (and finalized) without closing fd, which *at calls still use.
func readNames(fd int, logical string) ([]string, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), logical)
	defer f.Close()
	return f.Readdirnames(-1)
}
