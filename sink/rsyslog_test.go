package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// rsyslogdPath is Debian's rsyslog package; .ci/run installs it.
const rsyslogdPath = "/usr/sbin/rsyslogd"

// rsyslog is a real rsyslogd the test started: listening on 127.0.0.1 (UDP and TCP) and on a
// datagram socket in the test's directory, writing what it parsed of every message from
// app-name tripline as one JSON object per line.
type rsyslog struct {
	udp, tcp, unix string // addresses
	out            string // the file it writes
}

// received is what rsyslog parsed of one message.
type received struct {
	Pri      string `json:"pri"`
	Severity string `json:"severity"`
	Facility string `json:"facility"`
	AppName  string `json:"appname"`
	ProcID   string `json:"procid"`
	MsgID    string `json:"msgid"`
	Hostname string `json:"hostname"`
	Protocol string `json:"protocol"`
	Msg      string `json:"msg"`
}

func freePort(t *testing.T, network string) string {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startRsyslog writes an rsyslog.conf in a temporary directory, starts rsyslogd -n on it and
// stops and reaps it when the test ends.
func startRsyslog(t *testing.T) *rsyslog {
	t.Helper()
	if _, err := os.Stat(rsyslogdPath); err != nil {
		testenv.SkipOrFail(t, "needs Debian's rsyslog package ("+rsyslogdPath+"): apt-get install rsyslog")
	}
	dir := t.TempDir()
	r := &rsyslog{udp: freePort(t, "udp"), tcp: freePort(t, "tcp"), unix: filepath.Join(dir, "log.sock"),
		out: filepath.Join(dir, "received.json")}
	port := func(a string) string { _, p, _ := net.SplitHostPort(a); return p }
	conf := fmt.Sprintf(`global(workDirectory=%q maxMessageSize="256k")
module(load="imudp")
module(load="imtcp")
module(load="imuxsock" SysSock.Use="off")
input(type="imudp" address="127.0.0.1" port=%q rcvbufSize="8m")
input(type="imtcp" address="127.0.0.1" port=%q)
input(type="imuxsock" Socket=%q UseSpecialParser="off" ParseHostname="on")
template(name="parsed" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="severity" name="syslogseverity" format="jsonf")
  property(outname="facility" name="syslogfacility" format="jsonf")
  property(outname="appname" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="protocol" name="protocol-version" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}
if $app-name == "tripline" then {
  action(type="omfile" file=%q template="parsed")
}
`, dir, port(r.udp), port(r.tcp), r.unix, r.out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(rsyslogdPath, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start rsyslogd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", stderr.String())
		}
	})
	// Ready when the TCP input accepts; the datagram inputs are probed by the first sends.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", r.tcp)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("rsyslogd exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd does not listen on %s: %v\n%s", r.tcp, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		if _, err := os.Stat(r.unix); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd made no socket %s\n%s", r.unix, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// read returns what rsyslog wrote so far.
func (r *rsyslog) read(t *testing.T) []received {
	t.Helper()
	b, err := os.ReadFile(r.out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []received
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m received
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("rsyslog wrote a line that is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// waitFor waits until rsyslog has written messages for which keep returns true, n of them, and
// returns them; it fails when fewer arrive within the deadline.
func (r *rsyslog) waitFor(t *testing.T, n int, keep func(received) bool) []received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var got []received
		for _, m := range r.read(t) {
			if keep(m) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("rsyslog received %d of %d messages", len(got), n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe sends probe messages on a datagram transport until rsyslog has one: a datagram sent
// before its input was up is lost, which is what UDP means, not what the test measures.
func (r *rsyslog) probe(t *testing.T, s *Syslog, tag string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if err := s.Write(Record{Message: []byte(`{"probe":"` + tag + `"}`), Rule: "probe-" + tag}); err != nil {
			t.Fatalf("probe: %v", err)
		}
		for _, m := range r.read(t) {
			if m.MsgID == "probe-"+tag {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslog received none of %d probes on %s", i+1, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// findingRecords are n records as the daemon sends them: ECS-like documents (with a newline-free
// escaped path, a unicode path, a large one) at every severity.
func findingRecords(n int) []Record {
	sevs := []string{"info", "low", "medium", "high", "critical"}
	out := make([]Record, n)
	for i := range out {
		sev := severityOf(sevs[i%len(sevs)])
		path := fmt.Sprintf("/etc/cron.d/job-%03d", i)
		switch i % 7 {
		case 3:
			path = fmt.Sprintf("/etc/cron.d/ünïcødé €%d", i)
		case 5:
			path = fmt.Sprintf("/etc/cron.d/\"quoted\" \\ and\ttab %d", i)
		}
		doc := map[string]any{"@timestamp": "2026-12-02T10:00:00.000Z", "event": map[string]any{"kind": "alert",
			"severity": sev.Number(), "sequence": i}, "rule": map[string]any{"id": "exec-bit-set"},
			"file": map[string]any{"path": path}, "tripline": map[string]any{"severity": sev.String()}}
		if i%50 == 49 {
			doc["padding"] = strings.Repeat("x", 20000) // a document larger than rsyslog's 8 KiB default
		}
		b, _ := json.Marshal(doc)
		out[i] = Record{Message: b, Severity: sev, Rule: "exec-bit-set", Path: path, Time: time.Now()}
	}
	return out
}

func TestSyslogToRsyslog(t *testing.T) {
	r := startRsyslog(t)
	const n = 200
	for _, tc := range []struct{ network, addr string }{
		{"udp", r.udp}, {"tcp", r.tcp}, {"unixgram", r.unix},
	} {
		t.Run(tc.network, func(t *testing.T) {
			s, err := DialSyslog(tc.network, tc.addr, SyslogOptions{Hostname: "host-" + tc.network})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.network != "tcp" {
				r.probe(t, s, tc.network)
			}
			recs := findingRecords(n)
			for _, rec := range recs {
				if err := s.Write(rec); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			got := r.waitFor(t, n, func(m received) bool { return m.Hostname == "host-"+tc.network && m.MsgID == "exec-bit-set" })
			if len(got) != n {
				t.Fatalf("rsyslog received %d messages, sent %d", len(got), n)
			}
			t.Logf("%s: rsyslog received %d of %d findings", tc.network, len(got), n)
			seen := map[int]bool{}
			for _, m := range got {
				var doc struct {
					Event struct {
						Sequence int `json:"sequence"`
						Severity int `json:"severity"`
					} `json:"event"`
					File     struct{ Path string } `json:"file"`
					Tripline struct{ Severity string }
				}
				if err := json.Unmarshal([]byte(m.Msg), &doc); err != nil {
					t.Fatalf("the message is not the JSON document sent: %v: %.200q", err, m.Msg)
				}
				i := doc.Event.Sequence
				if seen[i] {
					t.Errorf("message %d arrived twice", i)
				}
				seen[i] = true
				want := recs[i]
				if m.Msg != string(want.Message) {
					t.Errorf("message %d changed on the way:\n got %.300q\nwant %.300q", i, m.Msg, want.Message)
				}
				if doc.File.Path != want.Path {
					t.Errorf("message %d: path %q, want %q", i, doc.File.Path, want.Path)
				}
				wantSev := fmt.Sprint(Priority(want.Severity))
				if m.Severity != wantSev || m.Facility != "4" || m.Pri != fmt.Sprint(4*8+Priority(want.Severity)) {
					t.Errorf("message %d (%s): pri %s severity %s facility %s, want severity %s facility 4",
						i, want.Severity, m.Pri, m.Severity, m.Facility, wantSev)
				}
				if m.AppName != "tripline" || m.ProcID != fmt.Sprint(os.Getpid()) || m.Protocol != "1" {
					t.Errorf("message %d: app-name %q procid %q protocol %q, want tripline, %d, 1 (RFC 5424)",
						i, m.AppName, m.ProcID, m.Protocol, os.Getpid())
				}
			}
		})
	}
}

// TestSyslogTCPReconnect: rsyslog restarted between two messages; the sink redials once and the
// second message arrives.
func TestSyslogTCPReconnect(t *testing.T) {
	r := startRsyslog(t)
	s, err := DialSyslog("tcp", r.tcp, SyslogOptions{Hostname: "reconnect"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Break the connection under the sink, as a receiver restart does.
	s.conn.Close()
	recs := findingRecords(2)
	for _, rec := range recs {
		if err := s.Write(rec); err != nil {
			t.Fatalf("write after the connection broke: %v", err)
		}
	}
	if got := r.waitFor(t, 2, func(m received) bool { return m.Hostname == "reconnect" }); len(got) != 2 {
		t.Fatalf("received %d of 2", len(got))
	}
}
