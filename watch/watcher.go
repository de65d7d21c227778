package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/pkgdb"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// Change is what the watcher emits: a judged change with where it came from and who made it, as
// far as the backend can tell.
type Change struct {
	Finding policy.Finding
	Source  store.Source // store.SourceEvent or SourceReconcile
	Caps    Caps         // what the backend could tell (no pid with inotify)
	// Actor is who made the change and how that is known; never nil (proc.AttrNone when nobody
	// is known).
	Actor *proc.Actor
	// ReadNS is when the kernel event was read (0 for a reconcile). Unrecorded says the change
	// is not in the history yet: the database could not be written (outage.go); it is recorded
	// when it can be, and not emitted again.
	ReadNS     int64
	Unrecorded bool
}

// Reconciler compares every location of pol with its last observation and records what changed
// as one run with source store.SourceReconcile (cmd/tripline gives it scan.Run). It returns the
// error of ctx when interrupted; nothing of the run is recorded then.
type Reconciler func(ctx context.Context, pol *policy.Policy) (*Reconciled, error)

// Reconciled is what a reconcile found.
type Reconciled struct {
	RunID   int64
	First   bool // the reconcile recorded the baseline (an empty database)
	Paths   int
	Changes []policy.Finding // the changes since the last observation that a rule fired on
	Errors  []error          // one per path that could not be observed completely
}

// Status is what the ready line reports.
type Status struct {
	Backend     string
	Caps        Caps
	Fallback    string // why the preferred backend was not used; "" when it was
	Locations   int
	Directories int
	Coverage    Counts // Directories by how each is watched
	Errors      int    // directories that could not be watched at all (each logged)
	// Unwatched lists the logical directories not watched live (polled), each also logged and
	// covered by an open gap.
	Unwatched []string
	// Mounts says how mount-table changes are seen ("mountinfo" or "fanotify+mountinfo"), and
	// why not when they are not ("" then).
	Mounts string
}

// Options configure a Watcher.
type Options struct {
	Root           string // "/" or "" for the host
	Policy         *policy.Policy
	DB             *store.DB
	Backend        string // auto, fanotify or inotify
	ReconcileEvery time.Duration
	MaxHashBytes   int64
	By             string
	Log            *slog.Logger
	// Emit receives every change that a rule fired on, after it was committed to the history,
	// in order, on a goroutine of its own while Run runs (the loop goes on meanwhile).
	Emit func(Change) error
	// EmitQueue bounds the changes waiting for Emit (0: emitQueue); past it the loop waits. A
	// negative one makes the loop call Emit itself (a test that holds the loop in Emit).
	EmitQueue int
	// Ready is called once every location is watched and the start-up reconcile is done.
	Ready func(Status)
	// Reloaded is called from the loop when a Reload is done: re-marked and reconciled.
	Reloaded func()
	// Alive is called from the loop every AliveEvery once it is ready, so a watchdog fed by it
	// stops being fed when the loop is stuck.
	Alive      func()
	AliveEvery time.Duration
	// Attribution is the exec cache that names the actors of events; nil: /proc alone, read
	// when an event is handled (with pidfds from fanotify to prove each read).
	Attribution *attrib.Cache
	// Reconcile is the full comparison run on start, after a gap and on the timer. Required.
	Reconcile Reconciler
	// Packages, when set, gives the package database index each observed file is verified
	// against (reloaded by the caller when the database changes); nil: no verification.
	Packages func(context.Context, *policy.Policy) *pkgdb.Index
	// Coverage puts logical directories on a coverage below the backend's ("inotify" or
	// "poll"), as if the backend could not watch them: for tests of the fallbacks, and for
	// directories known to be on a filesystem that reports changes badly.
	Coverage map[string]Coverage
	// PollEvery is how often directories no kernel backend can watch are rescanned
	// (DefaultPollEvery when 0).
	PollEvery time.Duration
	// FileFeed is the kernel's file-change feed (syscalls.go); nil: actors come from the events
	// alone. Run closes it when it returns.
	FileFeed *attrib.FileFeed
}

