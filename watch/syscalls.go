package watch

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// The file-change feed's records are joined with observations here. fanotify or inotify plus a
// stat stay the truth of what changed; the records say who asked for each part of it: the chmod
// that set the exec bit, the touch that set the time back, the install that created a file the
// rm removed before it could be stat'ed.

// Bounds of the records kept.
const (
	sysKeep        = 30 * time.Second // records older than this are dropped
	sysPerPath     = 64               // records kept per path
	sysMaxPaths    = 16384            // paths with records
	transientAfter = 2 * time.Second  // a file removed at most this long after its creation is transient
)

// sysRec is one path a recorded call named, and what it asked of it.
type sysRec struct {
	c *attrib.FileChange
	t attrib.Touch
	// used: a finding named this call's process already. A record is not spent by an
	// observation that saw nothing of it (the stat may have come just before the call), only
	// by the finding it explains.
	used bool
}

// sysPath is what is known of one path.
type sysPath struct {
	recs      []*sysRec // oldest first
	transient uint64    // BootNS of the create already reported as transient
}

// sysLog keeps the feed's records by host path until observations use them. Its methods are safe
// for concurrent use: the feed's reader adds, the loop joins.
type sysLog struct {
	feed *attrib.FileFeed

	mu      sync.Mutex
	paths   map[string]*sysPath
	watched map[string]bool // host directories a backend watches: their entries need no event
	// wants says whether a host path not in a watched directory is worth an event: a file a
	// location matches, a directory on the way to one. Set with the watched set.
	wants  func(host string, dir bool) bool
	events chan<- Event
	lost   uint64 // records that named an unwatched directory's entry and found the channel full
	// filed lists every (path, time) add filed, oldest first, from head on: expire walks it
	// from the front, so dropping old records costs what was added, not a scan of every path.
	filed []filedRec
	head  int
}

// filedRec is one record filed under path at boot.
type filedRec struct {
	path string
	boot uint64
}

func newSysLog(f *attrib.FileFeed) *sysLog {
	return &sysLog{feed: f, paths: map[string]*sysPath{}, watched: map[string]bool{}}
}

// run reads the feed into the log until the feed is closed.
func (l *sysLog) run(events chan<- Event) error {
	l.mu.Lock()
	l.events = events
	l.mu.Unlock()
	return l.feed.Run(l.add)
}

// add files one record under each path it names. A path in a directory no backend watches (one
// created a moment ago below a watched one) is also sent to the loop as an event, so it is
// observed now rather than at the next reconcile.
func (l *sysLog) add(c *attrib.FileChange) {
	touches := c.Touches()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range touches {
		l.expire(c.BootNS)
		sp := l.paths[t.Path]
		if sp == nil {
			sp = &sysPath{}
			l.paths[t.Path] = sp
		}
		l.filed = append(l.filed, filedRec{t.Path, c.BootNS})
		if len(sp.recs) >= sysPerPath {
			sp.recs = append(sp.recs[:0:0], sp.recs[1:]...)
		}
		sp.recs = append(sp.recs, &sysRec{c: c, t: t})
		dir, name := filepath.Dir(t.Path), filepath.Base(t.Path)
		isDir := t.HaveMode && t.Mode&unix.S_IFMT == unix.S_IFDIR
		if l.events == nil || l.watched[dir] || t.Path == "/" || l.wants == nil || !l.wants(t.Path, isDir) {
			continue
		}
		op := OpAttrib
		switch {
		case t.Want&attrib.WantCreate != 0:
			op = OpCreate
		case t.Want&attrib.WantRemove != 0:
			op = OpDelete
		case t.Want&attrib.WantWrite != 0:
			op = OpWrite
		}
		if isDir {
			op |= OpIsDir
		}
		select {
		case l.events <- Event{Dir: dir, Name: name, Op: op, PID: c.PID, PIDFD: -1, At: attrib.Now()}:
		default:
			l.lost++
		}
	}
}

