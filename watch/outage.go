package watch

// What the daemon does while its database cannot be written: another process holds the write
// lock, the filesystem is full, it was remounted read-only, the disk returns I/O errors. None of
// these stops the daemon or holds back an alert. A change is judged against the newest
// observation of its path (one queued here, else the last recorded one, read through the store's
// read-only pool, which a writer does not block in WAL mode), emitted at once marked as not yet
// recorded, and queued. A goroutine retries the database with a backoff; the first write that
// succeeds records the queue in order, through the journal, with each observation's own times
// (a mount over a location is queued too, and recorded as the finding it was), and emits nothing
// again. Then the outage becomes one gap, which a reconcile closes: whatever
// the queue could not hold (it is bounded) or could not be judged is found by that reconcile.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// MaxQueued bounds the observations (and mounts over locations) held while the database cannot be
// written. Past it the daemon stops queuing (alerts still go out) and reconciles once the database
// is back.
const MaxQueued = 10000

// writeWait is how long a write waits for another process's lock before the daemon queues: short,
// so an alert is never held back by it.
const writeWait = 250 * time.Millisecond

// Retry backoff while the database cannot be written, and how often that is logged.
const (
	retryFirst = 250 * time.Millisecond
	retryMax   = 5 * time.Second
	retrySay   = time.Minute
)

// stopQueueWait bounds how long a stop during an outage keeps trying to record the queue.
const stopQueueWait = 2 * time.Second

// opDatabaseBack is the internal event the retry goroutine queues behind the kernel's when the
// database is writable again and the queue is recorded: the loop then opens the outage's gap and
// reconciles, in order with the events read meanwhile.
const opDatabaseBack Op = 1 << 30

// outage is the daemon's state of its database. Its methods are safe for concurrent use.
type outage struct {
	mu      sync.Mutex
	down    bool
	sinceNS int64 // the last write that succeeded before the outage: where its gap starts
	lastOK  int64 // the last write that succeeded
	saidAt  time.Time
	queue   []unrecorded
	overlay map[string]*baseline.Entry // the newest queued observation of each path (nil: gone)
	dropped int                        // changes not queued (the queue was full, or unjudged)
	gapWhy  []string                   // gaps the loop could not record meanwhile
	// ended is the gap of the outages replayed since the loop last opened one: it is the
	// outages' own, whatever a new outage does to the fields above before the loop reads
	// opDatabaseBack.
	ended    *endedGap
	wake     chan struct{}
	max      int           // MaxQueued; smaller in tests
	stopWait time.Duration // stopQueueWait; smaller in tests
	lastRead struct {
		at        uint64 // attrib.Now of the last read
		cur, prev int64  // wall times of the last two reads of the kernel queue
	}
}

// unrecorded is a write the outage holds back: an observation, recorded through journal.Record
// against what the store knows then, or a finding no comparison made (noted: a mount over a
// location), recorded as it was judged, through journal.Noted.
type unrecorded struct {
	o     journal.Observation
	noted *policy.Finding
}

// endedGap is the gap of outages that ended: from the first one's start, with what they could not
// queue and the gaps they could not record.
type endedGap struct {
	sinceNS int64
	dropped int
	why     []string
}

func (g *outage) init() {
	g.overlay = map[string]*baseline.Entry{}
	g.wake = make(chan struct{}, 1)
	g.max = MaxQueued
	g.stopWait = stopQueueWait
}

// isDown reports whether the database is known not to be writable.
func (g *outage) isDown() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.down
}

