package investigate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

const (
	t1 = int64(1_796_226_090_263_366_497) // 2026-12-02T15:41:30.263366497Z
	t2 = int64(1_796_226_150_000_000_001)
)

// recorded is an actor as a history row holds it.
func recorded(a *proc.Actor) *proc.Actor { return a }

func kernelActor(pid int32, exe string, args ...string) *proc.Actor {
	return recorded(&proc.Actor{Attribution: proc.AttrKernel, PID: pid, Process: &proc.Process{PID: pid, Exe: exe, Args: args, UID: 0, EUID: 0, LoginUID: 1000, SessionID: 3},
		Ancestors: []proc.Process{{PID: 1, Exe: "/usr/lib/systemd/systemd", Args: []string{"/sbin/init"}}}})
}

func TestTimelineText(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	users := baseline.LoadUsers(root)
	rows := []store.HistoryRow{
		{ID: 7, TimeNS: t1, Source: "event", Path: "/etc/cron.daily/x", Kind: "modified", Flags: []string{"exec-added", "mode"},
			Old: entry(0o644, 1, strings.Repeat("a", 64)), New: entry(0o755, 1, strings.Repeat("a", 64)),
			Rule: "exec-bit-set", Severity: "high", Verdict: "alert", Actor: kernelActor(4242, "/usr/bin/chmod", "chmod", "+x", "x\r\x1b[Kinnocent")},
		{ID: 8, TimeNS: t2, Source: "accept", Path: "/etc/cron.daily/x", Kind: "accepted", Old: entry(0o644, 1, strings.Repeat("a", 64)),
			New: entry(0o755, 1, strings.Repeat("a", 64)), By: "root (uid 0)"},
	}
	gaps := []store.Gap{{ID: 1, StartNS: t1 - 1e9, Reason: "overflow", Detail: "queue\x1b[2J"}}
	tl := NewTimeline("/etc/cron.daily/x", rows, gaps)
	var out bytes.Buffer
	if err := tl.WriteText(&out, users); err != nil {
		t.Fatal(err)
	}
	want := `/etc/cron.daily/x: 2 recorded changes, oldest first
first seen 2026-12-02T15:41:30.263366497Z (event)

#7 2026-12-02T15:41:30.263366497Z  event     mode 0644 -> 0755
      exec-bit-set, high, alert
      pid 4242 /usr/bin/chmod "chmod +x x\r\x1b[Kinnocent"
      parent pid 1 /usr/lib/systemd/systemd "/sbin/init"
      user root (0), login user alice (1000), session 3; attribution kernel

#8 2026-12-02T15:42:30.000000001Z  accept    mode 0644 -> 0755
      accepted into the baseline by root (uid 0)

coverage gaps during its life (changes in them were found by reconciling, without an actor):
  2026-12-02T15:41:29.263366497Z to still open: overflow "queue\x1b[2J"
`
	if out.String() != want {
		t.Errorf("WriteText =\n%s\nwant\n%s", out.String(), want)
	}
}

func TestGroup(t *testing.T) {
	rows := []store.HistoryRow{
		{ID: 1, Actor: kernelActor(10, "/usr/bin/mv")},
		{ID: 2},
		{ID: 3, Actor: kernelActor(11, "/usr/bin/chmod")},
		{ID: 4, Actor: kernelActor(10, "/usr/bin/mv")},
		{ID: 5, Actor: recorded(proc.Nobody())},
		{ID: 6, Actor: kernelActor(10, "/usr/bin/python3")}, // the pid was reused
	}
	var got []string
	for _, g := range Group(rows) {
		s := "none"
		if g.Actor != nil {
			s = fmt.Sprintf("%d %s", g.Actor.PID, g.Actor.Process.Exe)
		}
		for _, r := range g.Rows {
			s += fmt.Sprintf(" #%d", r.ID)
		}
		got = append(got, s)
	}
	want := []string{"10 /usr/bin/mv #1 #4", "none #2 #5", "11 /usr/bin/chmod #3", "10 /usr/bin/python3 #6"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("Group = %q, want %q", got, want)
	}
	var out bytes.Buffer
	if err := WriteGrouped(&out, nil, nil); err != nil || out.String() != "No recorded change matches.\n" {
		t.Errorf("WriteGrouped(nothing) = %q, %v", out.String(), err)
	}
}

