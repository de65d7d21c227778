package attrib

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

const tracefsRoleEnv = "TRIPLINE_TRACEFS_ROLE"

// A tracefs that one tripline process mounted is unmounted by the last process using it, never
// under another one still using it (a test's daemon and a feed test ran at once: the first to
// finish unmounted it while the other attached its programs). Run in a mount namespace of its
// own, where tracefs starts unmounted; the host's mounts are not touched.
func TestTracefsSharedAcrossProcesses(t *testing.T) {
	switch os.Getenv(tracefsRoleEnv) {
	case "holder":
		tracefsHolder(t)
		return
	case "ns":
		tracefsSharing(t)
		return
	}
	testenv.RequireRoot(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTracefsSharedAcrossProcesses$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), tracefsRoleEnv+"=ns")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("the namespace child failed (%v):\n%s", err, out)
	}
	t.Logf("%s", out)
}

// tracefsSharing runs in the private namespace: it mounts, a second process uses the mount, the
// first lets go (the mount stays), the second lets go (the mount goes).
func tracefsSharing(t *testing.T) {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make mounts private: %v", err)
	}
	for tracefsPresent() {
		if err := unix.Unmount(TracefsPath, unix.MNT_DETACH); err != nil {
			t.Skipf("cannot start without tracefs in the namespace: %v", err)
		}
	}
	dir := t.TempDir()
	os.Setenv("TRIPLINE_TRACEFS_LOCKS", dir)
	tracefsLockPath, tracefsUsersPath = filepath.Join(dir, "lock"), filepath.Join(dir, "users")

	release, note, err := acquireTracefs()
	if err != nil {
		t.Fatal(err)
	}
	if !tracefsPresent() || !strings.Contains(note, "mounted tracefs") {
		t.Fatalf("tracefs not mounted (note %q)", note)
	}
	holder := exec.Command(os.Args[0], "-test.run=^TestTracefsSharedAcrossProcesses$", "-test.count=1")
	holder.Env = append(os.Environ(), tracefsRoleEnv+"=holder")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "held\n" {
		t.Fatalf("the second process did not take tracefs: %q %v", line, err)
	}
	release()
	if !tracefsPresent() {
		t.Fatal("the first process unmounted tracefs while the second one used it")
	}
	stdin.Close()
	if err := holder.Wait(); err != nil {
		t.Fatalf("the second process: %v", err)
	}
	if tracefsPresent() {
		t.Error("tracefs still mounted after the last process let go")
	}
}

// tracefsHolder takes tracefs, says so, and lets go when its stdin closes.
func tracefsHolder(t *testing.T) {
	dir := os.Getenv("TRIPLINE_TRACEFS_LOCKS")
	tracefsLockPath, tracefsUsersPath = filepath.Join(dir, "lock"), filepath.Join(dir, "users")
	release, note, err := acquireTracefs()
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Errorf("the second process changed the host: %q", note) // it was mounted, by a live tripline
	}
	os.Stdout.WriteString("held\n")
	var b [1]byte
	os.Stdin.Read(b[:])
	release()
}
