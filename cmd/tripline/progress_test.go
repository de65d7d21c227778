package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
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
				if columns(line) > width-1 && line != "" {
					t.Fatalf("width %d: %d columns: %q", width, columns(line), line)
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

// stalledScan runs a scan of fx with stderr on w. The scan is held (SIGSTOP) while it hashes a
// large file until it has run for more than the second after which progress is shown, so that
// the progress line appears on any machine, however fast.
func stalledScan(t *testing.T, fx *fixture, stderr *os.File) (code int, stdout string) {
	t.Helper()
	cmd := exec.Command(binary, "--db", fx.db, "--root", fx.root, "scan", "--max-hash-size", fmt.Sprint(int64(8<<30)))
	var so bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, stderr
	cmd.Env = append(os.Environ(), "TRIPLINE_POLICY=", "TRIPLINE_DB=", "TRIPLINE_ROOT=")
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitOpen(t, cmd.Process.Pid, "/etc/cron.d/0-big", 20*time.Second) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the scan never opened the big file")
	}
	cmd.Process.Signal(syscall.SIGSTOP)
	time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
	cmd.Process.Signal(syscall.SIGCONT)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), so.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, so.String()
}

// progressFixture is a tree whose rescan has a big file to hash first, then more paths than the
// scan queues ahead of the hashing, so that the line has a percent and an ETA to show.
func progressFixture(t *testing.T) *fixture {
	t.Helper()
	fx := newFixture(t)
	for i := 0; i < 1500; i++ {
		fx.write(t, fmt.Sprintf("etc/init.d/job%04d", i), "#!/bin/sh\n", 0o644)
	}
	bigSparse(t, fx.path("etc/cron.d/0-big"), 2<<30)
	return fx
}

// TestProgressOnTerminal runs a real scan with stderr on an 80-column pseudo-terminal: the line
// is redrawn in place, each drawing narrower than 80 columns, with a percent and an ETA (the
// baseline gives the total), and erased at the end. With stderr on a pipe, nothing is shown.
func TestProgressOnTerminal(t *testing.T) {
	fx := progressFixture(t)
	if r := tl(t, fx, "scan", "--max-hash-size", fmt.Sprint(int64(8<<30))); r.code != 0 {
		t.Fatalf("first scan: %d %s", r.code, r.stderr)
	}
	now := time.Now()
	os.Chtimes(fx.path("etc/cron.d/0-big"), now, now) // hashed again by the next scan

	master, slave := openPTY(t, 80)
	defer master.Close()
	var tty bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&tty, master); close(done) }() // ends with EIO once the slave is closed
	code, _ := stalledScan(t, fx, slave)
	slave.Close()
	<-done
	if code != 0 {
		t.Fatalf("scan: exit %d\n%q", code, tty.String())
	}
	out := tty.String()
	const redraw = "\r\x1b[K"
	if !strings.HasPrefix(out, redraw) || !strings.HasSuffix(out, redraw) {
		t.Fatalf("the line is not drawn, then erased: %q", out)
	}
	var lines []string
	for _, l := range strings.Split(out, redraw) {
		if l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no progress line: %q", out)
	}
	shape := regexp.MustCompile(`^scanning \d+% \d+/\d+ paths, .* read.*, ETA \d+:\d\d  /etc/`)
	for _, l := range lines {
		if columns(l) > 79 || strings.ContainsAny(l, "\r\n") {
			t.Errorf("%d columns on an 80-column terminal: %q", columns(l), l)
		}
	}
	if !shape.MatchString(lines[0]) {
		t.Errorf("the first line has no percent or ETA: %q", lines[0])
	}

	// The same with stderr on a pipe: not a character of progress.
	os.Chtimes(fx.path("etc/cron.d/0-big"), now.Add(time.Second), now.Add(time.Second))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var piped bytes.Buffer
	done = make(chan struct{})
	go func() { io.Copy(&piped, r); close(done) }()
	code, _ = stalledScan(t, fx, w)
	w.Close()
	<-done
	r.Close()
	if code != 0 || piped.Len() != 0 {
		t.Errorf("scan with stderr on a pipe: exit %d, stderr %q", code, piped.String())
	}
}
