package store

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

func codecEntries() map[string]*baseline.Entry {
	full := &baseline.Entry{Path: "/etc/cron.daily/job", Location: "cron-periodic", Type: baseline.TypeFile, Mode: 0o4755, UID: math.MaxUint32,
		GID: 7, Size: -3, Inode: math.MaxUint64, Dev: 2049, Nlink: math.MaxUint32, MtimeNS: math.MinInt64, CtimeNS: math.MaxInt64, BtimeNS: -1,
		Target: "../x\ny", SHA256: strings.Repeat("0f", 32), HashState: baseline.HashOK,
		Package: &baseline.Package{Name: "cron", Version: "3.0pl1-137", Type: "deb", State: baseline.PkgModified, Detail: "md5 differs"}}
	upperHex := *full
	upperHex.SHA256 = strings.Repeat("0F", 32) // not what encodes as 32 bytes: kept as a string
	shortHash := *full
	shortHash.SHA256 = "9f86"
	emptyPkg := *full
	emptyPkg.Package = &baseline.Package{}
	noPkg := *full
	noPkg.Package = nil
	otherPath := *full
	otherPath.Path, otherPath.Location = "/etc/other", ""
	return map[string]*baseline.Entry{
		"every field": full, "upper-case hash": &upperHex, "short hash": &shortHash, "empty package": &emptyPkg,
		"no package": &noPkg, "another path": &otherPath, "zero": {}, "path only": {Path: "/etc/cron.daily/job", Location: "cron-periodic"},
	}
}

// Every entry comes back exactly as it was encoded, against every reference (the row's path and
// location alone, or an old entry that differs in any way), and prints the same JSON.
func TestEntryCodecRoundTrip(t *testing.T) {
	all := codecEntries()
	for name, e := range all {
		refs := map[string]*baseline.Entry{"row": entryRef("/etc/cron.daily/job", "cron-periodic", nil), "nil old of another row": entryRef("/p", "", nil)}
		for rname, r := range all {
			refs["old: "+rname] = r
		}
		for rname, ref := range refs {
			b := encodeEntry(nil, e, ref)
			got, err := decodeEntry(b, ref)
			if err != nil {
				t.Fatalf("%s against %s: %v", name, rname, err)
			}
			if !reflect.DeepEqual(got, e) {
				t.Errorf("%s against %s: %+v, want %+v", name, rname, got, e)
			}
			gj, _ := json.Marshal(got)
			ej, _ := json.Marshal(e)
			if string(gj) != string(ej) {
				t.Errorf("%s against %s: prints %s, want %s", name, rname, gj, ej)
			}
			if ref.Package != nil && got.Package == ref.Package {
				t.Errorf("%s against %s: the decoded entry shares the reference's package", name, rname)
			}
		}
	}
	if b := encodeEntry(nil, nil, &baseline.Entry{}); b != nil {
		t.Errorf("nil entry encodes as %x, want nil (NULL)", b)
	}
}

// The new entry of a mode change costs a few bytes: only what differs from the old one is stored.
func TestEntryCodecSize(t *testing.T) {
	old := codecEntries()["every field"]
	old.Package = nil
	cur := *old
	cur.Mode, cur.CtimeNS = 0o755, old.MtimeNS+1
	ob := encodeEntry(nil, old, entryRef(old.Path, old.Location, nil))
	nb := encodeEntry(nil, &cur, old)
	js, _ := json.Marshal(old)
	t.Logf("old: %d bytes (JSON %d), new: %d bytes", len(ob), len(js), len(nb))
	if len(nb) > 16 || len(ob) > len(js)/2 {
		t.Errorf("old %d bytes (JSON %d), new %d bytes: want old under half its JSON and new at most 16", len(ob), len(js), len(nb))
	}
}

