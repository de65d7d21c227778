package report

import (
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/scan"
)

func TestProgressLine(t *testing.T) {
	long := "/etc/systemd/system/" + strings.Repeat("a-long-directory-name/", 6) + "unit.service"
	cases := []struct {
		name     string
		s        scan.Progress
		expected int64
		rate     float64
		width    int
		want     string
	}{
		{"full", scan.Progress{Paths: 1234, HashedBytes: 12 << 20, Current: "/etc/cron.daily/backup", Elapsed: 2 * time.Second}, 2741, 100, 120,
			"scanning 45% 1234/2741 paths, 12.0 MiB read (6 MiB/s), ETA 0:15  /etc/cron.daily/backup"},
		{"80 columns: the rate goes first", scan.Progress{Paths: 1234, HashedBytes: 12 << 20, Current: long, Elapsed: 2 * time.Second}, 2741, 100, 80,
			"scanning 45% 1234/2741 paths, 12.0 MiB read, ETA 0:15  ...ory-name/unit.service"},
		{"no total: no percent, no ETA", scan.Progress{Paths: 1234, HashedBytes: 12 << 20, Current: "/etc/x", Elapsed: 2 * time.Second}, 0, 100, 80,
			"scanning 1234 paths, 12.0 MiB read (6 MiB/s)  /etc/x"},
		{"more than expected", scan.Progress{Paths: 3000, Current: "/etc/x", Elapsed: 2 * time.Second}, 2741, 100, 80,
			"scanning 99% 3000/2741 paths, 0 B read (0 MiB/s)  /etc/x"},
		{"no rate yet: no ETA", scan.Progress{Paths: 10, Current: "/etc/x", Elapsed: time.Second}, 2741, 0, 80,
			"scanning 0% 10/2741 paths, 0 B read (0 MiB/s)  /etc/x"},
		{"an hour", scan.Progress{Paths: 1, Current: "/x", Elapsed: time.Second}, 3601, 1, 120,
			"scanning 0% 1/3601 paths, 0 B read (0 MiB/s), ETA 1:00:00  /x"},
		{"40 columns: the path goes", scan.Progress{Paths: 12602, HashedBytes: 1 << 30, Current: long, Elapsed: 4 * time.Second}, 15012, 120, 40,
			"scanning 83% 12602/15012 paths"},
		{"20 columns", scan.Progress{Paths: 12602, Current: long, Elapsed: 4 * time.Second}, 15012, 120, 20, "scanning 83%"},
		{"tiny", scan.Progress{Paths: 12602, Current: long, Elapsed: 4 * time.Second}, 15012, 120, 5, "scan"},
		{"one column", scan.Progress{Paths: 1, Current: "/x", Elapsed: time.Second}, 0, 0, 1, ""},
	}
	for _, c := range cases {
		got := progressLine(c.s, c.expected, c.rate, c.width)
		if got != c.want {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

// TestProgressLineNeverWraps: at every width, for paths of every length and of characters of
// every width, the line is narrower than the terminal.
func TestProgressLineNeverWraps(t *testing.T) {
	paths := []string{"/etc/x", "/etc/" + strings.Repeat("d/", 100) + "f", "/etc/" + strings.Repeat("日本語", 40), "/etc/a\nb\x1b[31m" + strings.Repeat("é", 90)}
	for width := 0; width <= 200; width++ {
		for _, p := range paths {
			for _, exp := range []int64{0, 5000} {
				s := scan.Progress{Paths: 4321, HashedBytes: 987654321, Current: p, Elapsed: 3 * time.Second}
				line := progressLine(s, exp, 50, width)
				if Columns(line) > width-1 && line != "" {
					t.Fatalf("width %d: %d columns: %q", width, Columns(line), line)
				}
				if strings.ContainsAny(line, "\n\r\x1b") {
					t.Fatalf("a control character reached the terminal: %q", line)
				}
			}
		}
	}
}

func TestPathRate(t *testing.T) {
	at := func(sec float64, paths int64) scan.Progress {
		return scan.Progress{Elapsed: time.Duration(sec * float64(time.Second)), Paths: paths}
	}
	cases := []struct {
		samples []scan.Progress
		want    float64
	}{
		{nil, 0},
		{[]scan.Progress{at(2, 100)}, 50}, // since the start
		{[]scan.Progress{at(1, 1000), at(3, 1100)}, 50},              // over the window, not since the start
		{[]scan.Progress{at(1, 1000), at(2, 1050), at(3, 1100)}, 50}, // first to last
		{[]scan.Progress{at(2, 100), at(2, 100)}, 50},                // no time between them: since the start
	}
	for i, c := range cases {
		if got := pathRate(c.samples); got != c.want {
			t.Errorf("%d: %v, want %v", i, got, c.want)
		}
	}
}
