package investigate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

func streamRows() []store.HistoryRow {
	e := &baseline.Entry{Path: "/etc/cron.daily/job", Location: "cron", Type: baseline.TypeFile, Mode: 0o755, Size: 10, MtimeNS: t1, CtimeNS: t2, HashState: baseline.HashOK}
	return []store.HistoryRow{
		{ID: 1, TimeNS: t1, Source: "event", Path: "/etc/cron.daily/job", Kind: "modified", Flags: []string{"exec-added"}, Old: e, New: e, Rule: "exec-bit-set", Severity: "high", Verdict: "alert", Actor: kernelActor(10, "/usr/bin/mv")},
		{ID: 2, TimeNS: t2, Source: "scan", Path: "/etc/cron.d/a<b>&\n", Kind: "created", Flags: []string{}, New: e, Severity: "low", Verdict: "alert"},
		{ID: 3, TimeNS: t2, Source: "event", Path: "/etc/x", Kind: "deleted", Flags: []string{}, Old: e, Severity: "info", Verdict: "trusted", Actor: kernelActor(11, "/usr/bin/rm")},
		{ID: 4, TimeNS: t2 + 1, Source: "event", Path: "/etc/y", Kind: "modified", Flags: []string{}, Old: e, New: e, Severity: "info", Verdict: "alert", Actor: kernelActor(10, "/usr/bin/mv")},
		{ID: 5, TimeNS: t2 + 2, Source: "reconcile", Path: "/etc/z", Kind: "deleted", Flags: []string{}, Old: e, Severity: "low", Verdict: "alert", Actor: recorded(proc.Nobody())},
		// Every field set, and strings JSON escapes.
		{ID: 6, TimeNS: t2 + 3, ReadNS: t2 + 2, RunID: 7, Source: "event", Path: "/etc/cron.d/\u2028\"q\"\\\x01\xff", Location: "cron", Kind: "modified",
			Flags: []string{"exec-added", "<&>"}, Old: full, New: full, Rule: "r<1>", Severity: "critical", Verdict: "alert",
			Actor: kernelActor(12, "/tmp/a&b", "x\ty"), By: "daemon\u2029", Hash: "abc"},
		{ID: 7, TimeNS: t2 + 4, Source: "scan", Path: "/etc/w", Kind: "created", New: e, Severity: "info", Verdict: "alert"}, // nil flags
	}
}

var full = &baseline.Entry{Path: "/etc/cron.d/f<>", Location: "cron", Type: baseline.TypeSymlink, Mode: 0o777, UID: 1, GID: 2, Size: 3, Inode: 1 << 63,
	Dev: 5, Nlink: 6, MtimeNS: t1, CtimeNS: t2, BtimeNS: t1 - 1, Target: "../x\n", SHA256: "ab", HashState: baseline.HashOK,
	Package: &baseline.Package{Name: "cron", Version: "1:3.0", Type: "deb", State: baseline.PkgVerified, Detail: "d&"}}

// storedRows is rows as store.DB.EachHistoryStored yields them: each actor as its id and JSON,
// one id per distinct pointer. JSON that json.Marshal would write differently (here with a
// space) and a missing actor are there too.
func storedRows(t *testing.T, rows []store.HistoryRow) []store.HistoryRow {
	ids := map[*proc.Actor]int64{}
	var out []store.HistoryRow
	for i, r := range rows {
		if r.Actor != nil {
			id, ok := ids[r.Actor]
			if !ok {
				id = int64(len(ids) + 1)
				ids[r.Actor] = id
			}
			js, err := json.Marshal(r.Actor)
			if err != nil {
				t.Fatal(err)
			}
			if i == 2 {
				js = append([]byte("{ "), js[1:]...)
			}
			r.Stored, r.Actor = store.StoredActor{ID: id, JSON: js}, nil
		}
		out = append(out, r)
	}
	out = append(out, store.HistoryRow{ID: 8, TimeNS: t2 + 5, Source: "event", Path: "/etc/v", Kind: "deleted", Flags: []string{}, Severity: "low",
		Verdict: "alert", Stored: store.StoredActor{ID: 99}})
	return out
}

