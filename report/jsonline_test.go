package report

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// appendJSON writes what encoding/json writes, byte for byte, for the values ECS documents are
// made of and for anything else.
func TestAppendJSONIsMarshal(t *testing.T) {
	for _, v := range []any{
		nil, "", "plain", "quote \" backslash \\ <script>&amp; \b\f\n\r\t \x00\x1f\x7f",
		"invalid \xff\xfe utf-8, \u2028 \u2029, é, 日本", true, false,
		0, -1, 1 << 40, int32(-7), int64(math.MinInt64), uint32(7), uint64(math.MaxUint64),
		0.0, 73.0, -1.5, 1e-7, 1e21, 123456789.125, math.SmallestNonzeroFloat64,
		[]string(nil), []string{}, []string{"a", "<b>"},
		obj(nil), obj{}, obj{"z": 1, "a": obj{"y": []string{"x"}, "b": nil}, "m": []obj{{"k": "v"}}, "\xff": "bad key"},
		[]obj(nil), []obj{}, []any{1, "two", obj{"three": 3.0}}, []any(nil),
		policy.VerdictAlert, struct {
			A string `json:"a"`
			B int    `json:"b,omitempty"`
		}{"x", 0},
		map[string]int{"b": 2, "a": 1},
	} {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendJSON([]byte("prefix"), v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if string(got) != "prefix"+string(want) {
			t.Errorf("%#v:\n got %s\nwant prefix%s", v, got, want)
		}
	}
	if _, err := appendJSON(nil, math.NaN()); err == nil {
		t.Error("NaN encoded without an error, as encoding/json refuses it")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "<>&", "\u2028\u2029", "\xff", "\x00\x1f", "é日本\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: got %s, want %s", s, got, want)
		}
		m := obj{s: []string{s}}
		want, _ = json.Marshal(m)
		if got, _ := appendJSON(nil, m); string(got) != string(want) {
			t.Errorf("obj %q: got %s, want %s", s, got, want)
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
