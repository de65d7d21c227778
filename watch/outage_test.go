package watch

import (
	"context"
	"database/sql"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// An overflow's gap starts at the read before the one that reported it; events of one read count
// once; inotify's overflow, which carries no time, starts at the last read; an overflow in the
// first read starts when the watcher did.
func TestOverflowStart(t *testing.T) {
	now := attrib.Now()
	var g outage
	if got := g.overflowStart(now-4e9, 42); got != 42 {
		t.Errorf("an overflow in the first read: start %d, want the watcher's start 42", got)
	}
	g = outage{}
	first := g.noteRead(now - 3e9)
	g.noteRead(now - 3e9) // the same read
	second := g.noteRead(now - 2e9)
	if second-first < 9e8 || second-first > 11e8 {
		t.Fatalf("reads 1 s apart are %d ns apart on the wall clock", second-first)
	}
	if got := g.overflowStart(now-2e9, 0); got != first {
		t.Errorf("an overflow in the last read: start %d, want the read before (%d)", got, first)
	}
	if got := g.overflowStart(now-1e9, 0); got != second {
		t.Errorf("an overflow in a new read: start %d, want the read before (%d)", got, second)
	}
	third := g.lastRead.cur
	if got := g.overflowStart(0, 0); got != third {
		t.Errorf("an overflow without a time (inotify): start %d, want the last read (%d)", got, third)
	}
}

// While the database is down, changes are emitted unrecorded and queued up to the bound; past it
// they are still emitted but not queued, and the outage's gap says how many a reconcile must
// find. The replay records the queue in order and emits nothing.
func TestQueueBound(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	pol := policy.Default()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "tripline.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	dir := filepath.Join(root, "etc/cron.daily")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var emitted []Change
	w := New(Options{Root: root, Policy: pol, DB: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Emit: func(c Change) error { emitted = append(emitted, c); return nil }})
	w.g.init()
	w.g.max = 2
	w.fail(errors.New("test: the database is down"), "")
	var obs []journal.Observation
	var actors []*proc.Actor
	for i, name := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		e, err := baseline.Stat(root, "/etc/cron.daily/"+name, 0)
		if err != nil {
			t.Fatal(err)
		}
		e.Location = pol.Match(e.Path).ID
		obs = append(obs, journal.Observation{Path: e.Path, Cur: &e, Source: store.SourceEvent, TimeNS: int64(100 + i), ReadNS: int64(50 + i), By: "test"})
		actors = append(actors, proc.Nobody())
	}
	if lost, err := w.queued(ctx, obs, actors); lost || err != nil {
		t.Fatalf("queued: lost %v, %v", lost, err)
	}
	if len(emitted) != 3 || len(w.g.queue) != 2 || w.g.dropped != 1 {
		t.Fatalf("%d emitted, %d queued, %d dropped; want 3, 2, 1", len(emitted), len(w.g.queue), w.g.dropped)
	}
	for _, c := range emitted {
		if !c.Unrecorded || c.Finding.HistoryID != 0 || c.ReadNS == 0 {
			t.Errorf("%s emitted %+v; want unrecorded with its read time", c.Finding.Change.Path, c)
		}
	}
	if _, err := w.replay(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err := db.History(ctx, store.HistoryQuery{UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Path != "/etc/cron.daily/a" || rows[1].Path != "/etc/cron.daily/b" || rows[0].ReadNS != 50 || rows[1].TimeNS != 101 {
		t.Errorf("history after the replay %+v; want a then b with their own times", rows)
	}
	if w.g.isDown() || len(emitted) != 3 {
		t.Errorf("after the replay: down %v, %d emitted; want up, nothing more", w.g.isDown(), len(emitted))
	}
	if _, detail := w.g.backGap(); !strings.Contains(detail, "1 not queued") {
		t.Errorf("the outage's gap: %q; want it to say 1 was not queued", detail)
	}
}

// outageWatcher is a Watcher on a fixture root with a real database, not running: a test calls
// the outage's steps (fail, queued, mounted, replay, backGap) in the order its case needs. The
// directories are watched by a poller that never fires, so mounted can re-mark them.
func outageWatcher(t *testing.T, dirs ...string) (*Watcher, *store.DB, *collector) {
	t.Helper()
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tripline.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	got := &collector{}
	w := New(Options{Root: root, Policy: policy.Default(), DB: db, By: "test", Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Emit: got.add})
	w.g.init()
	w.attr = attrib.NewCache(nil)
	p := newPoller(time.Hour)
	w.backend = p
	w.dirs = newDirSet(p, time.Hour, nil, func(Backend) {}, w.o.Log, w.logical)
	w.mountPoll, w.mountFiles = newPoller(time.Hour), map[string]string{}
	return w, db, got
}

// collector keeps what a Watcher emits; safe for concurrent use.
type collector struct {
	mu  sync.Mutex
	got []Change
}

func (c *collector) add(ch Change) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, ch)
	return nil
}

func (c *collector) list() []Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// writeObs writes content to logical path p under w's root and returns the event observation of
// it at timeNS.
func writeObs(t *testing.T, w *Watcher, p, content string, timeNS int64) journal.Observation {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.root, p), []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := baseline.Stat(w.root, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.Location = w.policy().Match(p).ID
	return journal.Observation{Path: p, Cur: &e, Source: store.SourceEvent, TimeNS: timeNS, By: "test"}
}

func queue(t *testing.T, w *Watcher, obs ...journal.Observation) {
	t.Helper()
	actors := make([]*proc.Actor, len(obs))
	for i := range actors {
		actors[i] = proc.Nobody()
	}
	if lost, err := w.queued(context.Background(), obs, actors); lost || err != nil {
		t.Fatalf("queued: lost %v, %v", lost, err)
	}
}

func historyPaths(t *testing.T, db *store.DB) (rows []store.HistoryRow, paths []string) {
	t.Helper()
	rows, err := db.History(context.Background(), store.HistoryQuery{UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		paths = append(paths, r.Path)
	}
	return rows, paths
}

// A mount over a location while the database is down goes out marked not yet recorded, and is
// recorded when it is back (with who mounted), in order with the changes queued around it
// (found in review: the alert said "recorded when it can be" and never was).
func TestMountOverDuringOutageIsRecorded(t *testing.T) {
	ctx := context.Background()
	w, db, got := outageWatcher(t, "etc/cron.daily")
	w.fail(errors.New("test: the database is down"), "")
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "#!/bin/sh\n", 100))
	over := mountChange{op: "mounted", m: mount{id: 99, point: filepath.Join(w.root, "etc/cron.daily"), root: "/", fstype: "tmpfs", source: "evil"}, at: attrib.Now()}
	if err := w.mounted(ctx, []mountChange{over}); err != nil {
		t.Fatal(err)
	}
	queue(t, w, writeObs(t, w, "/etc/cron.daily/b", "#!/bin/sh\n", 300))
	var mountAlert *Change
	for _, c := range got.list() {
		if c.Finding.Rule() == policy.RuleMountOver {
			mountAlert = &c
		}
	}
	if mountAlert == nil || !mountAlert.Unrecorded {
		t.Fatalf("the mount-over alert %+v; want one, marked not yet recorded", mountAlert)
	}
	if _, err := w.replay(ctx); err != nil {
		t.Fatal(err)
	}
	rows, paths := historyPaths(t, db)
	if want := []string{"/etc/cron.daily/a", "/etc/cron.daily", "/etc/cron.daily/b"}; !slices.Equal(paths, want) {
		t.Fatalf("history after the replay %q; want %q (the mount in order)", paths, want)
	}
	m := rows[1]
	if m.Rule != policy.RuleMountOver || m.Source != store.SourceEvent || m.Actor == nil || m.Actor.Why != mountAlert.Actor.Why {
		t.Errorf("the mount's history row %+v; want rule %s with the alert's actor %+v", m, policy.RuleMountOver, mountAlert.Actor)
	}
	if len(got.list()) != 3 {
		t.Errorf("%d emitted after the replay; want the 3 emitted before, nothing again", len(got.list()))
	}
}

