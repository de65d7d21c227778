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

	"github.com/tripline/tripline/report"
)

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
		if report.Columns(l) > 79 || strings.ContainsAny(l, "\r\n") {
			t.Errorf("%d columns on an 80-column terminal: %q", report.Columns(l), l)
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
