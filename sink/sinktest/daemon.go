package sinktest

import (
	"bytes"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// startDaemon starts cmd in a process group of its own, its output in out, and stops the whole
// group when the test ends (SIGTERM, then SIGKILL after 10 s), logging the output if the test
// failed. It returns the channel that gets the daemon's exit.
func startDaemon(t testing.TB, name string, cmd *exec.Cmd, out *bytes.Buffer) <-chan error {
	t.Helper()
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	return done
}
