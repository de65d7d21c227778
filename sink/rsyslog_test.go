package sink

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/sink/sinktest"
)

// probe sends probe messages on a datagram transport until rsyslog has one: a datagram sent
// before its input was up is lost, which is what UDP means, not what the test measures.
func probe(t *testing.T, r *sinktest.Rsyslog, s *Syslog, tag string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if err := s.Write(Record{Message: []byte(`{"probe":"` + tag + `"}`), Rule: "probe-" + tag}); err != nil {
			t.Fatalf("probe: %v", err)
		}
		for _, m := range r.Read(t) {
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
	r := sinktest.StartRsyslog(t)
	const n = 200
	for _, tc := range []struct{ network, addr string }{
		{"udp", r.UDP}, {"tcp", r.TCP}, {"unixgram", r.Unix},
	} {
		t.Run(tc.network, func(t *testing.T) {
			s, err := DialSyslog(tc.network, tc.addr, SyslogOptions{Hostname: "host-" + tc.network})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tc.network != "tcp" {
				probe(t, r, s, tc.network)
			}
			recs := findingRecords(n)
			for _, rec := range recs {
				if err := s.Write(rec); err != nil {
					t.Fatalf("write: %v", err)
				}
			}
			got := r.WaitFor(t, n, func(m sinktest.Received) bool { return m.Hostname == "host-"+tc.network && m.MsgID == "exec-bit-set" })
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
	r := sinktest.StartRsyslog(t)
	s, err := DialSyslog("tcp", r.TCP, SyslogOptions{Hostname: "reconnect"})
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
	if got := r.WaitFor(t, 2, func(m sinktest.Received) bool { return m.Hostname == "reconnect" }); len(got) != 2 {
		t.Fatalf("received %d of 2", len(got))
	}
}

// TestSyslogDatagramTooLarge: an event larger than a UDP datagram can carry arrives as a summary
// naming the rule, the path and the history row, and the write does not fail.
func TestSyslogDatagramTooLarge(t *testing.T) {
	r := sinktest.StartRsyslog(t)
	s, err := DialSyslog("udp", r.UDP, SyslogOptions{Hostname: "too-large"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	probe(t, r, s, "too-large")
	rec := Record{Message: []byte(`{"process":{"args":["` + strings.Repeat("a", 70000) + `"]}}`), Severity: severityOf("high"),
		Rule: "exec-bit-set", Path: "/etc/cron.d/x", HistoryID: 42, PID: 7, Exe: "/usr/bin/chmod"}
	if err := s.Write(rec); err != nil {
		t.Fatalf("write of a %d-byte event: %v", len(rec.Message), err)
	}
	got := r.WaitFor(t, 1, func(m sinktest.Received) bool { return m.Hostname == "too-large" && m.MsgID == "exec-bit-set" })
	var doc struct {
		Message  string
		File     struct{ Path string }
		Tripline struct {
			Truncated bool
			History   struct{ ID int64 }
		}
	}
	if err := json.Unmarshal([]byte(got[0].Msg), &doc); err != nil {
		t.Fatalf("the summary is not JSON: %v: %q", err, got[0].Msg)
	}
	if doc.File.Path != "/etc/cron.d/x" || !doc.Tripline.Truncated || doc.Tripline.History.ID != 42 || got[0].Severity != "3" {
		t.Errorf("summary %q (severity %s)", got[0].Msg, got[0].Severity)
	}
}