// Every integer time of the JSON has an RFC 3339 string beside it, exact to the nanosecond.
func TestTimelineJSONTimes(t *testing.T) {
	e := entry(0o644, 1, strings.Repeat("a", 64))
	e.MtimeNS, e.CtimeNS, e.BtimeNS = t1, t2, t1-5
	rows := []store.HistoryRow{{ID: 1, TimeNS: t2, Source: "scan", Kind: "created", New: e}}
	tl := NewTimeline("/etc/cron.daily/x", rows, []store.Gap{{StartNS: t1, EndNS: t2}, {StartNS: t1}})
	b, err := json.Marshal(tl.JSON())
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Rows []map[string]any
		Gaps []map[string]any
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	pairs := func(m map[string]any, keys ...string) {
		t.Helper()
		for _, k := range keys {
			ns, _ := m[k+"_ns"].(json.Number).Int64()
			if s, _ := m[k].(string); s != baseline.FormatTime(ns) || ns == 0 {
				t.Errorf("%s = %v beside %s_ns = %v", k, m[k], k, m[k+"_ns"])
			}
		}
	}
	pairs(v.Rows[0], "time")
	pairs(v.Rows[0]["new"].(map[string]any), "mtime", "ctime", "btime")
	if got := v.Rows[0]["new"].(map[string]any)["btime"]; got != "2026-12-02T15:41:30.263366492Z" {
		t.Errorf("btime %v", got)
	}
	pairs(v.Gaps[0], "start", "end")
	if _, ok := v.Gaps[1]["end"]; ok {
		t.Errorf("an open gap has an end: %v", v.Gaps[1])
	}
	if !strings.Contains(string(b), `"notes":[]`) || strings.Contains(string(b), `"diffs"`) {
		t.Errorf("notes or diffs: %s", b)
	}
}

type contents map[string]string

func (c contents) Content(_ context.Context, sha string) ([]byte, error) {
	switch s, ok := c[sha]; {
	case !ok:
		return nil, store.ErrNoContent
	case s == "damaged":
		return nil, errors.New("stored content " + sha[:4] + " is damaged")
	default:
		return []byte(s), nil
	}
}

func TestDiffs(t *testing.T) {
	a, b, c, d, e := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64), strings.Repeat("d", 64), strings.Repeat("e", 64)
	kept := contents{a: "one\n", b: "one\ntwo\n", c: "\x00\x01", e: "damaged"}
	rows := []store.HistoryRow{
		{ID: 1, TimeNS: t1, Old: entry(0o644, 4, a), New: entry(0o644, 8, b)},
		{ID: 2, TimeNS: t2, Old: entry(0o644, 8, b), New: entry(0o644, 2, c)},
		{ID: 3, TimeNS: t2 + 1, Old: entry(0o644, 2, c), New: entry(0o644, 9, d)},
		{ID: 4, TimeNS: t2 + 2, Old: entry(0o644, 9, d), New: entry(0o644, 9, e)},
	}
	got := Diffs(context.Background(), kept, rows)
	want := []string{
		"--- version 1 (before the first recorded change)\n+++ version 2 (2026-12-02T15:41:30.263366497Z, history row 1)\n@@ -1 +1,2 @@\n one\n+two",
		"--- version 2 (2026-12-02T15:41:30.263366497Z)\n+++ version 3 (2026-12-02T15:42:30.000000001Z, history row 2)\nbinary content: 8 bytes (sha256 bbbbbbbbbbbb) -> 2 bytes (sha256 cccccccccccc); 'tripline show PATH@N' prints either",
		"--- version 3 (2026-12-02T15:42:30.000000001Z)\n+++ version 4 (2026-12-02T15:42:30.000000002Z, history row 3)\nversion 4 (sha256 dddddddddddd, 9 bytes) is not stored (over 1 MiB, or pruned)",
		"--- version 4 (2026-12-02T15:42:30.000000002Z)\n+++ version 5 (2026-12-02T15:42:30.000000003Z, history row 4)\nversion 4 (sha256 dddddddddddd, 9 bytes) is not stored (over 1 MiB, or pruned)\nstored content eeee is damaged",
	}
	if strings.Join(got, "\n====\n") != strings.Join(want, "\n====\n") {
		t.Errorf("Diffs =\n%s\nwant\n%s", strings.Join(got, "\n====\n"), strings.Join(want, "\n====\n"))
	}
	if got := Diffs(context.Background(), kept, rows[:1][:0]); len(got) != 1 || !strings.HasPrefix(got[0], "no content versions") {
		t.Errorf("no rows: %q", got)
	}
	one := []store.HistoryRow{{ID: 1, Kind: "created", New: entry(0o644, 4, a)}}
	if got := Diffs(context.Background(), kept, one); len(got) != 1 || !strings.HasPrefix(got[0], "one version only (sha256 aaaaaaaaaaaa, 4 bytes)") {
		t.Errorf("one version: %q", got)
	}
}

func TestWriteChain(t *testing.T) {
	for _, c := range []struct {
		res  store.ChainResult
		want string
	}{
		{store.ChainResult{OK: true, Rows: 5, HeadID: 9, AnchorID: 4, Head: "h9"},
			"history chain intact: 5 rows verified (rows up to 4 were pruned by retention); head is row 9, h9\nKeep the head off this host"},
		{store.ChainResult{Rows: 3, HeadID: 2, Head: "h2", BadRow: 3, Problem: "edited"},
			"history chain BROKEN at row 3: edited\n2 rows before it verified; the last good row is 2, h2\n"},
	} {
		var out bytes.Buffer
		if err := WriteChain(&out, c.res); err != nil || !strings.HasPrefix(out.String(), c.want) {
			t.Errorf("WriteChain(%+v) = %q, %v; want %q...", c.res, out.String(), err, c.want)
		}
	}
}
