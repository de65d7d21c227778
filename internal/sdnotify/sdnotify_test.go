package sdnotify

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenNotify listens on a unixgram socket as the service manager does and returns the address
// to put in NOTIFY_SOCKET.
func listenNotify(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %q: %v", name, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func readNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil {
		t.Fatalf("read the notification: %v", err)
	}
	return string(buf[:n])
}

func TestNotify(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "") // restored after the test
		os.Unsetenv("NOTIFY_SOCKET")
		if err := Notify("READY=1"); err != nil {
			t.Errorf("Notify without NOTIFY_SOCKET: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if err := Notify("READY=1"); err != nil {
			t.Errorf("Notify with NOTIFY_SOCKET empty: %v", err)
		}
	})
	t.Run("path", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "notify")
		conn := listenNotify(t, sock)
		t.Setenv("NOTIFY_SOCKET", sock)
		for _, state := range []string{"READY=1", "STOPPING=1"} {
			if err := Notify(state); err != nil {
				t.Fatalf("Notify(%q): %v", state, err)
			}
			if got := readNotify(t, conn); got != state {
				t.Errorf("received %q, want %q", got, state)
			}
		}
	})
	t.Run("abstract", func(t *testing.T) {
		name := "@tripline-test-" + rand.Text()
		conn := listenNotify(t, name)
		t.Setenv("NOTIFY_SOCKET", name)
		if err := Notify("READY=1"); err != nil {
			t.Fatalf("Notify: %v", err)
		}
		if got := readNotify(t, conn); got != "READY=1" {
			t.Errorf("received %q, want READY=1", got)
		}
	})
	for _, bad := range []string{"relative/notify", "notify", "./notify", "~/notify"} {
		t.Run("relative "+bad, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", bad)
			err := Notify("READY=1")
			if err == nil || !strings.Contains(err.Error(), "neither a path nor an abstract socket") {
				t.Errorf("Notify with NOTIFY_SOCKET=%q: %v, want an error", bad, err)
			}
		})
	}
	t.Run("nobody listening", func(t *testing.T) {
		for _, name := range []string{filepath.Join(t.TempDir(), "none"), "@tripline-test-none-" + rand.Text()} {
			t.Setenv("NOTIFY_SOCKET", name)
			err := Notify("READY=1")
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("notify %s:", name)) {
				t.Errorf("Notify to %s: %v, want an error naming the socket", name, err)
			}
		}
	})
}

func TestReloading(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn := listenNotify(t, sock)
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := Reloading(); err != nil {
		t.Fatal(err)
	}
	got := readNotify(t, conn)
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
		t.Fatalf("received %q, want RELOADING=1 and MONOTONIC_USEC", got)
	}
	if _, err := strconv.ParseUint(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64); err != nil {
		t.Errorf("MONOTONIC_USEC is not a number: %q", lines[1])
	}
}

func TestWatchdogInterval(t *testing.T) {
	me := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       string
	}{
		{"", "", 0, ""},
		{"30000000", "", 30 * time.Second, ""},
		{"30000000", me, 30 * time.Second, ""},
		{"30000000", "1", 0, ""}, // inherited: meant for another process
		{"0", "", 0, "not a positive number"},
		{"abc", "", 0, "not a positive number"},
		{"30000000", "x", 0, "not a process id"},
	} {
		t.Setenv("WATCHDOG_USEC", tc.usec)
		t.Setenv("WATCHDOG_PID", tc.pid)
		got, err := WatchdogInterval()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("USEC=%q PID=%q: err %v, want %q", tc.usec, tc.pid, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("USEC=%q PID=%q: %v, %v; want %v", tc.usec, tc.pid, got, err, tc.want)
		}
	}
}