// fail records that a write failed with err (an ErrUnavailable) and wakes the retry loop.
func (w *Watcher) fail(err error, what string) {
	g := &w.g
	g.mu.Lock()
	first := !g.down
	if first {
		g.down, g.sinceNS, g.saidAt = true, time.Now().UnixNano(), time.Now()
		if g.lastOK != 0 {
			g.sinceNS = g.lastOK
		}
	}
	g.gapWhy = addWhy(g.gapWhy, what)
	g.mu.Unlock()
	if first {
		w.o.Log.Warn("database unavailable: alerts go out marked not yet recorded, and are recorded when it is back", "err", err)
	}
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// addWhy adds a gap's reason to whys: each reason once, and a few, so the detail stays a line.
func addWhy(whys []string, what string) []string {
	if what != "" && !slices.Contains(whys, what) && len(whys) < 8 {
		whys = append(whys, what)
	}
	return whys
}

// cover makes the outage's gap cover a gap from startNS (0: none) that could not be recorded,
// and names it. It reports false when the database is not known to be down: the caller writes.
func (g *outage) cover(startNS int64, what string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return false
	}
	if startNS > 0 {
		g.sinceNS = min(g.sinceNS, startNS)
	}
	g.gapWhy = addWhy(g.gapWhy, what)
	return true
}

// wrote notes a write that succeeded at ns: an outage after it starts there.
func (g *outage) wrote(ns int64) {
	g.mu.Lock()
	g.lastOK = max(g.lastOK, ns)
	g.mu.Unlock()
}

// unavailable reports whether err says the database cannot be written now; if so it notes it.
func (w *Watcher) unavailable(err error, what string) bool {
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		return false
	}
	w.fail(err, what)
	return true
}

// noteRead keeps the wall time of the kernel reads the events come from (at: attrib.Now when the
// read returned), so an overflow's gap can start at the read before the one that reported it.
func (g *outage) noteRead(at uint64) int64 {
	if at == 0 {
		return 0
	}
	if at == g.lastRead.at {
		return g.lastRead.cur // another event of the same read
	}
	ns := time.Now().UnixNano() - int64(attrib.Now()-at)
	g.lastRead.prev, g.lastRead.cur, g.lastRead.at = g.lastRead.cur, ns, at
	return ns
}

// overflowStart is where the gap of an overflow read at at starts: the read before it, the
// last moment every event is known to have been received.
func (g *outage) overflowStart(at uint64, startedNS int64) int64 {
	ns := g.noteRead(at)
	switch {
	case ns == 0 && g.lastRead.cur != 0:
		return g.lastRead.cur // inotify's overflow carries no time of its own
	case g.lastRead.prev != 0:
		return g.lastRead.prev
	}
	return startedNS
}

// errBack says the outage ended before queued could queue: the caller writes instead.
var errBack = errors.New("the database is writable again")

// queued judges and queues observations while the database is down, and emits what a rule fired
// on, marked not yet recorded. lost reports an observation that could not be judged (the last
// observation could not be read either): the reconcile after the outage finds it.
func (w *Watcher) queued(ctx context.Context, obs []journal.Observation, actors []*proc.Actor) (lost bool, err error) {
	pol := w.policy()
	g := &w.g
	var out []Change
	g.mu.Lock()
	if !g.down {
		// The retry goroutine recorded the queue since the caller looked: write as usual.
		g.mu.Unlock()
		return false, errBack
	}
	for i, o := range obs {
		var k journal.Known
		if cur, ok := g.overlay[o.Path]; ok {
			st := &store.State{Present: cur != nil}
			if cur != nil {
				st.Entry = *cur
			}
			k.State = st
		} else {
			st, base, err := w.o.DB.LookupLast(ctx, o.Path)
			if err != nil {
				g.dropped++
				lost = true
				w.o.Log.Warn("cannot read the last observation either; the reconcile after the outage will judge", "path", baseline.QuotePath(o.Path), "err", err)
				continue
			}
			k = journal.Known{State: st, Base: base}
		}
		rec := journal.Judge(pol, k, o)
		if !rec.Changed {
			continue
		}
		if w.hold(unrecorded{o: o}) {
			g.overlay[o.Path] = o.Cur
		}
		if rec.Fired {
			out = append(out, Change{Finding: rec.Finding, Source: store.SourceEvent, Actor: actors[i], ReadNS: o.ReadNS, Unrecorded: true})
		}
	}
	g.mu.Unlock()
	for _, c := range out {
		if err := w.emit(c); err != nil {
			return lost, err
		}
	}
	return lost, nil
}