// Rows with stored actors are written as the same rows with the actors decoded.
func TestStoredActorsAsDecoded(t *testing.T) {
	stored := storedRows(t, streamRows())
	var decoded []store.HistoryRow
	for _, r := range stored {
		r.Actor, r.Stored = r.Stored.Decode(), store.StoredActor{}
		decoded = append(decoded, r)
	}
	if a := decoded[2].Actor; a == nil || a.PID != 11 {
		t.Fatalf("the spaced actor JSON decodes to %+v", a)
	}
	for _, w := range []struct {
		name  string
		write func(*bytes.Buffer, []store.HistoryRow) error
	}{
		{"json", func(b *bytes.Buffer, rows []store.HistoryRow) error { return WriteRowsJSON(b, each(rows)) }},
		{"grouped", func(b *bytes.Buffer, rows []store.HistoryRow) error { return WriteGroupedEach(b, each(rows), nil) }},
	} {
		var got, want bytes.Buffer
		if err := w.write(&got, stored); err != nil {
			t.Fatal(err)
		}
		if err := w.write(&want, decoded); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%s: stored actors\n%s\ndecoded\n%s", w.name, got.String(), want.String())
		}
		// The grouped listing puts an actor without a pid with the rows without one.
		if w.name == "json" && !bytes.Contains(got.Bytes(), []byte("is missing from the database")) {
			t.Errorf("%s: the missing actor is not said:\n%s", w.name, got.String())
		}
	}
}

func each(rows []store.HistoryRow) func(func(store.HistoryRow) error) error {
	return func(f func(store.HistoryRow) error) error {
		for _, r := range rows {
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// The grouped listing streamed through a temporary file is what grouping the rows in memory
// writes.
func TestWriteGroupedEachIsGroup(t *testing.T) {
	rows := streamRows()
	var want bytes.Buffer
	groups := Group(rows)
	fmt.Fprintf(&want, "%d changes by %d actors\n", len(rows), len(groups))
	for _, g := range groups {
		title := "no actor (scans, reconciles, acceptances)"
		if g.Actor != nil {
			title = DescribeActor(g.Actor, nil)
		}
		fmt.Fprintf(&want, "\n%s\n", title)
		for _, r := range g.Rows {
			fmt.Fprintf(&want, "  #%d %s %-9s %s: %s [%s]\n", r.ID, when(r.TimeNS), baseline.QuoteLine(string(r.Source)), baseline.QuotePath(r.Path), What(r), Finding(r))
		}
	}
	var got bytes.Buffer
	if err := WriteGroupedEach(&got, each(rows), nil); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("streamed:\n%s\nin memory:\n%s", got.String(), want.String())
	}
}

// The grouped listing is the same when its lines are read back in many small windows and chunks,
// with groups larger than a window written as they are read.
func TestWriteGroupedEachSmallWindows(t *testing.T) {
	rows := streamRows()
	var want bytes.Buffer
	if err := WriteGroupedEach(&want, each(rows), nil); err != nil {
		t.Fatal(err)
	}
	defer func(w int64, c int) { copyWindowBytes, copyChunkBytes = w, c }(copyWindowBytes, copyChunkBytes)
	for _, w := range []int64{1, 150, 400} {
		for _, c := range []int{1, 64, 1 << 20} {
			copyWindowBytes, copyChunkBytes = w, c
			var got bytes.Buffer
			if err := WriteGroupedEach(&got, each(rows), nil); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("window %d, chunk %d:\n%s\nwant\n%s", w, c, got.String(), want.String())
			}
		}
	}
}

// The streamed JSON is byte for byte the indented encoding of the whole RowsJSON.
func TestWriteRowsJSONIsEncoder(t *testing.T) {
	all := streamRows()
	for _, n := range []int{0, 1, len(all)} {
		rows := all[:n]
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetIndent("", "  ")
		if err := enc.Encode(RowsJSON{Rows: Rows(rows)}); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := WriteRowsJSON(&got, each(rows)); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d rows: streamed\n%s\nencoder\n%s", n, got.String(), want.String())
		}
	}
}
