package main

// Daemon tests of what happens around the database: a second daemon, a database that cannot be
// written for a while (a held write lock, a full filesystem), and the windows of the gaps.

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/store"
)

// TestWatchSecondDaemonRefused starts two daemons on one database: the second exits 17 with one
// line naming the first one's pid, the first keeps reporting, and one-shot commands work beside
// it.
func TestWatchSecondDaemonRefused(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)

	ctx, cancel := context.WithTimeout(context.Background(), watchDeadline)
	defer cancel()
	second := exec.CommandContext(ctx, binary, "--db", fx.db, "--root", fx.root, "watch", "--format", "ecs",
		"--output", filepath.Join(t.TempDir(), "second.ecs"))
	second.Env = watchEnv()
	stderr, err := second.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err == nil {
		code = 0
	}
	msg := strings.TrimRight(string(stderr), "\n")
	if code != 17 || strings.Contains(msg, "\n") || !strings.Contains(msg, "pid "+strconv.Itoa(d.cmd.Process.Pid)+" holds it") {
		t.Fatalf("second daemon: exit %d, output %q; want exit 17 and one line naming pid %d", code, msg, d.cmd.Process.Pid)
	}
	t.Logf("second daemon: exit %d: %s", code, msg)

	// One-shot commands use SQLite's locking, not the daemon's.
	if r := tl(t, fx, "history", "--format", "json"); r.code != 0 {
		t.Errorf("history beside the daemon: exit %d: %s", r.code, r.stderr)
	}
	if r := tl(t, fx, "scan", "--format", "json"); r.code != 0 {
		t.Errorf("scan beside the daemon: exit %d: %s", r.code, r.stderr)
	}
	sh(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
	d.stop(t)

	// Once the first is gone the database can be claimed again.
	d = startWatch(t, fx, out)
	d.stop(t)
}

