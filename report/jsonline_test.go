package report

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// AppendJSONString writes what encoding/json writes for a string, byte for byte.
func TestAppendJSONStringIsMarshal(t *testing.T) {
	for _, v := range []string{"", "plain", "quote \" backslash \\ <script>&amp; \b\f\n\r\t \x00\x1f\x7f",
		"invalid \xff\xfe utf-8, \u2028 \u2029, é, 日本"} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendJSONString([]byte("prefix"), v); string(got) != "prefix"+string(want) {
			t.Errorf("%q:\n got %s\nwant prefix%s", v, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "<>&", "\u2028\u2029", "\xff", "\x00\x1f", "é日本\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
	})
}

// BenchmarkFindingEventECS renders one daemon finding as an ECS line, with an actor of five
// generations as a shell script run from a terminal has.
//
//	go test ./report -run XXX -bench FindingEventECS -benchmem
func BenchmarkFindingEventECS(b *testing.B) {
	var buf bytes.Buffer
	r := &Renderer{W: &buf, Format: ECS, Host: Host{Name: "h"}, Root: "/", Users: &baseline.Users{}}
	f := sampleFindings(b)[0]
	p := proc.Process{PID: 4242, PPID: 4241, Name: "install", Exe: "/usr/bin/install", Args: []string{"install", "-m0755", "job", "/etc/cron.daily/job"},
		Cwd: "/root", Cgroup: "/user.slice/user-0.slice/session-3.scope", LoginUID: 1000, SessionID: 3}
	a := &proc.Actor{PID: 4242, Attribution: proc.AttrKernel, Process: &p}
	for i := range 4 {
		q := p
		q.PID, q.PPID, q.Name, q.Exe, q.Args = p.PID-int32(i)-1, p.PID-int32(i)-2, "bash", "/usr/bin/bash", []string{"bash", "-c", "make install"}
		a.Ancestors = append(a.Ancestors, q)
	}
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := r.FindingEvent(&f, "event", a, EventInfo{ReadNS: 1.7e18}); err != nil {
			b.Fatal(err)
		}
	}
}
