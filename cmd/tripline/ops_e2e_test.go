package main

// The daemon as systemd and a site's log pipeline see it: sd_notify on a socket the test binds
// (READY, WATCHDOG, RELOADING/READY around a real SIGHUP, STOPPING), and findings through
// --output syslog and --output journal into a real rsyslogd and a real systemd-journald.

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/sink"
	"github.com/tripline/tripline/sink/sinktest"
)

// notifications reads what the daemon sends to its NOTIFY_SOCKET.
type notifications struct {
	conn *net.UnixConn
	got  []string
}

func listenNotifications(t *testing.T) (*notifications, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &notifications{conn: c}, path
}

// next returns the next state the daemon sent that is not a WATCHDOG=1 (those are counted).
func (n *notifications) next(t *testing.T, what string) (state string, watchdogs int) {
	t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(watchDeadline))
	for {
		k, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("waiting for %s on NOTIFY_SOCKET: %v (received so far: %q)", what, err, n.got)
		}
		s := string(buf[:k])
		n.got = append(n.got, s)
		if s == "WATCHDOG=1" {
			watchdogs++
			continue
		}
		return s, watchdogs
	}
}

// TestWatchNotify: the daemon says READY=1 when ready, feeds the watchdog WATCHDOG_USEC asks
// for, brackets a SIGHUP reload with RELOADING=1 and READY=1 (also when the new policy is
// broken and the old one is kept), and says STOPPING=1 on SIGTERM.
func TestWatchNotify(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: 1\nextends: default\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, sock := listenNotifications(t)
	// A 200 ms watchdog: WATCHDOG=1 every 100 ms from the loop. WATCHDOG_PID is left unset
	// (the pid is not known before the start), which sd_notify's clients accept as "this one".
	d := startWatchWith(t, fx, filepath.Join(t.TempDir(), "events.ecs"),
		[]string{"env", "NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000", "TRIPLINE_POLICY=" + pol})

	if s, _ := n.next(t, "READY=1"); s != "READY=1" {
		t.Fatalf("first notification %q, want READY=1", s)
	}
	// Watchdog pings come from the loop: wait for three of them.
	n.watchdog(t, 3)

	for _, tc := range []struct {
		name, policy, log string
	}{
		{"reload", "version: 1\nextends: default\ndisable: [git-hooks-system]\n", "msg=\"policy reloaded\""},
		{"broken policy", "version: 1\nextends: [\n", "msg=\"policy not reloaded, keeping the current one\""},
	} {
		if err := os.WriteFile(pol, []byte(tc.policy), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s, _ := n.next(t, "RELOADING=1")
		lines := strings.Split(s, "\n")
		if lines[0] != "RELOADING=1" || len(lines) != 2 || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
			t.Fatalf("%s: notification after SIGHUP %q, want RELOADING=1 with MONOTONIC_USEC", tc.name, s)
		}
		if s, _ := n.next(t, "READY=1 after the reload"); s != "READY=1" {
			t.Fatalf("%s: notification after RELOADING=1 %q, want READY=1", tc.name, s)
		}
		d.waitLog(t, tc.log)
	}
	// The loop still runs after the reloads: the watchdog is still fed.
	n.watchdog(t, 2)
	d.stop(t)
	if s, _ := n.next(t, "STOPPING=1"); s != "STOPPING=1" {
		t.Errorf("notification after SIGTERM %q, want STOPPING=1", s)
	}
	t.Logf("notifications: %d, in order without the watchdog's: %q", len(n.got), n.states())
}

// watchdog waits for k WATCHDOG=1 in a row; anything else fails the test.
func (n *notifications) watchdog(t *testing.T, k int) {
	t.Helper()
	buf := make([]byte, 4096)
	for pings := 0; pings < k; pings++ {
		n.conn.SetReadDeadline(time.Now().Add(watchDeadline))
		m, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("no WATCHDOG=1 (got %d of %d): %v", pings, k, err)
		}
		n.got = append(n.got, string(buf[:m]))
		if string(buf[:m]) != "WATCHDOG=1" {
			t.Fatalf("notification %q while waiting for the watchdog", buf[:m])
		}
	}
}

func (n *notifications) states() []string {
	var out []string
	for _, s := range n.got {
		if s != "WATCHDOG=1" {
			out = append(out, strings.SplitN(s, "\n", 2)[0])
		}
	}
	return out
}

// ecsDoc is what the syslog and journal tests read back from an ECS document.
type ecsDoc struct {
	Rule     struct{ ID string }   `json:"rule"`
	File     struct{ Path string } `json:"file"`
	Tripline struct {
		Severity string `json:"severity"`
	} `json:"tripline"`
	Process *struct {
		PID        int    `json:"pid"`
		Executable string `json:"executable"`
	} `json:"process"`
}

// armFiles creates n files named prefix-NN in /etc/cron.daily already executable (one
// open(O_CREAT, 0755) each, one process each: one executable-created finding each) and returns
// their logical paths.
func armFiles(t *testing.T, fx *fixture, prefix string, n int) map[string]bool {
	t.Helper()
	py := python(t)
	paths := map[string]bool{}
	for i := range n {
		rel := fmt.Sprintf("etc/cron.daily/%s-%02d", prefix, i)
		act(t, py, "-c", "import os, sys; os.umask(0); os.close(os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o755))", fx.path(rel))
		paths["/"+rel] = true
	}
	return paths
}