// expire drops the records older than sysKeep, and the paths left with none, in the order they
// were filed; past sysMaxPaths paths it drops the oldest whatever their age, so the log stays
// bounded under a flood. Each filed record is looked at once: at 10,000 changes a second a scan
// of every path on each add was a quarter of the daemon's CPU. l.mu is held.
func (l *sysLog) expire(now uint64) {
	for l.head < len(l.filed) {
		f := l.filed[l.head]
		if f.boot+uint64(sysKeep) >= now && len(l.paths) <= sysMaxPaths {
			break
		}
		l.head++
		sp := l.paths[f.path]
		if sp == nil {
			continue
		}
		n := 0
		for n < len(sp.recs) && sp.recs[n].c.BootNS <= f.boot {
			n++
		}
		sp.recs = sp.recs[n:]
		if len(sp.recs) == 0 {
			delete(l.paths, f.path)
		}
	}
	if l.head > 4096 && l.head > len(l.filed)/2 {
		l.filed = append(l.filed[:0], l.filed[l.head:]...)
		l.head = 0
	}
}

// setWatched replaces the set of directories a backend watches, and what is worth an event.
func (l *sysLog) setWatched(dirs []string, wants func(host string, dir bool) bool) {
	m := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		m[d] = true
	}
	l.mu.Lock()
	l.watched, l.wants = m, wants
	l.mu.Unlock()
}

