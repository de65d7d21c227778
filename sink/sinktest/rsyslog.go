// Package sinktest runs the real receivers the sinks are tested against: an rsyslogd and a
// systemd-journald that a test starts in its own temporary directory, stops and reaps. Only
// tests import it.
package sinktest

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
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// rsyslogdPath is Debian's rsyslog package; .ci/run installs it.
const rsyslogdPath = "/usr/sbin/rsyslogd"

// Rsyslog is a real rsyslogd the test started: listening on 127.0.0.1 (UDP and TCP) and on a
// datagram socket in the test's directory, writing what it parsed of every message from
// app-name tripline as one JSON object per line.
type Rsyslog struct {
	UDP, TCP, Unix string // addresses
	Out            string // the file it writes
}

// Received is what rsyslog parsed of one message.
type Received struct {
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

func freePort(t testing.TB, network string) string {
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

// StartRsyslog writes an rsyslog.conf in a temporary directory, starts rsyslogd -n on it and
// stops and reaps it when the test ends.
func StartRsyslog(t testing.TB) *Rsyslog {
	t.Helper()
	if _, err := os.Stat(rsyslogdPath); err != nil {
		testenv.SkipOrFail(t, "needs Debian's rsyslog package ("+rsyslogdPath+"): apt-get install rsyslog")
	}
	dir := t.TempDir()
	r := &Rsyslog{UDP: freePort(t, "udp"), TCP: freePort(t, "tcp"), Unix: filepath.Join(dir, "log.sock"),
		Out: filepath.Join(dir, "received.json")}
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
`, dir, port(r.UDP), port(r.TCP), r.Unix, r.Out)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(rsyslogdPath, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	done := startDaemon(t, "rsyslogd", cmd, &stderr)
	// Ready when the TCP input accepts; the datagram inputs are probed by the first sends.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", r.TCP)
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
			t.Fatalf("rsyslogd does not listen on %s: %v\n%s", r.TCP, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for {
		if _, err := os.Stat(r.Unix); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rsyslogd made no socket %s\n%s", r.Unix, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return r
}

// Read returns what rsyslog wrote so far.
func (r *Rsyslog) Read(t testing.TB) []Received {
	t.Helper()
	b, err := os.ReadFile(r.Out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []Received
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m Received
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("rsyslog wrote a line that is not JSON: %v: %q", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// WaitFor waits until rsyslog has written messages for which keep returns true, n of them, and
// returns them; it fails when fewer arrive within the deadline.
func (r *Rsyslog) WaitFor(t testing.TB, n int, keep func(Received) bool) []Received {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var got []Received
		for _, m := range r.Read(t) {
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