// Watcher is the daemon's loop. Create it with New; Run does the work.
type Watcher struct {
	o       Options
	root    string
	backend Backend
	caps    Caps
	status  Status
	emitq   chan<- Change // to the emitter, while Run runs

	mu     sync.Mutex
	pol    *policy.Policy
	reload chan struct{}
	dirs   *dirSet // the directories watched, each with its backend
	attr   *attrib.Cache

	contentFullSaid bool // the full content store was logged once

	matcher *policy.Matcher // the policy's per-directory match cache, for the current policy

	// A file mounted over a file of a location has its inode's parent elsewhere, so no mark sees
	// a change to it: the directory it is visible in is rescanned too, by a poller of its own.
	mountPoll  *poller
	mountFiles map[string]string // host mount point -> the directory mountPoll rescans for it

	g         outage // the database's availability and what waits for it (outage.go)
	startedNS int64  // when Run began

	sys      *sysLog              // the file-change feed's records (syscalls.go); nil without one
	sysDrops uint64               // the feed's losses already covered by a gap
	joined   map[string][]*sysRec // the unused records of each path of the observation under way
	// resolved holds the actors of the observation under way by (pid, read): the events of one
	// read by one process (a package manager, a script, a burst) share one actor, so its history
	// JSON is encoded once too (store.Tx.AddHistory).
	resolved map[readBy]*proc.Actor
}

// New returns a Watcher. It starts nothing.
func New(o Options) *Watcher {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if o.ReconcileEvery <= 0 {
		o.ReconcileEvery = time.Hour
	}
	if o.Backend == "" {
		o.Backend = "auto"
	}
	w := &Watcher{o: o, root: baseline.NormRoot(o.Root), pol: o.Policy, reload: make(chan struct{}, 1), attr: o.Attribution}
	if o.FileFeed != nil {
		w.sys = newSysLog(o.FileFeed)
	}
	return w
}

// Reload replaces the policy; the loop re-marks the directories and reconciles. Safe to call from
// another goroutine (the SIGHUP handler).
func (w *Watcher) Reload(p *policy.Policy) {
	w.mu.Lock()
	w.pol = p
	w.mu.Unlock()
	select {
	case w.reload <- struct{}{}:
	default:
	}
}

// packages is the package index to verify an observation against; nil when none is given.
func (w *Watcher) packages(ctx context.Context, pol *policy.Policy) *pkgdb.Index {
	if w.o.Packages == nil {
		return nil
	}
	return w.o.Packages(ctx, pol)
}

func (w *Watcher) policy() *policy.Policy {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pol
}

// openBackend opens the requested backend; auto prefers fanotify and says why it fell back.
func openBackend(name string, pidfds bool) (Backend, string, error) {
	switch name {
	case "fanotify":
		b, err := newFanotify(pidfds)
		if err != nil {
			return nil, "", err
		}
		return b, "", nil
	case "inotify":
		b, err := newInotify()
		return b, "", err
	case "auto":
		b, err := newFanotify(pidfds)
		if err == nil {
			return b, "", nil
		}
		if !errors.Is(err, ErrPermission) && !errors.Is(err, ErrNotSupported) {
			return nil, "", err
		}
		i, ierr := newInotify()
		if ierr != nil {
			return nil, "", errors.Join(err, ierr)
		}
		return i, err.Error(), nil
	}
	return nil, "", fmt.Errorf("backend %q: must be auto, fanotify or inotify", name)
}

func (w *Watcher) host(logical string) string { return hostPath(w.root, logical) }

// hostPath returns where logical path p is under root.
func hostPath(root, p string) string {
	if root == "/" {
		return p
	}
	if p == "/" {
		return root
	}
	return root + p
}

func (w *Watcher) logical(host string) string {
	if w.root == "/" {
		return host
	}
	l := strings.TrimPrefix(host, w.root)
	if l == "" {
		return "/"
	}
	return l
}