// onTheWay reports whether logical directory d is a target's directory or on the way to one:
// each of its components matches the pattern's at the same depth ("**" matches the rest).
func onTheWay(d string, targets []policy.Target) bool {
	dc := strings.Split(strings.Trim(d, "/"), "/")
	for _, t := range targets {
		dir := t.Path
		if !t.Dir {
			dir = path.Dir(t.Path)
		}
		pc := strings.Split(strings.Trim(dir, "/"), "/")
		ok := true
		for i, c := range dc {
			if i >= len(pc) {
				ok = t.Recursive
				break
			}
			if pc[i] == "**" {
				break
			}
			if m, err := path.Match(pc[i], c); err != nil || !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// unused returns the records of host path p no finding has used yet, oldest first.
func (l *sysLog) unused(p string) []*sysRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	sp := l.paths[p]
	if sp == nil {
		return nil
	}
	var out []*sysRec
	for _, r := range sp.recs {
		if !r.used {
			out = append(out, r)
		}
	}
	return out
}

// use marks records as spent by a finding.
func (l *sysLog) use(rs ...*sysRec) {
	l.mu.Lock()
	for _, r := range rs {
		if r != nil {
			r.used = true
		}
	}
	l.mu.Unlock()
}

// transient returns the create and the removal of host path p, when the last removal recorded
// followed a create by at most transientAfter and that create was not reported as transient
// yet; mode is the mode the file had (created with, or set to before the removal).
func (l *sysLog) transient(p string) (create, remove *sysRec, mode uint32, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sp := l.paths[p]
	if sp == nil {
		return nil, nil, 0, false
	}
	ri := -1
	for i := len(sp.recs) - 1; i >= 0; i-- {
		if sp.recs[i].t.Want&attrib.WantRemove != 0 {
			ri = i
			break
		}
	}
	ci := -1
	for i := ri - 1; i >= 0; i-- {
		if sp.recs[i].t.Want&attrib.WantCreate != 0 {
			ci = i
			break
		}
	}
	if ri < 0 || ci < 0 {
		return nil, nil, 0, false
	}
	c, r := sp.recs[ci], sp.recs[ri]
	if r.c.BootNS-c.c.BootNS > uint64(transientAfter) || sp.transient == c.c.BootNS {
		return nil, nil, 0, false
	}
	mode = c.t.Mode
	for i := ci + 1; i < ri; i++ {
		if t := sp.recs[i].t; t.Want&attrib.WantMode != 0 && t.HaveMode {
			mode = mode&unix.S_IFMT | t.Mode&0o7777
		}
	}
	sp.transient = c.c.BootNS
	return c, r, mode, true
}

// wantOf is what a call must have asked for to be the maker of a change a rule fired on.
func wantOf(rule string, kind baseline.Kind) int {
	switch rule {
	case policy.RuleExecBitSet, policy.RuleSetuidSet, policy.RuleSetgidSet, policy.RuleWorldWritable, policy.RuleModeChanged:
		if kind == baseline.Created {
			return attrib.WantCreate
		}
		return attrib.WantMode
	case policy.RuleExecutableCreated, policy.RuleFileCreated, policy.RuleTypeChanged, policy.RuleSymlinkRetargeted:
		return attrib.WantCreate
	case policy.RuleTimestomp:
		if kind == baseline.Created {
			return attrib.WantTimes | attrib.WantCreate // it arrived with the forged time (mv, cp -p)
		}
		return attrib.WantTimes
	case policy.RuleOwnerChanged:
		return attrib.WantOwner
	case policy.RuleContentChanged:
		return attrib.WantWrite | attrib.WantCreate
	case policy.RuleFileDeleted:
		return attrib.WantRemove
	case policy.RuleMountOver:
		return attrib.WantMount
	}
	return 0
}

// maker returns the last record that asked for want; for a mode rule, preferably one that asked
// for the bits the rule is about.
func maker(recs []*sysRec, want int, rule string) *sysRec {
	var best *sysRec
	for _, r := range recs {
		if r.t.Want&want == 0 {
			continue
		}
		if rule == policy.RuleExecBitSet && want == attrib.WantMode && r.t.HaveMode && r.t.Mode&0o111 == 0 && best != nil {
			continue // a later chmod that kept no exec bit did not set it
		}
		best = r
	}
	return best
}

// primary is the record whose actor goes into the history row, before the policy has judged
// the change: the first by what the row will most likely be about.
func primary(recs []*sysRec, cur *baseline.Entry) *sysRec {
	order := []int{attrib.WantMode, attrib.WantCreate, attrib.WantTimes, attrib.WantOwner, attrib.WantWrite, attrib.WantMount, attrib.WantRemove}
	if cur == nil {
		order = []int{attrib.WantRemove}
	}
	for _, w := range order {
		if r := maker(recs, w, ""); r != nil {
			return r
		}
	}
	if len(recs) > 0 {
		return recs[len(recs)-1]
	}
	return nil
}

// sysActor is the actor of a recorded call: the exec cache's record of its process at the time
// of the call, with the working directory and ids the call was made with.
func (w *Watcher) sysActor(r *sysRec) *proc.Actor {
	a := w.attr.Resolve(r.c.PID, r.c.BootNS, -1)
	var p proc.Process
	if a.Process != nil {
		p = *a.Process
	} else {
		p = proc.Process{PID: r.c.PID, PPID: r.c.PPID, Name: r.c.Comm, LoginUID: -1, SessionID: -1}
		a.Ancestors = nil
		if r.c.PPID > 0 {
			pa := w.attr.Resolve(r.c.PPID, r.c.BootNS, -1)
			if pa.Process != nil {
				a.Ancestors = append([]proc.Process{*pa.Process}, pa.Ancestors...)
			}
		}
	}
	p.PPID = r.c.PPID
	p.UID, p.GID, p.EUID, p.EGID = int32(r.c.UID), int32(r.c.GID), int32(r.c.EUID), int32(r.c.EGID)
	p.Cwd = r.c.Cwd // at the call, or none: never the start-time one
	return &proc.Actor{Attribution: proc.AttrSyscall, PID: r.c.PID, Process: &p, Ancestors: a.Ancestors}
}

// syncFeed waits (boundedly) until the file-change records made before now are in the log, and
// opens a gap when the kernel had to drop records since the last call: the changes are still
// observed, but who made them may not be known. The exec feed is synced in either case, after
// the file-change feed: the exec records of the processes its records name.
func (w *Watcher) syncFeed(ctx context.Context) error {
	if w.sys == nil {
		w.attr.Sync()
		return nil
	}
	w.sys.feed.Sync()
	w.attr.Sync()
	drops := w.sys.feed.Drops()
	w.sys.mu.Lock()
	drops += w.sys.lost
	w.sys.mu.Unlock()
	if drops == w.sysDrops {
		return nil
	}
	n := drops - w.sysDrops
	w.sysDrops = drops
	w.o.Log.Warn("the file-change feed lost records: the actors of some changes are not known", "lost", n)
	return w.openGap(context.WithoutCancel(ctx), time.Now().UnixNano(), "feed-overflow",
		fmt.Sprintf("the file-change feed lost %d records (ring buffer or event queue full)", n))
}

// startFeed runs the file-change feed's reader into the loop's channel; the returned function
// closes the feed and waits for the reader.
func (w *Watcher) startFeed(events chan<- Event) func() {
	if w.sys == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := w.sys.run(events); err != nil {
			w.o.Log.Error("the file-change feed stopped", "err", err)
		}
	}()
	return func() {
		w.sys.feed.Close()
		<-done
		w.sys.mu.Lock()
		lost := w.sys.lost
		w.sys.mu.Unlock()
		// What the feed saw over the daemon's life: received plus lost is every traced call in
		// a watched directory.
		w.o.Log.Info("the file-change feed stopped", "received", w.sys.feed.Received(),
			"lost", w.sys.feed.Drops()+lost, "malformed", w.sys.feed.Malformed())
	}
}

// feedRemarked gives the file-change feed the directories watched now.
func (w *Watcher) feedRemarked() {
	if w.sys == nil {
		return
	}
	dirs := make([]string, 0, len(w.dirs.dirs))
	for d := range w.dirs.dirs {
		dirs = append(dirs, d)
	}
	// A polled directory's changes are seen at its next rescan: the records make them events
	// now, as for a directory no backend watches.
	polled := map[string]bool{}
	for _, d := range w.dirs.unlive() {
		polled[d] = true
	}
	live := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if !polled[d] {
			live = append(live, d)
		}
	}
	pol, root := w.policy(), w.root
	targets := pol.Targets()
	w.sys.setWatched(live, func(host string, dir bool) bool {
		logical := w.logical(host)
		if root != "/" && !strings.HasPrefix(host, root+"/") {
			return false
		}
		if dir {
			return onTheWay(logical, targets)
		}
		return pol.Match(logical) != nil
	})
	if err := w.sys.feed.SetDirs(feedDirs(w.root, w.policy(), dirs, polled)); err != nil {
		w.o.Log.Warn("the file-change feed's directories could not be set: actors come from the events alone", "err", err)
	}
}

