package main

// The file-change feed, end to end: the daemon with its defaults on a fixture root, real
// programs making the changes fanotify reports badly (a write into a directory made just before,
// two attribute changes merged into one event, a file gone before it could be stat'ed), and the
// actor of each finding read back from the ECS lines.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// kernelNamed reports whether an attribution says the kernel named the process: the exec feed
// (kernel) or the file-change feed (syscall).
func kernelNamed(a string) bool { return a == "kernel" || a == "syscall" }

// feedEvent is what these tests read of an ECS line beyond ecsEvent.
type feedEvent struct {
	File struct {
		Path string `json:"path"`
		Mode string `json:"mode"`
	} `json:"file"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	Process *struct {
		PID        int    `json:"pid"`
		Executable string `json:"executable"`
		WorkingDir string `json:"working_directory"`
		User       *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"user"`
		Parent *struct {
			PID int `json:"pid"`
		} `json:"parent"`
	} `json:"process"`
	Tripline struct {
		Attribution string `json:"attribution"`
	} `json:"tripline"`
}

func (e feedEvent) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// feedEvents parses every line the daemon wrote so far.
func feedEvents(t *testing.T, d *daemon) []feedEvent {
	t.Helper()
	d.poll(t)
	data := d.stdout.from(0)
	var out []feedEvent
	for _, line := range strings.Split(string(data), "\n") {
		if line == "" {
			continue
		}
		var e feedEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			continue // a line still being written
		}
		out = append(out, e)
	}
	return out
}

