package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// An image whose /etc is a symlink (to a directory outside the tree) used to scan 0 paths, exit 0
// and say "Nothing stands out". It now names the link, sets exit bit 8 (unreadable) and does not
// call an unread tree clean. A merged-/usr alias (/lib -> usr/lib, both in the default policy) is
// scanned under its real name and is no error.
func TestScanSymlinkedLocationDirectory(t *testing.T) {
	fx := newFixture(t)
	outside := t.TempDir()
	if err := os.Rename(fx.path("etc"), filepath.Join(outside, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "etc"), fx.path("etc")); err != nil {
		t.Fatal(err)
	}
	fx.write(t, "usr/lib/systemd/system/app.service", "[Service]\nExecStart=/usr/bin/app\n", 0o644)
	if err := os.Symlink("usr/lib", fx.path("lib")); err != nil {
		t.Fatal(err)
	}
	r := tl(t, fx, "scan")
	if r.code != exitUnreadable {
		t.Errorf("exit %d, want %d\n%s%s", r.code, exitUnreadable, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "/etc: is a symbolic link to ") || !strings.Contains(r.stderr, "never follows: the locations below it were not scanned") {
		t.Errorf("stderr does not name the link:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "/lib:") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("the merged-/usr alias is reported, or more than one line:\n%s", r.stderr)
	}
	if strings.Contains(r.stdout, "Nothing stands out in the inventory") || !strings.Contains(r.stdout, "Nothing stands out in what could be read") {
		t.Errorf("stdout calls the unread tree clean:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "systemd-units") {
		t.Errorf("the unit under /usr/lib was not scanned:\n%s", r.stdout)
	}
}

// A symlinked directory whose target the walk reaches, but not at the locations below the link,
// was no gap: ~/.config -> .kde hid ~/.config/autostart (XDG follows the link), and /etc -> usr
// hid /etc/cron.d. Each is now the one line of a link whose locations were not scanned.
func TestScanSymlinkedLocationDirectoryToWalkedTree(t *testing.T) {
	for _, c := range []struct {
		name, link, target, payload string
	}{
		{"config to kde", "home/alice/.config", ".kde", "home/alice/.kde/autostart/evil.desktop"},
		{"etc to usr", "etc", "usr", "usr/cron.d/evil"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fx := newFixture(t)
			fx.write(t, c.payload, "* * * * * root /tmp/x\n", 0o644)
			if err := os.RemoveAll(fx.path(c.link)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(c.target, fx.path(c.link)); err != nil {
				t.Fatal(err)
			}
			r := tl(t, fx, "scan")
			if r.code != exitUnreadable {
				t.Errorf("exit %d, want %d\n%s%s", r.code, exitUnreadable, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "/"+c.link+": is a symbolic link to "+c.target+", which tripline never follows: the locations below it were not scanned") ||
				strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
				t.Errorf("stderr is not the one line naming the link:\n%s", r.stderr)
			}
			if strings.Contains(r.stdout, "Nothing stands out in the inventory") {
				t.Errorf("stdout calls the unread tree clean:\n%s", r.stdout)
			}
		})
	}
}

// Editing the baseline with sqlite3 used to approve a setuid file silently: scan exited 0. It now
// refuses with one line naming the row (exit 17), and baseline create is the way out.
func TestScanRefusesEditedBaseline(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		testenv.SkipOrFail(t, "the sqlite3 shell is not installed")
	}
	fx := newFixture(t)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatalf("first scan: %d %s", r.code, r.stderr)
	}
	// A real change an operator will accept, recorded by a scan before the edit.
	os.Chmod(fx.path("etc/cron.daily/backup"), 0o755)
	if r := tl(t, fx, "scan"); r.code&exitChanged == 0 {
		t.Fatalf("scan of the change: %d %s", r.code, r.stderr)
	}
	// The attacker makes alpha setuid and approves that in the baseline with sqlite3.
	os.Chmod(fx.path("etc/init.d/alpha"), 0o755|os.ModeSetuid)
	if out, err := exec.Command("sqlite3", fx.db, "UPDATE baseline SET mode = 2541 WHERE path = '/etc/init.d/alpha'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	r := tl(t, fx, "scan")
	if r.code != exitError || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 ||
		!strings.Contains(r.stderr, "1 row(s) edited or added outside tripline (/etc/init.d/alpha)") || !strings.Contains(r.stderr, "refusing to compare") {
		t.Errorf("scan against the edited baseline: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "Nothing stands out") || strings.Contains(r.stdout, "findings") {
		t.Errorf("it compared anyway:\n%s", r.stdout)
	}
	// Nothing else acts on it either: restore (which would set the edited mode), the signed
	// export, an acceptance (which would seal the edit), the daemon.
	before, _ := os.Stat(fx.path("etc/init.d/alpha"))
	for _, args := range [][]string{
		{"restore", "/etc/init.d/alpha"},
		{"baseline", "export", "-o", filepath.Join(t.TempDir(), "export.json")},
		{"baseline", "accept", "/etc/cron.daily/backup"},
		{"baseline", "update"},
		{"watch", "--output", filepath.Join(t.TempDir(), "events")},
	} {
		if r := tl(t, fx, args...); r.code != exitError || !strings.Contains(r.stderr, "/etc/init.d/alpha") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v against the edited baseline: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	if fi, err := os.Stat(fx.path("etc/init.d/alpha")); err != nil || fi.Mode() != before.Mode() {
		t.Errorf("restore acted on the edited row: %v -> %v %v", before.Mode(), fi.Mode(), err)
	}
	// history --verify names it too, and exits 1.
	if r := tl(t, fx, "history", "--verify"); r.code != 1 || !strings.Contains(r.stdout, "baseline EDITED outside tripline") || !strings.Contains(r.stdout, "/etc/init.d/alpha") {
		t.Errorf("history --verify after the edit: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := tl(t, fx, "baseline", "create"); r.code&^exitUnreadable != 0 {
		t.Fatalf("baseline create: %d %s", r.code, r.stderr)
	}
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Errorf("after baseline create: %d %s", r.code, r.stderr)
	}
}

// Cutting rows off the end of the history is invisible to the chain alone (the documented limit),
// and found against a head kept off the host, given with --verify --head.
func TestHistoryVerifyKeptHead(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		testenv.SkipOrFail(t, "the sqlite3 shell is not installed")
	}
	fx := newFixture(t)
	tl(t, fx, "scan")
	os.Chmod(fx.path("etc/cron.daily/backup"), 0o755)
	tl(t, fx, "scan")
	var v struct {
		OK     bool   `json:"ok"`
		Head   string `json:"head"`
		HeadID int64  `json:"head_id"`
	}
	r := tl(t, fx, "history", "--verify", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || !v.OK || v.Head == "" {
		t.Fatalf("verify: %v %+v\n%s", err, v, r.stdout)
	}
	kept := v.Head // what the SIEM holds
	os.Chmod(fx.path("etc/init.d/alpha"), 0o755)
	tl(t, fx, "scan")
	if r := tl(t, fx, "history", "--verify", "--head", kept); r.code != 0 || !strings.Contains(r.stdout, "the head kept earlier is row") {
		t.Fatalf("intact history against the kept head: %d\n%s", r.code, r.stdout)
	}
	if out, err := exec.Command("sqlite3", fx.db, fmt.Sprintf("DELETE FROM history WHERE id >= %d", v.HeadID)).CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	if r := tl(t, fx, "history", "--verify"); r.code != 0 {
		t.Errorf("the chain alone should not see a cut tail (if it now does, update the docs): %d\n%s", r.code, r.stdout)
	}
	r = tl(t, fx, "history", "--verify", "--head", kept)
	if r.code != 1 || !strings.Contains(r.stdout, "is not in this history") {
		t.Errorf("cut history against the kept head: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// watch --output at a planted symlink refuses to start (one line, exit 17) and writes nothing
// to the link's target.
func TestWatchOutputRefusesSymlink(t *testing.T) {
	testenv.RequireRoot(t)
	fx := newFixture(t)
	dir := t.TempDir()
	victim := filepath.Join(dir, "shadow")
	os.WriteFile(victim, []byte("root:*:19000::::::\n"), 0o600)
	link := filepath.Join(dir, "events.ndjson")
	os.Symlink(victim, link)
	r := tl(t, fx, "watch", "--output", link)
	if r.code != exitError || !strings.Contains(r.stderr, "is a symbolic link, which tripline never writes through") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("watch --output LINK: exit %d\n%s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(victim); string(b) != "root:*:19000::::::\n" {
		t.Errorf("the link's target was written: %q", b)
	}
}

// Deleting the meta key that records the baseline made the next scan a first scan, which approved
// whatever was on disk (found in review). A database with a baseline but no record of it refuses.
func TestScanRefusesLostBaselineRecord(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		testenv.SkipOrFail(t, "the sqlite3 shell is not installed")
	}
	fx := newFixture(t)
	tl(t, fx, "scan")
	fx.write(t, "etc/cron.d/evil", "* * * * * root /tmp/evil\n", 0o644)
	if out, err := exec.Command("sqlite3", fx.db, "DELETE FROM meta WHERE key = 'baseline_created_ns'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v %s", err, out)
	}
	r := tl(t, fx, "scan")
	if r.code != exitError || !strings.Contains(r.stderr, "no record of it in its meta") || strings.Contains(r.stdout, "Nothing stands out") {
		t.Errorf("scan with the baseline's record deleted: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// An output that fails (the syslog collector went away) never stops the watching: the daemon
// says so once, keeps recording every change, and the history has them (found in review: the
// daemon exited 17 on the first failed write).
func TestWatchSurvivesItsOutput(t *testing.T) {
	testenv.RequireRoot(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	fx, _ := newWatchFixture(t)
	d := startWatch(t, fx, "syslog:tcp://"+ln.Addr().String())
	conn := <-accepted
	// The collector goes away: its listener and the connection close.
	ln.Close()
	conn.Close()
	for _, f := range []string{"etc/cron.daily/backup", "etc/init.d/alpha"} {
		act(t, "chmod", "+x", fx.path(f))
		time.Sleep(200 * time.Millisecond) // two writes: the first may still be taken by the socket buffer
	}
	d.waitLog(t, "output failing")
	// Still watching after the failure: a change made now is recorded too.
	act(t, "chmod", "+x", fx.path("etc/cron.daily/ux"))
	d.within(t, "every change in the history, the last one made after the output failed", func() bool {
		r := tl(t, fx, "history", "--format", "json")
		return strings.Contains(r.stdout, "/etc/cron.daily/backup") && strings.Contains(r.stdout, "/etc/init.d/alpha") &&
			strings.Contains(r.stdout, "/etc/cron.daily/ux")
	})
	select {
	case <-d.done:
		t.Fatalf("the daemon stopped when its output failed: %v\n%s", d.err, d.stderr)
	default:
	}
}