// A mount-over counts against the queue's bound: past it, it is not queued, and the outage's gap
// says so.
func TestMountOverDuringOutageCountsAgainstTheBound(t *testing.T) {
	ctx := context.Background()
	w, db, _ := outageWatcher(t, "etc/cron.daily")
	w.g.max = 1
	w.fail(errors.New("test: the database is down"), "")
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "#!/bin/sh\n", 100))
	over := mountChange{op: "mounted", m: mount{id: 99, point: filepath.Join(w.root, "etc/cron.daily"), root: "/", fstype: "tmpfs", source: "evil"}, at: attrib.Now()}
	if err := w.mounted(ctx, []mountChange{over}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.replay(ctx); err != nil {
		t.Fatal(err)
	}
	if _, paths := historyPaths(t, db); !slices.Equal(paths, []string{"/etc/cron.daily/a"}) {
		t.Errorf("history after the replay %q; want only the change queued before the bound", paths)
	}
	if _, detail := w.g.backGap(); !strings.Contains(detail, "1 not queued") {
		t.Errorf("the outage's gap: %q; want it to say 1 was not queued", detail)
	}
}

// replayed runs the replay, which must succeed, and reports whether it asks the loop to open the
// gap (the retry goroutine sends opDatabaseBack then).
func replayed(t *testing.T, w *Watcher) bool {
	t.Helper()
	back, err := w.replay(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// An outage's gap is the outage's own even when the next one starts before the loop opens it (a
// write failing while the loop is behind, or the observe in the batch that reads opDatabaseBack):
// it starts at the first outage's start and says what the first one dropped (found in review: it
// started at the replay, and the dropped count was reset).
func TestOutageGapNotTakenByTheNext(t *testing.T) {
	w, _, _ := outageWatcher(t, "etc/cron.daily")
	w.g.wrote(1000)
	w.fail(errors.New("test: the database is down"), "")
	w.g.max = 0
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "a", 2000), writeObs(t, w, "/etc/cron.daily/b", "b", 2000), writeObs(t, w, "/etc/cron.daily/c", "c", 2000))
	if !replayed(t, w) {
		t.Fatal("the first replay does not ask the loop to open the outage's gap")
	}
	w.fail(errors.New("test: the database is down again"), "")
	start, detail := w.g.backGap()
	if start != 1000 || !strings.Contains(detail, "3 not queued") {
		t.Errorf("the first outage's gap starts at %d with %q; want 1000, saying 3 were not queued", start, detail)
	}
}