// hold queues u unless the queue is full, which it counts. The caller holds g.mu.
func (w *Watcher) hold(u unrecorded) bool {
	g := &w.g
	if len(g.queue) < g.max {
		g.queue = append(g.queue, u)
		return true
	}
	if g.dropped == 0 {
		w.o.Log.Warn("the queue of unrecorded observations is full: alerts still go out; a reconcile records what changed once the database is back", "queued", len(g.queue))
	}
	g.dropped++
	return false
}

// queueNoted queues findings no comparison made (mounts over locations) while the database is
// down, each with the observation its history row is made of. It reports false when the outage
// has ended: the caller writes instead.
func (w *Watcher) queueNoted(out []Change, obs []journal.Observation) bool {
	g := &w.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.down {
		return false
	}
	for i := range out {
		f := out[i].Finding
		w.hold(unrecorded{o: obs[i], noted: &f})
	}
	return true
}

// retry tries the database with a backoff while it is down, until ctx ends. When a write succeeds
// it records the queue and tells the loop (opDatabaseBack), which opens the outage's gap and
// reconciles; once for outages that end before the loop has read it.
func (w *Watcher) retry(ctx context.Context, events chan<- Event) {
	g := &w.g
	backoff := retryFirst
	for {
		if !g.isDown() {
			backoff = retryFirst
			select {
			case <-ctx.Done():
				return
			case <-g.wake:
			}
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, retryMax)
		back, err := w.replay(ctx)
		if err == nil {
			if !back {
				continue // the opDatabaseBack not read yet opens this outage's gap too
			}
			select {
			case events <- Event{Op: opDatabaseBack, PIDFD: -1}:
			case <-ctx.Done():
				return
			}
			continue
		}
		g.mu.Lock()
		say := time.Since(g.saidAt) >= retrySay
		if say {
			g.saidAt = time.Now()
		}
		n, since := len(g.queue), g.sinceNS
		g.mu.Unlock()
		switch {
		case !say:
		case errors.Is(err, store.ErrUnavailable):
			w.o.Log.Warn("database still unavailable", "queued", n, "since", time.Unix(0, since).UTC().Format(time.RFC3339), "err", err)
		default:
			// Not an outage: damage or a bug. The queue stays and is retried all the same.
			w.o.Log.Error("recording the queued observations failed", "queued", n, "err", err)
		}
	}
}

// replay records the queued observations in one transaction, in order, and ends the outage: its
// gap is the loop's to open (backGap). back reports that the loop must be told (opDatabaseBack):
// false when it has not read the last one yet, which opens this outage's gap too. Nothing is
// emitted: every change was emitted when it was read.
func (w *Watcher) replay(ctx context.Context) (back bool, err error) {
	g := &w.g
	g.mu.Lock()
	defer g.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	pol := w.policy()
	for _, u := range g.queue {
		if u.noted != nil {
			f := *u.noted
			if err := journal.Noted(ctx, tx, &f, u.o); err != nil {
				return false, err
			}
			continue
		}
		rec, err := journal.Observe(ctx, tx, pol, u.o)
		if err != nil {
			return false, err
		}
		if rec.Changed {
			if err := journal.KeepContent(ctx, tx, w.root, u.o.Cur, u.o.TimeNS); err != nil && !errors.Is(err, store.ErrContentFull) {
				return false, err
			}
		}
	}
	now := time.Now().UnixNano()
	if err := tx.Heartbeat(ctx, now); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	w.o.Log.Info("database writable again: queued observations recorded", "recorded", len(g.queue), "not_queued", g.dropped,
		"dur", time.Duration(now-g.sinceNS).Round(time.Millisecond))
	g.queue, g.overlay = nil, map[string]*baseline.Entry{}
	g.down, g.lastOK = false, now
	back = g.ended == nil
	if back {
		g.ended = &endedGap{sinceNS: g.sinceNS}
	}
	g.ended.sinceNS = min(g.ended.sinceNS, g.sinceNS)
	g.ended.dropped += g.dropped
	for _, why := range g.gapWhy {
		g.ended.why = addWhy(g.ended.why, why)
	}
	g.dropped, g.gapWhy = 0, nil
	return back, nil
}

