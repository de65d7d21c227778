package investigate

import (
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

func entry(mode uint32, size int64, sha string) *baseline.Entry {
	return &baseline.Entry{Path: "/etc/cron.daily/x", Type: baseline.TypeFile, Mode: mode, Size: size, SHA256: sha, HashState: baseline.HashOK, MtimeNS: 2e18}
}

func TestWhat(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	back := entry(0o644, 1, a)
	back.MtimeNS = 1e18
	link := &baseline.Entry{Path: "/etc/cron.daily/x", Type: baseline.TypeSymlink, Target: "/tmp/\x1b[2Jx", HashState: baseline.HashNotRegular}
	cases := []struct {
		name string
		row  store.HistoryRow
		want string
	}{
		{"created by an event", store.HistoryRow{Source: "event", Kind: "created", Flags: []string{"exec-added"}, New: entry(0o755, 12, a)},
			"created file 0755, 12 bytes, sha256 aaaaaaaaaaaa"},
		{"a new baseline entry", store.HistoryRow{Source: "accept", Kind: "accepted", New: entry(0o644, 12, a)},
			"new baseline entry: file 0644, 12 bytes, sha256 aaaaaaaaaaaa"},
		{"a symlink, its target quoted", store.HistoryRow{Source: "scan", Kind: "created", New: link},
			`created symlink -> "/tmp/\x1b[2Jx"`},
		{"deleted", store.HistoryRow{Source: "scan", Kind: "deleted", Old: entry(0o644, 1, a)},
			"deleted (was file 0644)"},
		{"armed", store.HistoryRow{Source: "event", Kind: "modified", Flags: []string{"exec-added", "mode"}, Old: entry(0o644, 1, a), New: entry(0o755, 1, a)},
			"mode 0644 -> 0755"},
		{"edited", store.HistoryRow{Source: "event", Kind: "modified", Flags: []string{"content"}, Old: entry(0o644, 1, a), New: entry(0o644, 2, b)},
			"content (size 1 -> 2), sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb"},
		{"timestomped: the mtime is said", store.HistoryRow{Source: "event", Kind: "modified", Flags: []string{"mtime-backwards"}, Old: entry(0o644, 1, a), New: back},
			"mtime 2033-05-18T03:33:20Z -> 2001-09-09T01:46:40Z"},
		{"only what the flags say: an mtime moved forward is not news", store.HistoryRow{Source: "event", Kind: "modified", Flags: []string{"mode"}, Old: back, New: entry(0o600, 1, a)},
			"mode 0644 -> 0600"},
		{"no flag report.What names", store.HistoryRow{Source: "event", Kind: "modified", Flags: []string{"replaced"}, Old: entry(0o644, 1, a), New: entry(0o644, 1, a)},
			"replaced"},
		{"a restore records no flags: the diff of its entries", store.HistoryRow{Source: "restore", Kind: "restored", Flags: []string{}, Old: entry(0o755, 2, b), New: entry(0o644, 1, a)},
			"mode 0755 -> 0644, content (size 2 -> 1), sha256 bbbbbbbbbbbb -> aaaaaaaaaaaa"},
		{"no entries", store.HistoryRow{Source: "scan", Kind: "gone\r"}, `"gone\r"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := What(&c.row); got != c.want {
				t.Errorf("What = %q, want %q", got, c.want)
			}
		})
	}
}

func TestFlagsOf(t *testing.T) {
	all := baseline.ExecAdded | baseline.SetuidAdded | baseline.ContentChanged | baseline.MtimeBeforeBirth | baseline.Replaced
	if got := flagsOf(all.Names()); got != all {
		t.Errorf("flagsOf(%q) = %v, want %v", all.Names(), got, all)
	}
	if got := flagsOf([]string{"no-such-flag"}); got != 0 {
		t.Errorf("an unknown name gave %v", got)
	}
}

func TestFinding(t *testing.T) {
	for _, c := range []struct {
		row  store.HistoryRow
		want string
	}{
		{store.HistoryRow{Source: "accept", By: "root (uid 0) via sudo from \x1b]0;x\a"}, `accepted into the baseline by "root (uid 0) via sudo from \x1b]0;x\a"`},
		{store.HistoryRow{Source: "restore", By: "root (uid 0)"}, "restored by tripline (root (uid 0))"},
		{store.HistoryRow{Source: "scan"}, "no rule fired"},
		{store.HistoryRow{Source: "event", Rule: "exec-bit-set", Severity: "high", Verdict: "alert"}, "exec-bit-set, high, alert"},
	} {
		if got := Finding(&c.row); got != c.want {
			t.Errorf("Finding(%+v) = %q, want %q", c.row, got, c.want)
		}
	}
}