// Run watches until ctx is done, then drains what was read, commits and returns nil. It returns
// an error when the backend cannot be opened, fails its self-check, or the database fails.
func (w *Watcher) Run(ctx context.Context) error {
	if w.o.Reconcile == nil {
		return errors.New("watch: Options.Reconcile is not set")
	}
	if w.attr == nil {
		w.attr = attrib.NewCache(nil)
	}
	w.g.init()
	w.startedNS = time.Now().UnixNano()
	defer w.startEmitter()() // registered first, so it drains last: every change is out when Run returns
	// A write waits briefly for another process's lock, then the observation is queued: an
	// alert is never held back by the database (outage.go).
	if stopped, err := w.waitWritable(ctx, "set the write wait", func() error { return w.o.DB.SetWriteWait(ctx, writeWait) }); stopped || err != nil {
		return err
	}
	b, fallback, err := openBackend(w.o.Backend, w.attr.Feed() == attrib.FeedProc)
	if err != nil {
		return err
	}
	w.backend, w.caps = b, b.Caps()
	events := make(chan Event, 65536)
	rd := newReaders(events)
	defer rd.stop()
	rd.start(b)
	defer w.startFeed(events)()
	force := map[string]Coverage{}
	for d, c := range w.o.Coverage {
		force[w.host(path.Clean(d))] = c
	}
	w.dirs = newDirSet(b, w.o.PollEvery, force, rd.start, w.o.Log, w.logical)
	w.mountPoll, w.mountFiles = newPoller(w.o.PollEvery), map[string]string{}
	rd.start(w.mountPoll)
	mounts, mountsHow := w.openMounts()
	defer func() {
		if mounts != nil {
			mounts.close()
		}
	}()
	retryCtx, stopRetry := context.WithCancel(context.Background())
	retried := make(chan struct{})
	go func() { defer close(retried); w.retry(retryCtx, events) }()
	// Last first: the retry goroutine stops before the reader, and the heartbeat of a clean
	// stop is written once nothing else writes.
	defer func() { stopRetry(); <-retried; w.heartbeat(context.WithoutCancel(ctx)) }()

	if err := w.selfCheck(ctx, events); err != nil {
		return err
	}
	// The start gap runs from the last moment the previous daemon is known to have run.
	var since int64
	if stopped, err := w.waitWritable(ctx, "read the last heartbeat", func() error {
		var err error
		since, err = w.o.DB.LastAlive(ctx)
		return err
	}); stopped || err != nil {
		return err
	}
	if since == 0 || since > w.startedNS {
		since = w.startedNS
	}
	if stopped, err := w.waitWritable(ctx, "record the start gap", func() error {
		return w.writeGap(context.WithoutCancel(ctx), since, "daemon-start", "changes made while tripline watch was not running")
	}); stopped || err != nil {
		return err
	}
	w.status = Status{Backend: b.Name(), Caps: w.caps, Fallback: fallback, Locations: len(w.policy().Locations), Mounts: mountsHow}
	w.remark()
	if mounts != nil {
		for _, m := range mounts.last {
			w.trackFileMount(m.point, true)
		}
		// The table the mounts are compared with is the one the reconcile below sees.
		if err := mounts.start(); err != nil {
			w.o.Log.Warn("mounts over locations are not seen until a reconcile", "err", err)
			w.status.Mounts = ""
			mounts.close()
			mounts = nil
		}
	}
	if err := w.reconcile(ctx, "start"); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return w.drain(events) // stopped during the start-up reconcile: never say ready
	}
	if w.o.Ready != nil {
		w.o.Ready(w.status)
	}
	tick := time.NewTicker(w.o.ReconcileEvery)
	defer tick.Stop()
	var alive <-chan time.Time
	if w.o.Alive != nil && w.o.AliveEvery > 0 {
		t := time.NewTicker(w.o.AliveEvery)
		defer t.Stop()
		alive = t.C
	}
	for {
		select {
		case <-ctx.Done():
			// Stop the readers first, so that nothing they read after the drain began is left
			// in the channel.
			rd.stop()
			return w.drain(events)
		case err := <-rd.errs:
			return err
		case ch := <-mountsC(mounts):
			if ch == nil {
				// The table cannot be watched any more: say so, and let reconciles find what
				// mounts change from now on.
				w.o.Log.Warn("the mount table is not watched any more: mounts over locations are seen at the next reconcile", "err", mounts.err)
				mounts.close()
				mounts = nil
				continue
			}
			if err := w.mounted(ctx, ch); err != nil {
				return err
			}
		case e := <-events:
			if err := w.batch(ctx, e, events); err != nil {
				return err
			}
		case <-tick.C:
			w.remark() // retries directories that could not be watched
			if err := w.reconcile(ctx, "timer"); err != nil {
				return err
			}
		case <-w.reload:
			w.status.Locations = len(w.policy().Locations)
			w.o.Log.Info("policy reloaded", "locations", w.status.Locations)
			w.remark()
			if err := w.reconcile(ctx, "reload"); err != nil {
				return err
			}
			if w.o.Reloaded != nil {
				w.o.Reloaded()
			}
		case <-alive:
			w.o.Alive()
		}
	}
}

