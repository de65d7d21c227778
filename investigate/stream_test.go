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