// actorOf is the actor of the change observed at logical path p: the maker the file-change
// feed recorded, else what the event's backend tells (actor).
func (w *Watcher) actorOf(pe *pending, cur *baseline.Entry) *proc.Actor {
	if w.sys != nil {
		recs := w.sys.unused(w.host(pe.logical)) // the batch synced the feed after its stats
		w.joined[pe.logical] = recs
		if r := primary(recs, cur); r != nil {
			return w.sysActor(r)
		}
	}
	return w.batchActor(pe)
}

// split makes one Change per (rule, actor) pair: each hit goes to the process whose call asked
// for what the rule is about, as the file-change records of the path tell it.
func (w *Watcher) split(pol *policy.Policy, c Change) []Change {
	if w.sys == nil {
		return []Change{c}
	}
	recs := w.joined[c.Finding.Change.Path]
	type group struct {
		actor *proc.Actor
		hits  []policy.Hit
	}
	// The batch (or the reconcile) synced the feed after its stats: a call whose effect the
	// stat saw has its record in the log.
	makers := make([]*sysRec, len(c.Finding.Hits))
	for i, h := range c.Finding.Hits {
		makers[i] = maker(recs, wantOf(h.Rule, c.Finding.Change.Kind), h.Rule)
	}
	var groups []*group
	var own *group // the hits no record explains keep the change's own actor
	byPID := map[int32]*group{}
	for i, h := range c.Finding.Hits {
		r := makers[i]
		var g *group
		if r == nil {
			if own == nil {
				// One finding per process: the change's own actor may be a process a record
				// names for another rule.
				if own = byPID[c.Actor.PID]; own == nil || c.Actor.PID == 0 {
					own = &group{actor: c.Actor}
					groups = append(groups, own)
					if c.Actor.PID != 0 {
						byPID[c.Actor.PID] = own
					}
				}
			}
			g = own
		} else if g = byPID[r.c.PID]; g == nil {
			g = &group{actor: w.sysActor(r)}
			byPID[r.c.PID] = g
			groups = append(groups, g)
		}
		w.sys.use(r)
		g.hits = append(g.hits, h)
	}
	if len(groups) == 1 {
		c.Actor = groups[0].actor
		c.Finding = pol.Regroup(c.Finding, groups[0].hits, c.Actor)
		return []Change{c}
	}
	out := make([]Change, 0, len(groups))
	for _, g := range groups {
		d := c
		d.Actor = g.actor
		d.Finding = pol.Regroup(c.Finding, g.hits, g.actor)
		out = append(out, d)
	}
	return out
}

