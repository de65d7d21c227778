package investigate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

// Suspicious calls out timestomping by a process, not tripline's own restore of an mtime.
func TestSuspiciousTimes(t *testing.T) {
	old := &baseline.Entry{Type: baseline.TypeFile, MtimeNS: 2000, BtimeNS: 1000}
	back := &baseline.Entry{Type: baseline.TypeFile, MtimeNS: 500, BtimeNS: 1000}
	rows := []store.HistoryRow{
		{ID: 1, Source: "event", Kind: "modified", Old: old, New: back, TimeNS: 10},
		{ID: 2, Source: "restore", Kind: "restored", Old: old, New: back, TimeNS: 20},
	}
	notes := Suspicious(rows)
	if len(notes) != 2 || !strings.Contains(notes[0], "#1") || !strings.Contains(notes[0], "backwards") ||
		!strings.Contains(notes[1], "#1") || !strings.Contains(notes[1], "before the file's birth") {
		t.Errorf("notes %q: want the event's mtime set backwards and before birth, and nothing for the restore", notes)
	}
	created := `{"attribution":"kernel","pid":1,"process":{"pid":1,"loginuid":1000,"sessionid":7}}`
	armed := `{"attribution":"kernel","pid":2,"process":{"pid":2,"loginuid":1000,"sessionid":7}}`
	rows = []store.HistoryRow{
		{ID: 1, Source: "event", Kind: "created", New: old, TimeNS: 0, Actor: json.RawMessage(created)},
		{ID: 2, Source: "event", Kind: "modified", Flags: []string{"exec-added"}, Old: old, New: old, TimeNS: int64(61e9), Actor: json.RawMessage(armed)},
	}
	if notes := Suspicious(rows); len(notes) != 1 || !strings.Contains(notes[0], "1m1s apart") || !strings.Contains(notes[0], "session 7") {
		t.Errorf("created and armed: %q", notes)
	}
	rows[1].TimeNS = int64(11 * 60e9)
	if notes := Suspicious(rows); len(notes) != 0 {
		t.Errorf("11 minutes apart is outside the window: %q", notes)
	}
}