// Outages replayed before the loop opens the gap are one gap, from the first one's start, and
// one opDatabaseBack: the loop opens each gap once.
func TestOutagesEndedBeforeTheLoopIsBackAreOneGap(t *testing.T) {
	w, _, _ := outageWatcher(t, "etc/cron.daily")
	w.g.wrote(1000)
	w.fail(errors.New("test: the database is down"), "the first")
	w.g.max = 0
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "a", 2000))
	if !replayed(t, w) {
		t.Fatal("the first replay does not ask the loop to open the outage's gap")
	}
	w.fail(errors.New("test: the database is down again"), "the second")
	queue(t, w, writeObs(t, w, "/etc/cron.daily/b", "b", 3000), writeObs(t, w, "/etc/cron.daily/c", "c", 3000))
	if replayed(t, w) {
		t.Error("the second replay asks for a second opDatabaseBack while the loop has not handled the first")
	}
	start, detail := w.g.backGap()
	if start != 1000 || !strings.Contains(detail, "3 not queued") || !strings.Contains(detail, "the first") || !strings.Contains(detail, "the second") {
		t.Errorf("the outages' gap starts at %d with %q; want 1000, 3 not queued, and both reasons", start, detail)
	}
	w.fail(errors.New("test: the database is down a third time"), "")
	if !replayed(t, w) {
		t.Error("a replay after the loop opened the last gap does not ask for opDatabaseBack")
	}
}

