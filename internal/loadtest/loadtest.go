// Package loadtest holds what the load generators (cmd/loadgen, cmd/attribload) share: starting a
// tripline daemon and waiting for its ready line, and reading its CPU time from /proc.
package loadtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU returns the user plus system CPU time of pid, 0 when it cannot be read.
func CPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// Daemon is a running `tripline watch` whose stderr log is read line by line.
type Daemon struct {
	Cmd   *exec.Cmd
	Lines chan string // log lines not consumed yet; closed when the daemon's stderr ends
	Log   []string    // the lines consumed so far
}

// Start starts cmd (a `tripline watch`) and waits up to timeout for its ready line, which it
// returns. On error the daemon is killed.
func Start(cmd *exec.Cmd, timeout time.Duration) (*Daemon, string, error) {
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	d := &Daemon{Cmd: cmd, Lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.Lines <- sc.Text()
		}
		close(d.Lines)
	}()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-d.Lines:
			if !ok {
				d.Kill()
				return nil, "", fmt.Errorf("daemon exited before ready:\n%s", strings.Join(d.Log, "\n"))
			}
			d.Log = append(d.Log, l)
			if strings.Contains(l, "msg=ready") {
				return d, l, nil
			}
		case <-deadline:
			d.Kill()
			return nil, "", fmt.Errorf("daemon not ready in %v", timeout)
		}
	}
}

// Stop sends SIGTERM, reads the rest of the log into Log and waits for the daemon to exit.
func (d *Daemon) Stop() {
	d.Cmd.Process.Signal(syscall.SIGTERM)
	for l := range d.Lines {
		d.Log = append(d.Log, l)
	}
	d.Cmd.Wait()
}

// Kill ends the daemon at once; a no-op after Stop.
func (d *Daemon) Kill() {
	if d.Cmd.ProcessState == nil {
		d.Cmd.Process.Kill()
		d.Cmd.Wait()
	}
}