// transientOf records and returns the finding for a file at logical path o.Path that the feed
// saw created and removed within transientAfter, observed as gone.
func (w *Watcher) transientOf(ctx context.Context, tx *store.Tx, pol *policy.Policy, o journal.Observation) (*Change, error) {
	if w.sys == nil || o.Cur != nil {
		return nil, nil
	}
	loc := w.match(pol, o.Path)
	if loc == nil {
		return nil, nil
	}
	create, remove, mode, ok := w.sys.transient(w.host(o.Path))
	if !ok {
		return nil, nil
	}
	typ := baseline.TypeFile
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		typ = baseline.TypeDir
	case unix.S_IFLNK:
		typ = baseline.TypeSymlink
	case unix.S_IFREG, 0:
	default:
		typ = baseline.TypeUnknown
	}
	e := &baseline.Entry{Path: o.Path, Location: loc.ID, Type: typ, Mode: mode & 0o7777, UID: create.c.EUID, GID: create.c.EGID}
	actor := w.sysActor(create)
	life := time.Duration(remove.c.BootNS - create.c.BootNS).Round(time.Microsecond).String()
	f, fired := pol.Transient(baseline.Change{Path: o.Path, Kind: baseline.Created, New: e}, loc, actor, life)
	if !fired {
		return nil, nil
	}
	n := o
	n.Actor = actor
	if err := journal.Noted(ctx, tx, &f, n); err != nil {
		return nil, fmt.Errorf("record transient %s: %w", baseline.QuotePath(o.Path), err)
	}
	return &Change{Finding: f, Source: store.SourceEvent, Actor: actor, ReadNS: o.ReadNS}, nil
}

// reconciled is what a change a reconcile found is emitted as: one Change per (rule, actor) pair
// the file-change records explain, the rest by nobody.
func (w *Watcher) reconciled(pol *policy.Policy, f policy.Finding) []Change {
	nobody := &proc.Actor{Attribution: proc.AttrNone, Why: "found by reconciliation: the change happened while no event could be read"}
	c := Change{Finding: f, Source: store.SourceReconcile, Actor: nobody}
	if w.sys == nil {
		return []Change{c}
	}
	w.joined = map[string][]*sysRec{f.Change.Path: w.sys.unused(w.host(f.Change.Path))}
	return w.split(pol, c)
}

// feedDirs is what the file-change feed watches: every directory a backend watches (live unless
// polled: a live one's records need not wake the feed's reader); every
// directory of a recursive pattern with all the levels below it (a subdirectory made a moment
// before a write in it); and, for a pattern whose directory does not exist yet, its deepest
// existing ancestor with the levels down to the pattern's directory (a new ~/.ssh below /home).
func feedDirs(root string, pol *policy.Policy, watched []string, polled map[string]bool) []attrib.WatchedDir {
	out := make([]attrib.WatchedDir, 0, len(watched))
	for _, d := range watched {
		out = append(out, attrib.WatchedDir{Path: d, Live: !polled[d]})
	}
	for _, t := range pol.Targets() {
		dir := t.Path
		if !t.Dir {
			dir = path.Dir(t.Path)
		}
		if t.Recursive {
			found, _ := baseline.Glob(root, dir)
			for _, e := range found {
				if e.Type == baseline.TypeDir {
					out = append(out, attrib.WatchedDir{Path: hostPath(root, e.Path), Below: attrib.MaxBelow})
				}
			}
		}
		near := nearestExisting(root, dir)
		if near == "/" && root == "/" {
			continue // the whole host: the directories appear, are marked, and count then
		}
		below := 0
		for p := dir; p != near && p != "/" && p != "."; p = path.Dir(p) {
			below++
		}
		if t.Recursive && below > 0 {
			below++ // and a subdirectory made inside it at once
		}
		if below > 0 {
			out = append(out, attrib.WatchedDir{Path: hostPath(root, near), Below: uint32(min(below, attrib.MaxBelow))})
		}
	}
	return out
}