// outageEvent is what the outage tests read of an ECS line.
type outageEvent struct {
	Timestamp string `json:"@timestamp"`
	Event     struct {
		Kind    string `json:"kind"`
		Created string `json:"created"`
	} `json:"event"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	File struct {
		Path string `json:"path"`
	} `json:"file"`
	Tripline struct {
		Source   string `json:"source"`
		Recorded *bool  `json:"recorded"`
		Previous *struct {
			Mode string `json:"mode"`
		} `json:"previous"`
		History *struct {
			ID int64 `json:"id"`
		} `json:"history"`
	} `json:"tripline"`
}

func readOutage(t *testing.T, name string) []outageEvent {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	var out []outageEvent
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e outageEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("not an ECS line: %v\n%s", err, line)
		}
		out = append(out, e)
	}
	return out
}

const outageFiles = 100

// outageFixture is a watch fixture with outageFiles scripts without exec bits in cron.daily.
func outageFixture(t *testing.T) *fixture {
	t.Helper()
	fx, _ := newWatchFixture(t)
	for i := range outageFiles {
		fx.write(t, fmt.Sprintf("etc/cron.daily/job-%03d", i), "#!/bin/sh\necho job\n", 0o644)
	}
	return fx
}

// setExecBits runs one real chmod process per file and waits until each has its alert, marked
// not yet recorded: the database cannot be written meanwhile. It returns the alerts.
func setExecBits(t *testing.T, d *daemon, fx *fixture, out string) map[string]outageEvent {
	t.Helper()
	for i := range outageFiles {
		sh(t, "chmod", "+x", fx.path(fmt.Sprintf("etc/cron.daily/job-%03d", i)))
	}
	got := map[string]outageEvent{}
	d.within(t, fmt.Sprintf("%d exec-bit-set alerts", outageFiles), func() bool {
		for _, e := range readOutage(t, out) {
			if strings.HasPrefix(e.File.Path, "/etc/cron.daily/job-") && e.Rule.ID == "exec-bit-set" {
				got[e.File.Path] = e
			}
		}
		return len(got) == outageFiles
	})
	var worst time.Duration
	for _, e := range got {
		at, err1 := time.Parse(time.RFC3339Nano, e.Timestamp)
		read, err2 := time.Parse(time.RFC3339Nano, e.Event.Created)
		if err1 == nil && err2 == nil {
			worst = max(worst, at.Sub(read))
		}
	}
	// Reported, not asserted (no timed tests): how long an alert waited for the database.
	t.Logf("%d alerts out while the database could not be written; the slowest %v after its event was read", len(got), worst)
	for p, e := range got {
		if e.Event.Kind != "alert" || e.Tripline.Source != "event" || e.Tripline.Recorded == nil || *e.Tripline.Recorded ||
			e.Tripline.History != nil || e.Event.Created == "" {
			t.Errorf("%s: %+v; want an alert of an event, recorded false, no history row, event.created set", p, e)
		}
	}
	return got
}

// checkRecovered waits until the daemon says the database is back and has reconciled, then
// checks that every change is in the history exactly once, with its read time, and that one
// closed gap covers the outage [fromNS, toNS].
func checkRecovered(t *testing.T, d *daemon, fx *fixture, out string, fromNS, toNS int64) {
	t.Helper()
	d.waitLog(t, "queued observations recorded")
	d.waitLog(t, "msg=reconciled why=database-unavailable")
	h := openDBReadOnly(t, fx.db)
	rows, err := h.Query("SELECT path, source, time_ns, coalesce(read_ns, 0) FROM history WHERE path LIKE '/etc/cron.daily/job-%' ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]int{}
	for rows.Next() {
		var p, src string
		var timeNS, readNS int64
		if err := rows.Scan(&p, &src, &timeNS, &readNS); err != nil {
			t.Fatal(err)
		}
		seen[p]++
		if src != "event" || readNS < fromNS || readNS > toNS || timeNS < readNS {
			t.Errorf("%s: source %s, read %d, recorded %d; want an event read during the outage [%d, %d]", p, src, readNS, timeNS, fromNS, toNS)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(seen) != outageFiles {
		t.Errorf("%d changed files in the history, want %d", len(seen), outageFiles)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s: %d history rows, want 1", p, n)
		}
	}
	var outage []gap
	for _, g := range gaps(t, fx.db) {
		if g.reason == "database-unavailable" {
			outage = append(outage, g)
		}
	}
	if len(outage) != 1 || outage[0].startNS > fromNS || outage[0].endNS < toNS || outage[0].run == 0 {
		t.Errorf("outage gaps %+v; want one closed by a reconcile, covering [%d, %d]", outage, fromNS, toNS)
	}
	if r := tl(t, fx, "history", "--verify"); r.code != 0 {
		t.Errorf("history --verify after the outage: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	// Nothing was emitted twice: the replay records silently, and the reconcile finds nothing.
	n := 0
	for _, e := range readOutage(t, out) {
		if strings.HasPrefix(e.File.Path, "/etc/cron.daily/job-") {
			n++
		}
	}
	if n != outageFiles {
		t.Errorf("%d lines about the changed files, want %d", n, outageFiles)
	}
	t.Logf("outage: %d alerts out unrecorded, %d rows recorded after it, gap %+v", outageFiles, len(seen), outage)
}

// TestWatchWriteLockHeld holds the database's write lock from a second SQLite connection for
// 15 s while 100 exec bits are set: the daemon stays up, the 100 alerts go out while the lock is
// held, marked not recorded, and all 100 are in the history after it is released, under one gap.
func TestWatchWriteLockHeld(t *testing.T) {
	testenv.RequireRoot(t)
	fx := outageFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	d.waitLog(t, "msg=reconciled why=start")

	h, err := sql.Open("sqlite3", "file:"+fx.db+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tx, err := h.Begin() // BEGIN IMMEDIATE: the write lock, held until Rollback
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	locked := time.Now()
	fromNS := locked.UnixNano()
	setExecBits(t, d, fx, out)
	// Two changes of one path while nothing can be recorded: the second is judged against the
	// first (queued), not against the recorded row the first left stale.
	sh(t, "chmod", "0755", fx.path("etc/init.d/alpha"))
	d.within(t, "exec-bit-set on alpha", func() bool { return len(alertsOf(t, out, "/etc/init.d/alpha", "exec-bit-set")) == 1 })
	sh(t, "chmod", "4755", fx.path("etc/init.d/alpha"))
	d.within(t, "setuid-set on alpha", func() bool { return len(alertsOf(t, out, "/etc/init.d/alpha", "setuid-set")) == 1 })
	if e := alertsOf(t, out, "/etc/init.d/alpha", "setuid-set")[0]; e.Tripline.Previous == nil || e.Tripline.Previous.Mode != "0755" ||
		e.Tripline.Recorded == nil || *e.Tripline.Recorded {
		t.Errorf("the second change of alpha: %+v; want previous mode 0755 (the queued observation), recorded false", e)
	}
	// Hold it well past the old 5 s busy timeout, through several retries of the daemon's.
	if rest := 15*time.Second - time.Since(locked); rest > 0 {
		timer := time.NewTimer(rest)
		select {
		case <-timer.C:
		case <-d.done:
			t.Fatalf("the daemon exited (%v) while the lock was held\nstderr:\n%s", d.err, d.stderr)
		}
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	toNS := time.Now().UnixNano()
	checkRecovered(t, d, fx, out, fromNS, toNS)
	if !strings.Contains(d.stderr.String(), "database unavailable") {
		t.Errorf("no log line of the outage:\n%s", d.stderr)
	}
	var modes []uint32
	sdb, err := store.OpenReadOnly(context.Background(), fx.db)
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	hist, err := sdb.History(context.Background(), store.HistoryQuery{Path: "/etc/init.d/alpha", UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.New != nil {
			modes = append(modes, h.New.Mode)
		}
	}
	if len(modes) != 2 || modes[0] != 0o755 || modes[1] != 0o4755 {
		t.Errorf("alpha's history modes %o; want 755 then 4755, in order", modes)
	}
	d.stop(t)
}

func alertsOf(t *testing.T, out, logical, rule string) []outageEvent {
	t.Helper()
	var got []outageEvent
	for _, e := range readOutage(t, out) {
		if e.File.Path == logical && e.Rule.ID == rule {
			got = append(got, e)
		}
	}
	return got
}

// TestWatchStartsOnLockedDatabase starts the daemon while another connection holds the write
// lock: it says it waits, does not exit, and is ready once the lock is released.
func TestWatchStartsOnLockedDatabase(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	d.stop(t)

	h, err := sql.Open("sqlite3", "file:"+fx.db+"?_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	tx, err := h.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	d = launchWatch(t, fx, out, nil)
	line := d.waitLog(t, "database unavailable; waiting for it")
	t.Logf("while locked: %s", line)
	if strings.Contains(d.stderr.String(), "msg=ready") {
		t.Errorf("ready while the start gap could not be recorded:\n%s", d.stderr)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	d.waitLog(t, "msg=ready")
	sh(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
	d.stop(t)
}

// TestWatchDiskFull puts the database on an 8 MiB tmpfs and fills it: the daemon stays up, the
// 100 alerts go out unrecorded, and once the filler is deleted all 100 are recorded under one gap.
func TestWatchDiskFull(t *testing.T) {
	testenv.RequireRoot(t)
	inPrivateTmpfs(t, func(t *testing.T) {
		var filler string
		outageOnSmallTmpfs(t, "full", func(small string) {
			filler = filepath.Join(small, "filler")
			fillUp(t, filler)
		}, func(string) {
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// outageOnSmallTmpfs runs the daemon with its database on an 8 MiB tmpfs, makes the database
// unwritable with down, sets 100 exec bits, makes it writable with up and checks the recovery;
// the log must say why (say).
func outageOnSmallTmpfs(t *testing.T, say string, down, up func(small string)) {
	t.Helper()
	fx := outageFixture(t)
	// (A read-only remount cannot be made here the same way: the kernel refuses it, EBUSY, while
	// the daemon holds the database open for writing.)
	small := filepath.Join(t.TempDir(), "small")
	if err := os.Mkdir(small, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tripline-small", small, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size=8m"); err != nil {
		t.Fatalf("mount an 8 MiB tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(small, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", small, err)
		}
	})
	fx.db = filepath.Join(small, "tripline.db")
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	d.waitLog(t, "msg=reconciled why=start")

	fromNS := time.Now().UnixNano()
	down(small)
	setExecBits(t, d, fx, out)
	up(small)
	toNS := time.Now().UnixNano()
	checkRecovered(t, d, fx, out, fromNS, toNS)
	line, _ := lineWith(d.stderr.String(), "database unavailable")
	if !strings.Contains(line, say) {
		t.Errorf("the outage's log line does not say %q: %s", say, line)
	}
	t.Logf("%s", line)
	d.stop(t)
}

// fillUp writes name until the filesystem has no space left.
func fillUp(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatal(err)
		}
	}
	// The last partial block: a single byte that does not fit either.
	for {
		if _, err := f.Write(buf[:512]); err != nil {
			break
		}
	}
}

// TestWatchStartGapCoversDowntime stops the daemon, changes a file, starts it again: the start
// gap runs from the first daemon's clean stop to after the start reconcile, so it covers the
// change.
func TestWatchStartGapCoversDowntime(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	d.stop(t)
	before := time.Now().UnixNano()
	sh(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	after := time.Now().UnixNano()
	d = startWatch(t, fx, out)
	d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.Tripline.Source == "reconcile" })
	d.stop(t)
	gs := gaps(t, fx.db)
	if len(gs) != 2 || gs[1].reason != "daemon-start" {
		t.Fatalf("gaps %+v; want one daemon-start gap per start", gs)
	}
	g := gs[1]
	if g.startNS > before || g.endNS < after || g.startNS < gs[0].startNS {
		t.Errorf("start gap [%d, %d]; want it to cover the change made in [%d, %d]", g.startNS, g.endNS, before, after)
	}
	t.Logf("start gap %.3f s, the change %.3f s after its start", float64(g.endNS-g.startNS)/1e9, float64(before-g.startNS)/1e9)
}
