package store

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// FuzzStoredJSON: the hand-written decoders of the history's JSON columns give exactly what
// encoding/json gives, value and error alike, for any bytes: the fast path either decodes as it
// would or gives up.
func FuzzStoredJSON(f *testing.F) {
	e := baseline.Entry{Path: "/etc/cron.daily/job", Location: "cron-periodic", Type: baseline.TypeFile, Mode: 0o755, UID: 4294967295,
		Size: 120, Inode: 1<<63 + 5, Dev: 2049, Nlink: 1, MtimeNS: -1, CtimeNS: 1796226090263366497, BtimeNS: 1, SHA256: "9f86", HashState: baseline.HashOK}
	eb, _ := json.Marshal(e)
	f.Add(eb)
	shell := proc.Process{PID: 900, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}, LoginUID: 1000, SessionID: 3, Exited: true}
	a := proc.Actor{Attribution: proc.AttrKernel, PID: 42, Process: &proc.Process{PID: 42, PPID: 900, Name: "chmod", Exe: "/usr/bin/chmod",
		Args: []string{"chmod", "+x", "/etc/cron.daily/job"}, UID: -1, EUID: 0, ArgsTruncated: true, Kernel: false}, Ancestors: []proc.Process{shell}}
	ab, _ := json.Marshal(a)
	f.Add(ab)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fe, je baseline.Entry
		ferr, jerr := unmarshalEntry(b, &fe), json.Unmarshal(b, &je)
		if (ferr == nil) != (jerr == nil) || (jerr == nil && !reflect.DeepEqual(fe, je)) {
			t.Errorf("entry %q: fast %+v %v, encoding/json %+v %v", b, fe, ferr, je, jerr)
		}
		var fa, ja proc.Actor
		ferr, jerr = unmarshalActor(b, &fa), json.Unmarshal(b, &ja)
		if (ferr == nil) != (jerr == nil) || (jerr == nil && !reflect.DeepEqual(fa, ja)) {
			t.Errorf("actor %q: fast %+v %v, encoding/json %+v %v", b, fa, ferr, ja, jerr)
		}
	})
}

// The fast path does decode what tripline writes (else it would only cost time).
func TestFastPathTakesWhatTriplineWrites(t *testing.T) {
	e := baseline.Entry{Path: "/etc/x", Type: baseline.TypeSymlink, Target: "../y", Mode: 0o777, HashState: baseline.HashNotRegular}
	eb, _ := json.Marshal(e)
	var got baseline.Entry
	if err := fastEntry(eb, &got); err != nil || got != e {
		t.Errorf("fastEntry(%s) = %+v, %v", eb, got, err)
	}
	a := proc.Actor{Attribution: proc.AttrKernel, PID: 7, Process: &proc.Process{PID: 7, Exe: "/usr/bin/cp", Args: []string{"cp", "a", "b"}}, Ancestors: []proc.Process{{PID: 1}}}
	ab, _ := json.Marshal(a)
	var ga proc.Actor
	if err := fastActor(ab, &ga); err != nil || !reflect.DeepEqual(ga, a) {
		t.Errorf("fastActor(%s) = %+v, %v", ab, ga, err)
	}
}

func BenchmarkDecodeStoredRow(b *testing.B) {
	e := baseline.Entry{Path: "/etc/cron.daily/job00005", Location: "cron-periodic", Type: baseline.TypeFile, Mode: 0o644, Size: 120, Inode: 1005,
		Dev: 2049, Nlink: 1, MtimeNS: 1796611630286353799, CtimeNS: 1796611630286353799, BtimeNS: 1796611630286353799,
		SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", HashState: baseline.HashOK}
	eb, _ := json.Marshal(e)
	shell := proc.Process{PID: 900, PPID: 1, Name: "bash", Exe: "/usr/bin/bash", Args: []string{"-bash"}, LoginUID: 1000, SessionID: 3}
	a := proc.Actor{Attribution: proc.AttrKernel, PID: 30005, Process: &proc.Process{PID: 30005, PPID: 900, Name: "chmod", Exe: "/usr/bin/chmod",
		Args: []string{"chmod", "+x", e.Path}, UID: 1, EUID: 1, LoginUID: 1000, SessionID: 3}, Ancestors: []proc.Process{shell}}
	ab, _ := json.Marshal(a)
	b.ReportAllocs()
	for b.Loop() {
		var e1, e2 baseline.Entry
		var a1 proc.Actor
		if unmarshalEntry(eb, &e1) != nil || unmarshalEntry(eb, &e2) != nil || unmarshalActor(ab, &a1) != nil {
			b.Fatal("no decode")
		}
	}
}
