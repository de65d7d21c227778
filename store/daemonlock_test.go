package store

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A second daemon on one database refuses and names the first one's pid; once the first is
// killed (SIGKILL: no clean-up of its own) the database can be claimed again.
func TestDaemonLock(t *testing.T) {
	if db := os.Getenv("TRIPLINE_TEST_HOLD_LOCK"); db != "" {
		if _, err := LockDaemon(db); err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			return
		}
		os.Stdout.WriteString("locked\n")
		os.Stdin.Read(make([]byte, 1)) // hold until killed
		return
	}
	db := filepath.Join(t.TempDir(), "tripline.db")
	holder := exec.Command(os.Args[0], "-test.run=^TestDaemonLock$")
	holder.Env = append(os.Environ(), "TRIPLINE_TEST_HOLD_LOCK="+db)
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("holder: %q %v", line, err)
	}

	_, err = LockDaemon(db)
	if !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(holder.Process.Pid)+" holds it") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("second daemon: %v", err)
	}
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	holder.Wait()
	l, err := LockDaemon(db)
	if err != nil {
		t.Fatalf("after the holder was killed: %v", err)
	}
	if b, _ := os.ReadFile(db + ".daemon.lock"); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", b)
	}
	// Released, it can be taken again (by the same process, on a new descriptor).
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := LockDaemon(db)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

// A symlink planted at the lock file's name is not followed.
func TestDaemonLockSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	os.WriteFile(target, []byte("keep\n"), 0o644)
	db := filepath.Join(dir, "tripline.db")
	os.Symlink(target, db+".daemon.lock")
	if l, err := LockDaemon(db); err == nil {
		l.Release()
		t.Fatal("locked through a symlink")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep\n" {
		t.Errorf("the symlink's target was written: %q", b)
	}
}