// backGap is the gap of the outages that ended (replay): from the first one's first failure to
// now, closed by the reconcile that follows. Called by the loop when it reads opDatabaseBack; an
// outage that started since is not in it.
func (g *outage) backGap() (startNS int64, detail string) {
	g.mu.Lock()
	e := g.ended
	g.ended = nil
	g.mu.Unlock()
	if e == nil {
		// Not sent without one; should it be, the gap is empty and the reconcile closes it.
		e = &endedGap{sinceNS: time.Now().UnixNano()}
	}
	detail = "the database could not be written: changes were emitted and queued, and recorded when it was back"
	if e.dropped > 0 {
		detail += fmt.Sprintf("; %d not queued, found by this reconcile", e.dropped)
	}
	for _, why := range e.why {
		detail += "; " + why
	}
	return e.sinceNS, detail
}

// waitWritable runs fn until it succeeds, waiting with a backoff while it fails because the
// database is unavailable (logged at once, then once a minute): at start, a locked or full
// database is waited for, never a crash loop. It returns fn's other errors, and nil when ctx ends.
func (w *Watcher) waitWritable(ctx context.Context, what string, fn func() error) (stopped bool, err error) {
	backoff := retryFirst
	var said time.Time
	for {
		err := fn()
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return false, err
		}
		if time.Since(said) >= retrySay {
			said = time.Now()
			w.o.Log.Warn("database unavailable; waiting for it", "what", what, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return true, nil
		case <-t.C:
		}
		backoff = min(2*backoff, retryMax)
	}
}

// heartbeat records that the daemon ran until now, at a stop. An outage is not left to the
// next start alone: while the database is down the queue is tried again for a bounded time
// (another process's lock is often gone by then), and an outage replayed but not yet opened as a
// gap by the loop (it stopped first) is opened now, for the next start's reconcile to close. What
// still cannot be recorded is said in one line: its alerts went out, the next start's gap starts
// at the last write that succeeded, and its reconcile finds the net result, without the actors.
func (w *Watcher) heartbeat(ctx context.Context) {
	g := &w.g
	if g.isDown() {
		deadline := time.Now().Add(g.stopWait)
		for {
			_, err := w.replay(ctx)
			if err == nil {
				break
			}
			if !time.Now().Before(deadline) {
				g.mu.Lock()
				n, dropped, since := len(g.queue), g.dropped, g.sinceNS
				g.mu.Unlock()
				w.o.Log.Error("stopping with the database unavailable: the queued observations are not recorded; their alerts went out, and the next start's reconcile finds what they changed, without who did it",
					"unrecorded", n, "not_queued", dropped, "since", time.Unix(0, since).UTC().Format(time.RFC3339Nano), "err", err)
				return
			}
			time.Sleep(min(retryFirst, time.Until(deadline)))
		}
	}
	g.mu.Lock()
	ended := g.ended != nil
	g.mu.Unlock()
	if ended {
		startNS, detail := g.backGap()
		if err := w.writeGap(ctx, startNS, "database-unavailable", detail+"; the daemon stopped before reconciling"); err != nil {
			w.o.Log.Error("stopping: the outage's gap could not be recorded; the next start's gap covers it", "err", err)
			return
		}
	}
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return
	}
	defer tx.Rollback()
	if tx.Heartbeat(ctx, time.Now().UnixNano()) == nil {
		tx.Commit()
	}
}

// closeGaps closes the gaps a reconcile that started at startedNS covered, at its end (now).
func (w *Watcher) closeGaps(ctx context.Context, startedNS, run int64) error {
	tx, err := w.o.DB.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := time.Now().UnixNano()
	if err := tx.CloseGaps(ctx, startedNS, now, run); err != nil {
		return err
	}
	if err := tx.Heartbeat(ctx, now); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	w.g.wrote(now)
	return nil
}
