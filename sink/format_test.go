package sink

import (
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/policy"
)

func severityOf(s string) policy.Severity {
	v, err := policy.ParseSeverity(s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestSyslogFormat(t *testing.T) {
	s := &Syslog{o: SyslogOptions{Facility: FacilityAuth, Hostname: headerField("db 1", 255), AppName: "tripline"}, pid: "42"}
	tm := time.Date(2026, 12, 2, 10, 4, 5, 123456789, time.UTC)
	for _, tc := range []struct {
		sev  string
		rule string
		want string
	}{
		{"critical", "setuid-set", `<34>1 2026-12-02T10:04:05.123456Z db_1 tripline 42 setuid-set - {"a":1}`},
		{"high", "exec-bit-set", `<35>1 2026-12-02T10:04:05.123456Z db_1 tripline 42 exec-bit-set - {"a":1}`},
		{"medium", "", `<36>1 2026-12-02T10:04:05.123456Z db_1 tripline 42 - - {"a":1}`},
		{"low", "a rule with spaces and a very long name beyond 32", `<37>1 2026-12-02T10:04:05.123456Z db_1 tripline 42 a_rule_with_spaces_and_a_very_lo - {"a":1}`},
		{"info", "mode-changed", `<38>1 2026-12-02T10:04:05.123456Z db_1 tripline 42 mode-changed - {"a":1}`},
	} {
		got := string(s.Format(nil, Record{Message: []byte(`{"a":1}`), Severity: severityOf(tc.sev), Rule: tc.rule, Time: tm}))
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.sev, got, tc.want)
		}
	}
}

func TestOpenSpecs(t *testing.T) {
	for _, tc := range []struct{ spec, network, addr, err string }{
		{"syslog", "unixgram", "/dev/log", ""},
		{"syslog:/run/x.sock", "unixgram", "/run/x.sock", ""},
		{"syslog:unix:///run/x.sock", "unixgram", "/run/x.sock", ""},
		{"syslog:udp://10.0.0.1:514", "udp", "10.0.0.1:514", ""},
		{"syslog:tcp://[::1]:6514", "tcp", "[::1]:6514", ""},
		{"syslog:10.0.0.1", "", "", "must be /PATH, udp://HOST:PORT or tcp://HOST:PORT"},
	} {
		n, a, err := parseSyslogAddr(strings.TrimPrefix(strings.TrimPrefix(tc.spec, "syslog"), ":"))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.spec, err, tc.err)
			}
			continue
		}
		if err != nil || n != tc.network || a != tc.addr {
			t.Errorf("%s: %s %s %v, want %s %s", tc.spec, n, a, err, tc.network, tc.addr)
		}
	}
	if _, err := Open("journal:relative", nil); err == nil || !strings.Contains(err.Error(), "absolute path") {
		t.Errorf("journal:relative: %v", err)
	}
	if _, err := Open("syslog:udp://nohostport", nil); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("syslog:udp://nohostport: %v", err)
	}
}

func TestAppendEntry(t *testing.T) {
	got := string(AppendEntry(nil, [][2]string{{"MESSAGE", "hello"}, {"TRIPLINE_PATH", "/etc/a\nb"}, {"EMPTY", ""}}))
	want := "MESSAGE=hello\nTRIPLINE_PATH\n\x08\x00\x00\x00\x00\x00\x00\x00/etc/a\nb\nEMPTY=\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	for name, ok := range map[string]bool{"MESSAGE": true, "TRIPLINE_RULE": true, "A1": true, "_PID": false,
		"1A": false, "lower": false, "WITH-DASH": false, "": false, strings.Repeat("A", 65): false} {
		if ValidFieldName(name) != ok {
			t.Errorf("ValidFieldName(%q) = %v, want %v", name, !ok, ok)
		}
	}
	j := &Journal{o: JournalOptions{Identifier: "tripline"}}
	for _, kv := range j.Fields(Record{Message: []byte("m"), Rule: "r", Path: "/p", Location: "l", Kind: "created",
		Verdict: "alert", Source: "event", PID: 7, Exe: "/bin/sh", HistoryID: 9, Time: time.Now()}) {
		if !ValidFieldName(kv[0]) {
			t.Errorf("field %q is not a valid journal field name", kv[0])
		}
	}
}
