package sinktest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

const journaldPath = "/lib/systemd/systemd-journald"

// Journald is a running systemd-journald: Socket is its native socket, Dir its journal
// directory (for journalctl --directory).
type Journald struct{ Socket, Dir string }

// StartJournald runs a real systemd-journald in a private mount namespace whose /run is a fresh
// tmpfs: its sockets directory and its (volatile) journal directory are bind mounts of the
// test's directories, so the test reaches the socket and reads the journal from outside, and
// the host's journal is never touched. Stopped and reaped when the test ends.
func StartJournald(t testing.TB) *Journald {
	t.Helper()
	testenv.RequireRoot(t)
	if _, err := os.Stat(journaldPath); err != nil {
		testenv.SkipOrFail(t, "needs systemd-journald ("+journaldPath+"): apt-get install systemd")
	}
	if _, err := exec.LookPath("journalctl"); err != nil {
		testenv.SkipOrFail(t, "needs journalctl: apt-get install systemd")
	}
	dir := t.TempDir()
	sockDir, logDir := filepath.Join(dir, "sock"), filepath.Join(dir, "journal")
	for _, d := range []string{sockDir, logDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "journald.conf")
	if err := os.WriteFile(conf, []byte("[Journal]\nStorage=volatile\nForwardToSyslog=no\nForwardToKMsg=no\n"+
		"ForwardToConsole=no\nForwardToWall=no\nRateLimitBurst=0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount --bind %[1]q /run/systemd/journal
mount --bind %[2]q /run/log/journal
mount --bind %[3]q /etc/systemd/journald.conf
exec %[4]s`, sockDir, logDir, conf, journaldPath)
	if _, err := os.Stat("/etc/systemd/journald.conf"); err != nil {
		testenv.SkipOrFail(t, "no /etc/systemd/journald.conf to mount the test's configuration over: "+err.Error())
	}
	var out bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", script)
	// Go makes the new namespace's mounts private before running the script.
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	done := startDaemon(t, "journald", cmd, &out)
	socket := filepath.Join(sockDir, "socket")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if fi, err := os.Stat(socket); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return &Journald{Socket: socket, Dir: logDir}
		}
		select {
		case err := <-done:
			t.Fatalf("journald exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("journald made no socket %s\n%s", socket, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// JournalEntries reads the entries of identifier from the journal in dir with journalctl: the
// fields as bytes (journalctl's JSON gives a value that is not printable UTF-8 as an array of
// byte values).
func JournalEntries(t testing.TB, dir, identifier string) []map[string][]byte {
	t.Helper()
	out, err := exec.Command("journalctl", "--directory="+dir, "--no-pager", "-o", "json", "--all",
		"SYSLOG_IDENTIFIER="+identifier).Output()
	if err != nil {
		t.Fatalf("journalctl: %v", err)
	}
	var entries []map[string][]byte
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil {
			t.Fatalf("journalctl output: %v", err)
		}
		e := map[string][]byte{}
		for k, v := range raw {
			var s string
			if json.Unmarshal(v, &s) == nil {
				e[k] = []byte(s)
				continue
			}
			var bs []byte
			var nums []int
			if err := json.Unmarshal(v, &nums); err != nil {
				t.Fatalf("journalctl field %s: neither a string nor bytes: %s", k, v)
			}
			for _, n := range nums {
				bs = append(bs, byte(n))
			}
			e[k] = bs
		}
		entries = append(entries, e)
	}
	return entries
}