// drain handles the events already read when a stop was asked for, under a context that is not
// cancelled, so nothing read is lost.
func (w *Watcher) drain(events chan Event) error {
	// batch handles what was read under a context of its own that is never cancelled; the one it
	// is given says a stop was asked for, so it re-marks and reconciles nothing.
	ctx, stopped := context.WithCancel(context.Background())
	stopped()
	for {
		select {
		case e := <-events:
			if err := w.batch(ctx, e, events); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// selfCheck makes a change in a private temporary directory and waits for the backend to report
// it, so a daemon that says "ready" is known to receive events.
func (w *Watcher) selfCheck(ctx context.Context, events chan Event) error {
	// In $TMPDIR; where the backend cannot mark that filesystem (the directories there would go
	// to a fallback), in /run or /dev/shm.
	var dir string
	var errs []error
	for _, parent := range []string{os.TempDir(), "/run", "/dev/shm"} {
		d, err := os.MkdirTemp(parent, "tripline-canary-")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := w.backend.Add(d); err != nil {
			os.RemoveAll(d)
			errs = append(errs, err)
			if errors.Is(err, ErrNotSupported) {
				continue
			}
			break
		}
		dir = d
		break
	}
	if dir == "" {
		return fmt.Errorf("self-check: %w", errors.Join(errs...))
	}
	defer os.RemoveAll(dir)
	defer w.backend.Remove(dir)
	if err := os.WriteFile(filepath.Join(dir, "canary"), []byte("x"), 0o600); err != nil {
		return fmt.Errorf("self-check: %w", err)
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-events:
			ReleasePIDFD(e.PIDFD)
			if e.Dir == dir && e.Name == "canary" {
				if w.caps.PIDs && e.PID != int32(os.Getpid()) {
					return fmt.Errorf("self-check: %s reported pid %d for our own change (we are %d)", w.backend.Name(), e.PID, os.Getpid())
				}
				return nil
			}
		case <-deadline:
			return fmt.Errorf("self-check: no %s event for a change in %s within 5 s", w.backend.Name(), dir)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// remark brings the watched set in line with the policy and the filesystem.
func (w *Watcher) remark() {
	w.status.Errors = w.dirs.sync(wantedDirs(w.root, w.policy()))
	w.status.Directories = w.dirs.len()
	w.status.Coverage = w.dirs.counts()
	w.feedRemarked()
	w.status.Unwatched = nil // a new slice: the Ready callback may keep the last one
	for _, d := range w.dirs.unlive() {
		w.status.Unwatched = append(w.status.Unwatched, w.logical(d))
	}
}

// openGap records a gap; while the database is unavailable the outage's own gap covers it,
// starting no later than it does.
func (w *Watcher) openGap(ctx context.Context, startNS int64, reason, detail string) error {
	for {
		if w.g.cover(startNS, reason+": "+detail) {
			return nil
		}
		err := w.writeGap(ctx, startNS, reason, detail)
		if !w.unavailable(err, "") {
			return err
		}
	}
}

func (w *Watcher) writeGap(ctx context.Context, startNS int64, reason, detail string) error {
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.OpenGap(ctx, startNS, reason, detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.g.wrote(time.Now().UnixNano())
	return nil
}

// reconcile compares every location with its last observation, emits what changed, and closes
// the open gaps.
func (w *Watcher) reconcile(ctx context.Context, why string) error {
	if w.g.isDown() {
		// It could not record anything: the reconcile after the outage's end does it.
		w.o.Log.Info("reconcile put off until the database is writable again", "why", why)
		return nil
	}
	start := time.Now()
	res, err := w.o.Reconcile(ctx, w.policy())
	if err != nil && ctx.Err() != nil {
		// Stopped mid-way: nothing of it was recorded, and the open gap says a reconcile is due.
		w.o.Log.Info("reconcile interrupted; the gap stays open for the next start", "why", why)
		return nil
	}
	if w.unavailable(err, "a reconcile ("+why+") could not record") {
		return nil // the outage's gap stays open, and the reconcile after it is back closes it
	}
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	for _, perr := range res.Errors {
		w.o.Log.Warn("reconcile could not read a path", "err", perr)
	}
	if err := w.syncFeed(ctx); err != nil {
		return err
	}
	for _, f := range res.Changes {
		for _, c := range w.reconciled(w.policy(), f) {
			if err := w.emit(c); err != nil {
				return err
			}
		}
	}
	if err := w.closeGaps(context.WithoutCancel(ctx), start.UnixNano(), res.RunID); err != nil {
		if w.unavailable(err, "the gaps closed by reconcile run "+fmt.Sprint(res.RunID)+" could not be recorded closed") {
			return nil
		}
		return err
	}
	if w.status.Errors > 0 {
		// Directories that could not be watched are still not: their gap stays open.
		if err := w.openGap(context.WithoutCancel(ctx), time.Now().UnixNano(), "mark-failed", fmt.Sprintf("%d directories could not be watched", w.status.Errors)); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(w.mountFiles) {
		detail := fmt.Sprintf("%s is a file mounted over a location, not watched live, only rescanned every %v", baseline.QuotePath(w.logical(p)), w.mountPoll.every)
		if err := w.openGap(context.WithoutCancel(ctx), time.Now().UnixNano(), "polled", detail); err != nil {
			return err
		}
	}
	for _, d := range w.dirs.unlive() {
		// A polled directory is seen only at each rescan: what is undone in between is not.
		detail := fmt.Sprintf("%s is not watched live, only rescanned every %v: %s", baseline.QuotePath(w.logical(d)), w.dirs.poll.every, w.dirs.why[d])
		if err := w.openGap(context.WithoutCancel(ctx), time.Now().UnixNano(), "polled", detail); err != nil {
			return err
		}
	}
	w.o.Log.Info("reconciled", "why", why, "paths", res.Paths, "changes", len(res.Changes), "baseline_recorded", res.First, "dur", time.Since(start).Round(time.Millisecond))
	// A reconcile is the daemon's one large piece of work (a scan of every location): give its
	// memory back, so the daemon waits for the next event as small as it started.
	debug.FreeOSMemory()
	return nil
}

func (w *Watcher) emit(c Change) error {
	if w.o.Emit == nil {
		return nil
	}
	c.Caps = w.caps
	if c.Actor == nil {
		c.Actor = proc.Nobody()
	}
	if w.emitq != nil {
		w.emitq <- c
		return nil
	}
	return w.o.Emit(c)
}

// emitQueue bounds the changes handed to the emitter and not yet written: past it, the loop
// waits for the output.
const emitQueue = 4096

// startEmitter hands emitted changes to Options.Emit on a goroutine of its own, in the order
// they were emitted, and returns the function that waits until every one is written. Rendering
// and writing an event was a quarter of the loop's time: it now overlaps the next batch's stats
// and commit. A change is emitted only after its history row is committed (or queued in an
// outage), as before; an Emit error (a document that cannot be rendered) is logged, since the
// finding is recorded anyway.
func (w *Watcher) startEmitter() func() {
	if w.o.Emit == nil || w.o.EmitQueue < 0 {
		return func() {}
	}
	n := w.o.EmitQueue
	if n == 0 {
		n = emitQueue
	}
	ch := make(chan Change, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range ch {
			if err := w.o.Emit(c); err != nil {
				w.o.Log.Error("a finding could not be written out; it is in the history", "path", baseline.QuotePath(c.Finding.Change.Path), "err", err)
			}
		}
	}()
	w.emitq = ch
	return func() {
		close(ch)
		<-done
		w.emitq = nil
	}
}

// match returns the location that owns logical path p, through the policy's per-directory
// match cache (events name a child of a watched directory).
func (w *Watcher) match(pol *policy.Policy, p string) *policy.Location {
	if w.matcher == nil || w.matcher.Policy() != pol {
		w.matcher = pol.Matcher()
	}
	return w.matcher.Match(p)
}

// actor resolves who made the change of a pending path: through the exec cache when the backend
// gave a pid; by a recent process naming the path when it gave none (inotify) and a feed runs.
func (w *Watcher) actor(pe *pending) *proc.Actor {
	switch {
	case pe.pid != 0:
		a := w.attr.Resolve(pe.pid, pe.at, pe.pidfd)
		return &a
	case w.attr.Feed() != attrib.FeedProc:
		if a := w.attr.Guess(w.host(pe.logical), pe.at); a != nil {
			return a
		}
	}
	a := proc.Nobody()
	if pe.backend != "fanotify" {
		a.Why = pe.backend + " reports no pid" // the backend of the event's own directory
	}
	return a
}

// maxBatch bounds how many events one transaction handles.
const maxBatch = 4096

// pending is one path to observe, with the actor of the last event about it.
type pending struct {
	logical string
	backend string // what watches its directory: fanotify, inotify or poll
	pid     int32
	pidfd   int    // -1 when none
	at      uint64 // when that event was read (attrib.Now)
	readNS  int64  // the same, wall clock
}

// batch handles e and whatever else is already queued, in one transaction. Events about the same
// path are observed once (the stat sees the newest state anyway); the pid of the newest event is
// kept.
func (w *Watcher) batch(stop context.Context, first Event, events chan Event) error {
	// What was read is handled and committed even when a stop was asked for meanwhile; only a
	// reconcile (long, and safe to redo: its gap stays open) gives way to it.
	ctx := context.WithoutCancel(stop)
	var order []string
	byPath := map[string]*pending{}
	overflow, remark, back := false, false, false
	var overflowNS int64
	handle := func(e Event) {
		switch {
		case e.Op&opDatabaseBack != 0:
			back = true
			return
		case e.Op&OpOverflow != 0:
			if !overflow {
				overflowNS = w.g.overflowStart(e.At, w.startedNS)
			}
			overflow = true
			ReleasePIDFD(e.PIDFD)
			return
		case e.Op&OpSelfGone != 0:
			remark = true
		case e.Op&OpIsDir != 0 && e.Op&(OpCreate|OpMovedTo|OpMovedFrom|OpDelete) != 0:
			remark = true
		}
		logical := w.logical(e.Dir)
		if e.Name != "" {
			logical = path.Join(logical, e.Name)
		}
		if p, ok := byPath[logical]; ok {
			if e.PID != 0 {
				ReleasePIDFD(p.pidfd)
				p.pid, p.pidfd = e.PID, e.PIDFD
			} else {
				ReleasePIDFD(e.PIDFD)
			}
			p.at, p.readNS = e.At, w.g.noteRead(e.At)
			return
		}
		by := w.dirs.backend(e.Dir)
		if by == "" {
			by = w.backend.Name() // no longer watched
		}
		if e.PID == 0 && by == "fanotify" {
			// fanotify always has a pid: this is the rescan of a file mounted over a location
			// (or, rarely, the fallback's event about a directory fanotify has taken back).
			by = "poll"
		}
		byPath[logical] = &pending{logical: logical, backend: by, pid: e.PID, pidfd: e.PIDFD, at: e.At, readNS: w.g.noteRead(e.At)}
		order = append(order, logical)
	}
	defer func() {
		for _, p := range byPath {
			ReleasePIDFD(p.pidfd)
		}
	}()
	handle(first)
more:
	for n := 1; n < maxBatch; n++ {
		select {
		case e := <-events:
			handle(e)
		default:
			break more
		}
	}
	var reason, detail string
	gapNS := time.Now().UnixNano()
	switch {
	case overflow:
		// The paths in hand are a part of what changed: the reconcile sees all of it. The gap
		// starts at the read before the one that reported the overflow: events read then were
		// all received.
		w.o.Log.Warn("kernel event queue overflowed: changes may have been missed; reconciling", "backend", w.backend.Name())
		reason, detail, gapNS = "overflow", w.backend.Name()+" queue overflow", overflowNS
		if back {
			startNS, d := w.g.backGap()
			gapNS, detail = min(gapNS, startNS), detail+"; "+d
		}
	default:
		// Observe what was read first, with its actors, then deal with what it implies.
		lost, err := w.observe(ctx, order, byPath)
		if err != nil {
			return err
		}
		switch {
		case back:
			// The database is writable again and the queue is recorded: the outage is one gap,
			// closed by a reconcile that finds what the queue could not hold.
			reason = "database-unavailable"
			gapNS, detail = w.g.backGap()
			if remark {
				detail += "; a watched directory was created, removed or moved"
			}
		case remark:
			// A directory appeared, went or moved: watch what the policy now resolves to, and
			// find what was written into new directories before their watch existed.
			reason, detail = "directory-changed", "a watched directory was created, removed or moved"
		case lost:
			// Some path could not be observed (out of descriptors, an I/O error, unreadable
			// content): its change would be missed, so it is a gap like an overflow.
			reason, detail = "observe-failed", "a changed path could not be observed completely"
		default:
			return nil
		}
	}
	if stop.Err() != nil {
		// Stopping: the backends are closed, so a re-mark would put every directory on polling
		// (a warning and an open gap each). The open gap is enough: the next start reconciles.
		return w.openGap(ctx, gapNS, reason, detail)
	}
	if remark {
		w.remark()
	}
	if err := w.openGap(ctx, gapNS, reason, detail); err != nil {
		return err
	}
	return w.reconcile(stop, reason)
}

// observe stats each path, diffs it against its last observation and records it, in one
// transaction; then emits what a rule fired on. lost reports a path that could not be stat'ed.
// While the database cannot be written the observations are judged, emitted and queued instead
// (outage.go).
func (w *Watcher) observe(ctx context.Context, order []string, byPath map[string]*pending) (lost bool, err error) {
	pol := w.policy()
	pkgs := w.packages(ctx, pol) // once a batch: reloaded when the package database changed
	now := time.Now().UnixNano()
	type seen struct {
		path string
		cur  *baseline.Entry
	}
	var stated []seen
	for _, p := range order {
		loc := w.match(pol, p)
		if loc == nil {
			continue
		}
		var cur *baseline.Entry
		e, err := baseline.Stat(w.root, p, w.o.MaxHashBytes)
		switch {
		case err == nil:
			e.Location = loc.ID
			cur = &e
		case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR):
		case e.Path != "" && (errors.Is(err, baseline.ErrChanged) || errors.Is(err, baseline.ErrVanished) || errors.Is(err, baseline.ErrReplaced)):
			// The path changed while it was read (install writes the content it just
			// created). That change is itself an event, made after this batch was taken, so
			// it is queued behind it and is observed then, with its actor: no gap is needed.
			continue
		case e.Path != "":
			// Observed, but its content could not be read (an I/O error): storing it would
			// hide the content change, so it is a lost observation, settled by the reconcile
			// that follows.
			w.o.Log.Warn("cannot read; reconciling after this batch", "path", baseline.QuotePath(p), "err", err)
			lost = true
			continue
		default:
			w.o.Log.Warn("cannot stat; reconciling after this batch", "path", baseline.QuotePath(p), "err", err)
			lost = true
			continue
		}
		stated = append(stated, seen{p, cur})
	}
	// After the stats, every exec record and file-change record of a call whose effect a stat
	// saw is in the cache and the log: the feeds record a call at its entry. One sync a batch,
	// not one per path: at 10,000 changes a second a sync per path was a round trip between
	// the loop and the feed's reader for each.
	if err := w.syncFeed(ctx); err != nil {
		return false, err
	}
	w.joined = map[string][]*sysRec{}
	w.resolved = nil
	obs := make([]journal.Observation, 0, len(stated))
	actors := make([]*proc.Actor, 0, len(stated))
	for _, s := range stated {
		p, cur := s.path, s.cur
		actor, recorded := w.actorOf(byPath[p], cur), (*proc.Actor)(nil)
		if actor.Attribution != proc.AttrNone {
			recorded = actor // the history records nobody as no actor, as it does for a scan
		}
		obs = append(obs, journal.Observation{Path: p, Cur: cur, Source: store.SourceEvent, TimeNS: now, ReadNS: byPath[p].readNS, By: w.o.By, Actor: recorded,
			Packages: pkgs})
		actors = append(actors, actor)
	}
	for {
		if w.g.isDown() {
			qlost, err := w.queued(ctx, obs, actors)
			if err != errBack {
				return lost || qlost, err
			}
		}
		out, err := w.record(ctx, pol, obs, actors)
		if w.unavailable(err, "") {
			continue // judged against what could be read, and queued
		}
		if err != nil {
			return lost, err
		}
		for _, c := range out {
			if err := w.emit(c); err != nil {
				return lost, err
			}
		}
		return lost, nil
	}
}

// record records observations in one transaction and returns the changes to emit.
func (w *Watcher) record(ctx context.Context, pol *policy.Policy, obs []journal.Observation, actors []*proc.Actor) ([]Change, error) {
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var out []Change
	for i, o := range obs {
		rec, err := journal.Observe(ctx, tx, pol, o)
		if err != nil {
			return nil, err
		}
		if rec.Changed {
			switch err := journal.KeepContent(ctx, tx, w.root, o.Cur, o.TimeNS); {
			case errors.Is(err, store.ErrContentFull):
				if !w.contentFullSaid {
					w.contentFullSaid = true
					w.o.Log.Warn("the content store is full of contents the baseline needs: new contents are not stored (history --diff and restore cannot show them)", "path", baseline.QuotePath(o.Path))
				}
			case err != nil:
				return nil, err
			}
		}
		if rec.Fired {
			out = append(out, w.split(pol, Change{Finding: rec.Finding, Source: store.SourceEvent, Actor: actors[i], ReadNS: o.ReadNS})...)
		}
		if t, err := w.transientOf(ctx, tx, pol, o); err != nil {
			return nil, err
		} else if t != nil {
			out = append(out, *t)
		}
	}
	now := time.Now().UnixNano()
	if len(obs) > 0 {
		if err := tx.Heartbeat(ctx, now); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	w.g.wrote(now)
	return out, nil
}

// readBy names one kernel read by one process.
type readBy struct {
	pid int32
	at  uint64
}

// batchActor is w.actor(pe), resolved once per (pid, read) in the observation under way.
func (w *Watcher) batchActor(pe *pending) *proc.Actor {
	if pe.pid == 0 {
		return w.actor(pe)
	}
	k := readBy{pe.pid, pe.at}
	if a := w.resolved[k]; a != nil {
		return a
	}
	a := w.actor(pe)
	if w.resolved == nil {
		w.resolved = map[readBy]*proc.Actor{}
	}
	w.resolved[k] = a
	return a
}
