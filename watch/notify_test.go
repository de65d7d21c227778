package watch

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path/filepath"
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

func TestSdNotify(t *testing.T) {
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "") // restored after the test
		os.Unsetenv("NOTIFY_SOCKET")
		if err := SdNotify("READY=1"); err != nil {
			t.Errorf("SdNotify without NOTIFY_SOCKET: %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if err := SdNotify("READY=1"); err != nil {
			t.Errorf("SdNotify with NOTIFY_SOCKET empty: %v", err)
		}
	})
	t.Run("path", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "notify")
		conn := listenNotify(t, sock)
		t.Setenv("NOTIFY_SOCKET", sock)
		for _, state := range []string{"READY=1", "STOPPING=1"} {
			if err := SdNotify(state); err != nil {
				t.Fatalf("SdNotify(%q): %v", state, err)
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
		if err := SdNotify("READY=1"); err != nil {
			t.Fatalf("SdNotify: %v", err)
		}
		if got := readNotify(t, conn); got != "READY=1" {
			t.Errorf("received %q, want READY=1", got)
		}
	})
	for _, bad := range []string{"relative/notify", "notify", "./notify", "~/notify"} {
		t.Run("relative "+bad, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", bad)
			err := SdNotify("READY=1")
			if err == nil || !strings.Contains(err.Error(), "neither a path nor an abstract socket") {
				t.Errorf("SdNotify with NOTIFY_SOCKET=%q: %v, want an error", bad, err)
			}
		})
	}
	t.Run("nobody listening", func(t *testing.T) {
		for _, name := range []string{filepath.Join(t.TempDir(), "none"), "@tripline-test-none-" + rand.Text()} {
			t.Setenv("NOTIFY_SOCKET", name)
			err := SdNotify("READY=1")
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("notify %s:", name)) {
				t.Errorf("SdNotify to %s: %v, want an error naming the socket", name, err)
			}
		}
	})
}
