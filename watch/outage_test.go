package watch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if err := w.replay(ctx); err != nil {
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