// waitFeed waits for a line about logical with rule (any when ""), and returns it.
func waitFeed(t *testing.T, d *daemon, logical, rule string) feedEvent {
	t.Helper()
	var got feedEvent
	d.within(t, fmt.Sprintf("%s finding for %s", rule, logical), func() bool {
		for _, e := range feedEvents(t, d) {
			if e.File.Path == logical && (rule == "" || e.Rule.ID == rule) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// asUser runs argv as uid:gid (no name needed: the user is added to the daemon's passwd later
// or not at all) in dir, with HOME set, and returns its pid.
func asUser(t *testing.T, uid int, home, dir string, argv ...string) int {
	t.Helper()
	full := append([]string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups"}, argv...)
	cmd := exec.Command(full[0], full[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", full, err, out)
	}
	return cmd.ProcessState.Pid()
}

// startFeedWatch starts the daemon in a mount namespace of its own in which /etc/passwd and
// /etc/group are copies the test can change (the host's are never touched), and returns it with
// the copy of passwd.
func startFeedWatch(t *testing.T, fx *fixture) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pw, gr := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	for src, dst := range map[string]string{"/etc/passwd": pw, "/etc/group": gr} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wrapper := []string{"unshare", "-m", "--propagation", "private", "sh", "-c",
		`p=$1 g=$2; shift 2; mount --bind "$p" /etc/passwd && mount --bind "$g" /etc/group && exec "$@"`, "sh", pw, gr}
	d := startWatchWith(t, fx, "", wrapper)
	if line := d.waitLog(t, "msg=ready"); !strings.Contains(line, "syscall_feed=syscall-tracepoints") {
		t.Fatalf("the file-change feed must run here (CI fails rather than skips): %s", line)
	}
	return d, pw
}

// The cases fanotify cannot attribute, each named by the process that made the change.
// On $TMPDIR's filesystem, tmpfs, ext4 and overlayfs: the programs match directories by device
// and inode, which each filesystem reports its own way.
func TestWatchSyscallFeed(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		testenv.SkipOrFail(t, "needs setpriv (util-linux)")
	}
	t.Run("tmpdir", runSyscallFeed)
	for _, fs := range []string{"tmpfs", "ext4", "overlayfs"} {
		t.Run(fs, func(t *testing.T) { inPrivateFS(t, fs, runSyscallFeed) })
	}
}

func runSyscallFeed(t *testing.T) {
	fx, src := newWatchFixture(t)
	const uid = 4242
	// The user must reach its home: the test's temporary directories are 0700.
	for d := filepath.Dir(fx.root); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := fx.path("home/mallory")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, uid); err != nil {
		t.Fatal(err)
	}
	d, pw := startFeedWatch(t, fx)

	// A user added after the daemon started is named.
	f, err := os.OpenFile(pw, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "mallory:x:%d:%d::/home/mallory:/bin/sh\n", uid, uid)
	f.Close()

	t.Run("ssh authorized_keys in a new directory", func(t *testing.T) {
		pid := asUser(t, uid, home, home, "/bin/sh", "-c", "mkdir -p ~/.ssh && cd ~/.ssh && echo KEY >> authorized_keys")
		e := waitFeed(t, d, "/home/mallory/.ssh/authorized_keys", "")
		checkActor(t, e, pid, "mallory", home+"/.ssh")
	})
	t.Run("systemd user unit in new directories", func(t *testing.T) {
		pid := asUser(t, uid, home, home, "/bin/sh", "-c", "mkdir -p ~/.config/systemd/user && cd ~/.config && printf '[Service]\\nExecStart=/bin/true\\n' > systemd/user/x.service")
		e := waitFeed(t, d, "/home/mallory/.config/systemd/user/x.service", "")
		checkActor(t, e, pid, "mallory", home+"/.config")
	})
	t.Run("chmod then touch -d", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			logical := fmt.Sprintf("/etc/cron.daily/stomp-%d", i)
			if err := os.WriteFile(fx.path(logical[1:]), []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			waitFeed(t, d, logical, "file-created")
			chmod := act(t, "chmod", "+x", fx.path(logical[1:]))
			touch := act(t, "touch", "-d", "2019-03-01 00:00:00", fx.path(logical[1:]))
			x := waitFeed(t, d, logical, "exec-bit-set")
			s := waitFeed(t, d, logical, "timestomp")
			if x.Process == nil || x.Process.PID != chmod || s.Process == nil || s.Process.PID != touch {
				t.Fatalf("run %d: exec-bit-set by %v (chmod is %d), timestomp by %v (touch is %d)", i, x, chmod, s, touch)
			}
			if x.Tripline.Attribution != "syscall" || s.Tripline.Attribution != "syscall" {
				t.Errorf("run %d: attributions %s and %s, want syscall", i, x.Tripline.Attribution, s.Tripline.Attribution)
			}
		}
	})
	t.Run("install then rm", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			logical := fmt.Sprintf("/etc/cron.daily/drop-%d", i)
			inst := act(t, "install", "-m0755", filepath.Join(src, "evil"), fx.path(logical[1:]))
			act(t, "rm", fx.path(logical[1:]))
			e := waitFeed(t, d, logical, "transient-executable")
			if e.Process == nil || e.Process.PID != inst || e.Process.Executable != "/usr/bin/install" {
				t.Fatalf("run %d: transient-executable by %v, want install (pid %d)", i, e, inst)
			}
			if e.File.Mode != "0755" {
				t.Errorf("run %d: mode %s, want the 0755 it was created with", i, e.File.Mode)
			}
		}
	})
	d.stop(t)
}

func checkActor(t *testing.T, e feedEvent, pid int, user, cwd string) {
	t.Helper()
	if e.Tripline.Attribution != "syscall" || e.Process == nil {
		t.Fatalf("attribution %q, want syscall: %v", e.Tripline.Attribution, e)
	}
	if e.Process.PID != pid {
		t.Errorf("process %d, want the writer %d: %v", e.Process.PID, pid, e)
	}
	if e.Process.User == nil || e.Process.User.Name != user {
		t.Errorf("user %+v, want %s (added after the start): %v", e.Process.User, user, e)
	}
	if e.Process.Parent == nil || e.Process.Parent.PID != os.Getpid() {
		t.Errorf("parent %+v, want the test (%d): %v", e.Process.Parent, os.Getpid(), e)
	}
	if e.Process.WorkingDir != cwd {
		t.Errorf("working directory %q, want %q (the one it had when it wrote)", e.Process.WorkingDir, cwd)
	}
}
