package report

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/scan"
)

// Progress shows a one-line status of a long scan on a terminal's stderr. The line is redrawn in
// place ("\r", erase to the end of the line), so it must never be wider than the terminal: a
// line that wraps leaves its first row behind on every update. It is cut to the width read from
// the terminal at each update, so a resized window is followed.
type Progress struct {
	w        io.Writer
	fd       int   // stderr's descriptor, for its width
	expected int64 // the paths the baseline has: the scan's likely total; 0 when unknown
	shown    bool
	recent   []scan.Progress // the updates of the last rateWindow, for the rate of the ETA
}

// rateWindow is how far back the ETA's rate looks. Paths are not equally slow (a directory of
// small files is walked in a blink, a large file takes seconds to hash), so the rate of the whole
// scan so far would promise the end too early, or too late.
const rateWindow = 5 * time.Second

// NewProgress returns the progress line of a scan on the terminal tty. expected is the total the
// percent and the ETA are computed from (the baseline's path count), 0 when unknown. A nil
// *Progress shows nothing.
func NewProgress(tty *os.File, expected int64) *Progress {
	return &Progress{w: tty, fd: int(tty.Fd()), expected: expected}
}

// width is the terminal's width in columns, 80 when it cannot be read.
func (p *Progress) width() int {
	ws, err := unix.IoctlGetWinsize(p.fd, unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 80
	}
	return int(ws.Col)
}

// Show draws the line for s in place of the last one; nothing during the first second, nor
// between paths. It is scan.Options.Progress.
func (p *Progress) Show(s scan.Progress) {
	if s.Elapsed < time.Second || s.Current == "" {
		return
	}
	p.recent = append(p.recent, s)
	for len(p.recent) > 2 && s.Elapsed-p.recent[1].Elapsed >= rateWindow {
		p.recent = p.recent[1:]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", progressLine(s, p.expected, pathRate(p.recent), p.width()))
	p.shown = true
}

// Clear erases the line, if one was shown. It does nothing on a nil *Progress.
func (p *Progress) Clear() {
	if p != nil && p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// pathRate is the paths per second over samples (oldest first), 0 when they span no time.
func pathRate(samples []scan.Progress) float64 {
	if len(samples) == 0 {
		return 0
	}
	first, last := samples[0], samples[len(samples)-1]
	if len(samples) == 1 || last.Elapsed <= first.Elapsed {
		first = scan.Progress{}
	}
	dt := (last.Elapsed - first.Elapsed).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(last.Paths-first.Paths) / dt
}

// minPath is the fewest columns the current path is given before the line drops it.
const minPath = 16

// progressLine is the status of a scan for a terminal width columns wide:
//
//	scanning 45% 1234/2741 paths, 12.3 MiB read (45 MiB/s), ETA 0:12  /etc/cron.daily/backup
//
// It is at most width-1 columns (the last column would make some terminals wrap). When it does
// not fit, the path loses its start ("...cron.daily/backup"), then the rate and the bytes read
// go, then the path, then the ETA and the count; the percent stays longest. expected is the total the
// percent and the ETA are computed from, 0 when unknown (then neither is shown); rate is the
// recent paths per second the ETA assumes (no ETA when 0). The percent stops at 99 until the scan
// ends, and the ETA goes once more paths than expected are seen.
func progressLine(s scan.Progress, expected int64, rate float64, width int) string {
	max := width - 1
	if max < 1 {
		return ""
	}
	head := "scanning "
	count := fmt.Sprintf("%d paths", s.Paths)
	eta := ""
	if expected > 0 {
		pct := s.Paths * 100 / expected
		if pct > 99 {
			pct = 99
		}
		head += fmt.Sprintf("%d%% ", pct)
		count = fmt.Sprintf("%d/%d paths", s.Paths, expected)
		if rate > 0 && s.Paths < expected {
			left := time.Duration(float64(expected-s.Paths) / rate * float64(time.Second))
			eta = ", ETA " + clock(left)
		}
	}
	read := ", " + Bytes(s.HashedBytes) + " read"
	speed := ""
	if secs := s.Elapsed.Seconds(); secs > 0 {
		speed = fmt.Sprintf(" (%.0f MiB/s)", float64(s.HashedBytes)/(1<<20)/secs)
	}
	cur := baseline.QuotePath(s.Current)
	for _, status := range []string{
		head + count + read + speed + eta,
		head + count + read + eta,
		head + count + eta,
	} {
		if cur == "" {
			if Columns(status) <= max {
				return status
			}
			continue
		}
		room := max - Columns(status) - 2
		if room >= minPath || room >= Columns(cur) {
			return status + "  " + elideStart(cur, room)
		}
	}
	for _, status := range []string{head + count + eta, head + count, strings.TrimSpace(head)} {
		if Columns(status) <= max {
			return status
		}
	}
	return cut(head, max)
}

// clock is d as m:ss, or h:mm:ss from an hour.
func clock(d time.Duration) string {
	sec := int64(d.Round(time.Second) / time.Second)
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// Columns is how many terminal columns s takes, counted so that it is never too few: one per
// ASCII byte, two per other character (a wide character takes two; QuotePath has already
// escaped the control characters).
func Columns(s string) int {
	n := 0
	for _, r := range s {
		if r < utf8.RuneSelf {
			n++
		} else {
			n += 2
		}
	}
	return n
}

// elideStart shortens s to at most n columns by replacing its start with "...".
func elideStart(s string, n int) string {
	if Columns(s) <= n {
		return s
	}
	if n <= 3 {
		return strings.Repeat(".", n)
	}
	rs := []rune(s)
	for len(rs) > 0 && Columns(string(rs))+3 > n {
		rs = rs[1:]
	}
	return "..." + string(rs)
}

// cut shortens s to at most n columns by dropping its end.
func cut(s string, n int) string {
	rs := []rune(s)
	for len(rs) > 0 && Columns(string(rs)) > n {
		rs = rs[:len(rs)-1]
	}
	return string(rs)
}
