package main

// Daemon tests of what happens around the database: a second daemon, a database that cannot be
// written for a while, the windows of the gaps.

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
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