// A gap opened while the database is down (the last outage's, an overflow's) is covered by the
// outage's gap, so that one starts where the earliest of them does.
func TestGapOpenedDuringOutageWidensIt(t *testing.T) {
	ctx := context.Background()
	w, _, _ := outageWatcher(t)
	w.g.wrote(5000)
	w.fail(errors.New("test: the database is down"), "")
	if err := w.openGap(ctx, 1000, "overflow", "fanotify queue overflow"); err != nil {
		t.Fatal(err)
	}
	replayed(t, w)
	start, detail := w.g.backGap()
	if start != 1000 || !strings.Contains(detail, "overflow: fanotify queue overflow") {
		t.Errorf("the outage's gap starts at %d with %q; want 1000, naming the overflow", start, detail)
	}
}

// A stop during an outage tries the queue once more (found in review: the queue was dropped at a
// stop, and with it who made each change). When the database is back by then, the queue is in
// the history and the outage is an open gap for the next start's reconcile to close.
func TestStopDuringOutageRecordsTheQueue(t *testing.T) {
	ctx := context.Background()
	w, db, _ := outageWatcher(t, "etc/cron.daily")
	w.g.wrote(1000)
	w.fail(errors.New("test: the database is down"), "")
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "a", 2000))
	w.heartbeat(ctx)
	if _, paths := historyPaths(t, db); !slices.Equal(paths, []string{"/etc/cron.daily/a"}) {
		t.Errorf("history after the stop: %q; want the queued change", paths)
	}
	gaps, err := db.Gaps(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].StartNS != 1000 || gaps[0].EndNS != 0 || gaps[0].Reason != "database-unavailable" {
		t.Errorf("gaps after the stop: %+v; want one open database-unavailable gap from 1000", gaps)
	}
	if alive, err := db.LastAlive(ctx); err != nil || alive <= 2000 {
		t.Errorf("last alive %d, %v; want the stop's heartbeat", alive, err)
	}
}

// An outage replayed by the retry goroutine just before a stop, whose gap the loop never opened,
// is opened by the stop.
func TestStopAfterReplayOpensTheOutagesGap(t *testing.T) {
	ctx := context.Background()
	w, db, _ := outageWatcher(t, "etc/cron.daily")
	w.g.wrote(1000)
	w.fail(errors.New("test: the database is down"), "")
	w.g.max = 0
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "a", 2000))
	replayed(t, w)
	w.heartbeat(ctx)
	gaps, err := db.Gaps(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(gaps) != 1 || gaps[0].StartNS != 1000 || !strings.Contains(gaps[0].Detail, "1 not queued") {
		t.Errorf("gaps after the stop: %+v; want the outage's, from 1000, saying 1 was not queued", gaps)
	}
}

// When the database is still locked at the stop, the stop waits its bound, says in one line how
// many observations are not recorded, and writes no heartbeat: the next start's gap starts at the
// last write that succeeded.
func TestStopWhileLockedSaysWhatIsNotRecorded(t *testing.T) {
	ctx := context.Background()
	w, db, _ := outageWatcher(t, "etc/cron.daily")
	var logs strings.Builder
	w.o.Log = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
	if err := db.SetWriteWait(ctx, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := w.writeGap(ctx, 1000, "test", "a write before the outage"); err != nil {
		t.Fatal(err)
	}
	before, err := db.LastAlive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := sql.Open("sqlite3", "file:"+db.Path()+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tx, err := h.Begin() // BEGIN IMMEDIATE: the write lock, held until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	w.fail(errors.New("test: the database is locked"), "")
	queue(t, w, writeObs(t, w, "/etc/cron.daily/a", "a", 2000), writeObs(t, w, "/etc/cron.daily/b", "b", 2000))
	w.g.stopWait = 200 * time.Millisecond
	w.heartbeat(ctx)
	if !strings.Contains(logs.String(), "stopping with the database unavailable") || !strings.Contains(logs.String(), "unrecorded=2") {
		t.Errorf("the stop logged %q; want it to say 2 observations are not recorded", logs.String())
	}
	tx.Rollback()
	if after, err := db.LastAlive(ctx); err != nil || after != before {
		t.Errorf("last alive after the stop %d, %v; want %d (no heartbeat past the unrecorded changes)", after, err, before)
	}
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