// Damaged or foreign blobs are refused with an error, never a wrong entry.
func TestEntryCodecRefuses(t *testing.T) {
	e := codecEntries()["every field"]
	ref := entryRef(e.Path, e.Location, nil)
	good := encodeEntry(nil, e, ref)
	for name, b := range map[string][]byte{
		"empty":           {},
		"newer version":   append([]byte{2}, good[1:]...),
		"truncated":       good[:len(good)-1],
		"trailing byte":   append(append([]byte{}, good...), 0),
		"unknown field":   {1, 0x80, 0x80, 0x80, 0x01},
		"both hashes":     {1, 0x80, 0x80, 0x03, 0, 0},
		"mode too large":  {1, 1 << ecMode, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"string too long": {1, 1 << ecPath, 0x10, 'a'},
	} {
		if got, err := decodeEntry(b, ref); err == nil {
			t.Errorf("%s (%x): decoded as %+v, want an error", name, b, got)
		}
	}
}

// FuzzEntryCodec: any bytes in an entry column decode to an entry or an error, never a panic, and
// what decodes encodes back to an entry that decodes the same.
func FuzzEntryCodec(f *testing.F) {
	for _, e := range codecEntries() {
		f.Add(encodeEntry(nil, e, entryRef("/etc/cron.daily/job", "cron-periodic", nil)))
	}
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ref := entryRef("/etc/cron.daily/job", "cron-periodic", nil)
		e, err := decodeEntry(b, ref)
		if err != nil {
			return
		}
		again, err := decodeEntry(encodeEntry(nil, e, ref), ref)
		if err != nil || !reflect.DeepEqual(again, e) {
			t.Fatalf("%x decodes as %+v, which re-encodes to %+v (%v)", b, e, again, err)
		}
	})
}

// The codec names every field of baseline.Entry and baseline.Package: a field added to either
// would otherwise be dropped from the history without a word. Add it to entrycodec.go (a new
// mask bit), then here.
func TestEntryCodecKnowsEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[baseline.Entry](): {"Path", "Location", "Type", "Mode", "UID", "GID", "Size", "Inode", "Dev", "Nlink",
			"MtimeNS", "CtimeNS", "BtimeNS", "Target", "SHA256", "HashState", "Package"},
		reflect.TypeFor[baseline.Package](): {"Name", "Version", "Type", "State", "Detail"},
	} {
		var got []string
		for i := range typ.NumField() {
			got = append(got, typ.Field(i).Name)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s has fields %v; entrycodec.go encodes %v", typ, got, want)
		}
	}
}

// What AddHistory records comes back from History exactly, every field of both entries and of
// the actor, for a row with both entries, one with only the new, and one with only the old.
func TestHistoryRowsReadBackExactly(t *testing.T) {
	db, _ := openTest(t)
	full := codecEntries()["every field"]
	cur := *full
	cur.Mode, cur.SHA256, cur.Package = 0o755, strings.Repeat("ab", 32), nil
	a := &proc.Actor{Attribution: proc.AttrSyscall, Why: "w", PID: 42, Process: &proc.Process{PID: 42, PPID: 1, Name: "a) b (c", Exe: "/usr/bin/chmod",
		Args: []string{"chmod", "+x", "\x1b[31m"}, StartTime: 9, UID: -1, EUID: 0, GID: 3, EGID: 4, LoginUID: 1000, SessionID: -1, Cwd: "/root",
		Cgroup: "/system.slice/x", ContainerID: strings.Repeat("c", 64), ArgsTruncated: true, Kernel: false, Exited: true},
		Ancestors: []proc.Process{{PID: 1, Name: "init", Kernel: true}}}
	recs := []*Record{
		{TimeNS: 1, ReadNS: 2, Source: SourceEvent, Path: full.Path, Location: full.Location, Kind: "modified", Flags: []string{"mode", "sha256"},
			Old: full, New: &cur, Rule: "r", Severity: "high", Verdict: "alert", Actor: a, By: "root"},
		{TimeNS: 3, Source: SourceScan, Path: "/other", Location: "", Kind: "created", New: full, Severity: "low", Verdict: "alert", By: "root"},
		{TimeNS: 4, Source: SourceEvent, Path: cur.Path, Location: cur.Location, Kind: "deleted", Old: &cur, Severity: "low", Verdict: "alert", Actor: a, By: "root"},
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, r := range recs {
			if err := tx.AddHistory(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	rows, err := db.History(context.Background(), HistoryQuery{UID: -1})
	if err != nil || len(rows) != len(recs) {
		t.Fatalf("History: %d rows, %v", len(rows), err)
	}
	for i, r := range rows {
		w := recs[i]
		if !reflect.DeepEqual(r.Old, w.Old) || !reflect.DeepEqual(r.New, w.New) || !reflect.DeepEqual(r.Actor, w.Actor) || r.ReadNS != w.ReadNS ||
			!reflect.DeepEqual(r.Flags, append([]string{}, w.Flags...)) || r.Hash != w.Hash {
			t.Errorf("row %d reads back as %+v (old %+v new %+v actor %+v); recorded %+v", r.ID, r, r.Old, r.New, r.Actor, w)
		}
	}
	if res := verify(t, db); !res.OK || res.Rows != 3 {
		t.Errorf("chain: %+v", res)
	}
}
