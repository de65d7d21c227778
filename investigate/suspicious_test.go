package investigate

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
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
	created := recorded(&proc.Actor{Attribution: proc.AttrKernel, PID: 1, Process: &proc.Process{PID: 1, LoginUID: 1000, SessionID: 7}})
	armed := recorded(&proc.Actor{Attribution: proc.AttrKernel, PID: 2, Process: &proc.Process{PID: 2, LoginUID: 1000, SessionID: 7}})
	rows = []store.HistoryRow{
		{ID: 1, Source: "event", Kind: "created", New: old, TimeNS: 0, Actor: created},
		{ID: 2, Source: "event", Kind: "modified", Flags: []string{"exec-added"}, Old: old, New: old, TimeNS: int64(61e9), Actor: armed},
	}
	if notes := Suspicious(rows); len(notes) != 1 || !strings.Contains(notes[0], "1m1s apart") || !strings.Contains(notes[0], "session 7") {
		t.Errorf("created and armed: %q", notes)
	}
	rows[1].TimeNS = int64(11 * 60e9)
	if notes := Suspicious(rows); len(notes) != 0 {
		t.Errorf("11 minutes apart is outside the window: %q", notes)
	}
}

func TestSameSession(t *testing.T) {
	actor := func(login int32, session int64) *proc.Actor {
		return &proc.Actor{Attribution: proc.AttrKernel, PID: 9, Process: &proc.Process{PID: 9, LoginUID: login, SessionID: session}}
	}
	for _, c := range []struct {
		name string
		a, b *proc.Actor
		want string // "" for not the same
	}{
		{"one session", actor(1000, 7), actor(1000, 7), "in the same login session 7 (login uid 1000)"},
		{"two sessions of one login user", actor(1000, 7), actor(1000, 8), "by the same login user 1000"},
		{"two login users", actor(1000, 7), actor(1001, 8), ""},
		{"unset login uid and session", actor(-1, -1), actor(-1, -1), ""},
		{"a pid only", &proc.Actor{Attribution: proc.AttrPIDOnly, PID: 9}, actor(1000, 7), ""},
		{"nobody", nil, actor(1000, 7), ""},
	} {
		same, how := SameSession(c.a, c.b)
		if same != (c.want != "") || how != c.want {
			t.Errorf("%s: SameSession = %v, %q; want %q", c.name, same, how, c.want)
		}
	}
}