// TestWatchSyslogOutput: `watch --output syslog:...` into a real rsyslogd, over TCP and the
// local datagram socket; every finding arrives, one RFC 5424 message each, the ECS document
// intact as the message.
func TestWatchSyslogOutput(t *testing.T) {
	testenv.RequireRoot(t)
	r := sinktest.StartRsyslog(t)
	hostname, _ := os.Hostname()
	for _, tr := range []struct{ name, spec string }{
		{"tcp", "syslog:tcp://" + r.TCP},
		{"local", "syslog:" + r.Unix},
	} {
		t.Run(tr.name, func(t *testing.T) {
			fx, _ := newWatchFixture(t)
			d := startWatch(t, fx, "", "--output", tr.spec)
			docs := func(paths map[string]bool) map[sinktest.Received]ecsDoc {
				out := map[sinktest.Received]ecsDoc{}
				for _, m := range r.Read(t) {
					var doc ecsDoc
					if err := json.Unmarshal([]byte(m.Msg), &doc); err != nil {
						t.Fatalf("a message is not an ECS document: %v: %.200q", err, m.Msg)
					}
					if paths[doc.File.Path] {
						out[m] = doc
					}
				}
				return out
			}
			const n = 20
			paths := armFiles(t, fx, tr.name, n)
			d.within(t, fmt.Sprintf("%d syslog messages", n), func() bool { return len(docs(paths)) >= n })
			// Once the message about a later change is in, every change made before was
			// reported (see watch_e2e_test.go): no second message per path may follow.
			sync := armFiles(t, fx, tr.name+"-sync", 1)
			d.within(t, "the sync message", func() bool { return len(docs(sync)) == 1 })
			got := docs(paths)
			if len(got) != n {
				t.Fatalf("rsyslog received %d messages for the %d findings", len(got), n)
			}
			for m, doc := range got {
				sev := severityOf(t, doc.Tripline.Severity)
				if doc.Rule.ID != "executable-created" || m.MsgID != doc.Rule.ID || m.AppName != "tripline" || m.Protocol != "1" ||
					m.Severity != fmt.Sprint(sink.Priority(sev)) || m.Facility != "4" || m.Hostname != hostname ||
					m.ProcID != fmt.Sprint(d.cmd.Process.Pid) {
					t.Errorf("%s: msgid %q app %q procid %s severity %s facility %s host %q; rule %q severity %s",
						doc.File.Path, m.MsgID, m.AppName, m.ProcID, m.Severity, m.Facility, m.Hostname, doc.Rule.ID, doc.Tripline.Severity)
				}
				if doc.Process == nil || doc.Process.PID == 0 {
					t.Errorf("%s: no process in the document", doc.File.Path)
				}
			}
			t.Logf("%s: rsyslog received %d of %d findings from the daemon", tr.spec, len(got), n)
			d.stop(t)
		})
	}
}

// TestWatchJournalOutput: `watch --output journal:SOCKET` into a real systemd-journald; every
// finding is one entry with the structured fields.
func TestWatchJournalOutput(t *testing.T) {
	testenv.RequireRoot(t)
	j := sinktest.StartJournald(t)
	fx, _ := newWatchFixture(t)
	d := startWatch(t, fx, "", "--output", "journal:"+j.Socket)
	entries := func(paths map[string]bool) []map[string][]byte {
		var out []map[string][]byte
		for _, e := range sinktest.JournalEntries(t, j.Dir, "tripline") {
			if paths[string(e["TRIPLINE_PATH"])] {
				out = append(out, e)
			}
		}
		return out
	}
	const n = 20
	paths := armFiles(t, fx, "armed", n)
	d.within(t, fmt.Sprintf("%d journal entries", n), func() bool { return len(entries(paths)) >= n })
	sync := armFiles(t, fx, "sync", 1)
	d.within(t, "the sync entry", func() bool { return len(entries(sync)) == 1 })
	mine := entries(paths)
	if len(mine) != n {
		t.Fatalf("the journal holds %d entries for the %d findings", len(mine), n)
	}
	for _, e := range mine {
		var doc ecsDoc
		if err := json.Unmarshal(e["MESSAGE"], &doc); err != nil {
			t.Fatalf("MESSAGE is not an ECS document: %v", err)
		}
		sev := severityOf(t, string(e["TRIPLINE_SEVERITY"]))
		if doc.File.Path != string(e["TRIPLINE_PATH"]) || string(e["TRIPLINE_RULE"]) != "executable-created" ||
			doc.Tripline.Severity != string(e["TRIPLINE_SEVERITY"]) || string(e["PRIORITY"]) != fmt.Sprint(sink.Priority(sev)) ||
			string(e["TRIPLINE_LOCATION"]) != "cron-periodic" || string(e["TRIPLINE_KIND"]) != "created" ||
			string(e["TRIPLINE_SOURCE"]) != "event" || string(e["_PID"]) != fmt.Sprint(d.cmd.Process.Pid) ||
			doc.Process == nil || string(e["TRIPLINE_PID"]) != fmt.Sprint(doc.Process.PID) ||
			string(e["TRIPLINE_EXE"]) != doc.Process.Executable || doc.Process.Executable == "" {
			t.Errorf("entry for %s: %q", e["TRIPLINE_PATH"], fieldsOf(e))
		}
	}
	t.Logf("journald stored %d of %d findings from the daemon", len(mine), n)
	d.stop(t)
}

func fieldsOf(e map[string][]byte) map[string]string {
	out := map[string]string{}
	for k, v := range e {
		if strings.HasPrefix(k, "TRIPLINE_") || k == "PRIORITY" || k == "_PID" {
			out[k] = string(v)
		}
	}
	return out
}

func severityOf(t *testing.T, s string) policy.Severity {
	t.Helper()
	v, err := policy.ParseSeverity(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
