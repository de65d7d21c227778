package main

// The shipped unit's sandbox, reproduced without systemd (none runs here as PID 1): the daemon
// runs as an unprivileged user holding exactly the unit's ambient capabilities, with no new
// privileges, the unit's memlock limit, a /proc mounted as ProtectProc= and ProcSubset= mount
// it, and tracefs read-only as ProtectKernelTunables= leaves it. Both exec feeds must work
// there: the kernel (eBPF) one, and the process connector with its SCHED_FIFO reader. What this
// does not reproduce is the seccomp filter (SystemCallFilter=); systemd-analyze checks the unit.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

const unitFile = "../../dist/tripline.service"

// unitSettings reads the [Service] settings of the shipped unit (the last value of each).
func unitSettings(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			section = line
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && section == "[Service]" {
			out[k] = v
		}
	}
	return out
}

// setprivCaps turns "CAP_SYS_ADMIN CAP_BPF" into setpriv's "-all,+sys_admin,+bpf".
func setprivCaps(s string) string {
	out := "-all"
	for _, c := range strings.Fields(s) {
		out += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return out
}

func TestUnitSandbox(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"setpriv", "unshare", "chmod"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed: "+err.Error())
		}
	}
	u := unitSettings(t)
	if u["DynamicUser"] != "yes" || u["NoNewPrivileges"] != "yes" || u["AmbientCapabilities"] != u["CapabilityBoundingSet"] {
		t.Fatalf("the unit no longer runs as a dynamic user with its bounding set as ambient capabilities: %v", u)
	}
	var procOpts []string
	switch u["ProtectProc"] {
	case "invisible", "noaccess", "ptraceable":
		procOpts = append(procOpts, "hidepid="+u["ProtectProc"])
	}
	if u["ProcSubset"] == "pid" {
		procOpts = append(procOpts, "subset=pid")
	}
	memlock := "unlimited"
	if v := u["LimitMEMLOCK"]; v != "infinity" {
		memlock = v
	}
	const uid = 61873 // a uid no account has, as DynamicUser picks one
	caps := setprivCaps(u["AmbientCapabilities"])
	// In a private mount namespace: /proc as the unit mounts it, tracefs read-only, then the
	// unit's user, capabilities and no_new_privs, and exec the daemon (the pid stays its own).
	script := `set -e
mount -t proc -o "$PROC_OPTS" proc /proc
if mountpoint -q /sys/kernel/tracing; then mount --bind /sys/kernel/tracing /sys/kernel/tracing; mount -o remount,bind,ro /sys/kernel/tracing; fi
# LimitMEMLOCK=: where this sandbox may not raise it (no CAP_SYS_RESOURCE), kernels since 5.11
# charge eBPF maps to the memory cgroup instead, and the feed does not need it.
ulimit -l "$MEMLOCK" 2>/dev/null || echo "test: RLIMIT_MEMLOCK stays $(ulimit -l) KiB here" >&2
exec setpriv --reuid=` + fmt.Sprint(uid) + ` --regid=` + fmt.Sprint(uid) + ` --clear-groups --bounding-set="$CAPS" --inh-caps="$CAPS" --ambient-caps="$CAPS" --no-new-privs "$@"`
	wrapper := []string{"env", "PROC_OPTS=" + strings.Join(append(procOpts, "rw"), ","), "MEMLOCK=" + memlock, "CAPS=" + caps,
		"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"}

	for _, feed := range []struct{ mode, attribution, note string }{
		{"kernel", "kernel", ""},
		{"connector", "exec-cache", "process connector reader at SCHED_FIFO priority 1"},
	} {
		t.Run(feed.mode, func(t *testing.T) {
			fx, _ := newWatchFixture(t)
			// The unit's state and log directories belong to its user.
			for _, d := range []string{filepath.Dir(fx.db), filepath.Join(filepath.Dir(fx.db), "log")} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Chown(d, uid, uid); err != nil {
					t.Fatal(err)
				}
			}
			// As under systemd (a DynamicUser's state directory is bind-mounted at
			// /var/lib/tripline in the service's namespace, below the 0755 /var/lib), the user
			// reaches its directories without a capability: store.Open's access(2) check of the
			// database directory runs on the real uid, without capabilities.
			for d := filepath.Dir(filepath.Dir(fx.db)); d != "/tmp" && d != "/" && d != "."; d = filepath.Dir(d) {
				if err := os.Chmod(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			out := filepath.Join(filepath.Dir(fx.db), "log", "events.json")
			d := startWatchWith(t, fx, out, wrapper, "--attribution", feed.mode)
			ready := d.waitLog(t, "msg=ready")
			if !strings.Contains(ready, "attribution="+feed.mode) || !strings.Contains(ready, "backend=fanotify") {
				t.Fatalf("in the unit's sandbox: %s\nwant backend=fanotify attribution=%s", ready, feed.mode)
			}
			if feed.note != "" && !strings.Contains(ready, feed.note) {
				t.Errorf("ready line lacks %q: %s", feed.note, ready)
			}
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d\t%d\t%d\n", uid, uid, uid, uid)) ||
				!strings.Contains(string(status), "\nNoNewPrivs:\t1\n") {
				t.Fatalf("the daemon does not run as uid %d with no_new_privs:\n%s", uid, status)
			}
			pid := act(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
			e := d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
			switch {
			case (e.Tripline.Attribution == feed.attribution || feed.attribution == "kernel" && kernelNamed(e.Tripline.Attribution)) && e.pid() == pid && e.Process != nil && e.Process.Executable == "/usr/bin/chmod":
			case feed.mode == "connector" && e.Tripline.Attribution == "parent-only" && e.pid() == pid && e.Process != nil && e.Process.Parent != nil:
				// The connector reports the exec, then /proc is read: a chmod that exited first is
				// known by its pid and parent only. That still shows the feed runs in the sandbox;
				// which of the two a run gets depends on the machine's load, not on the unit.
			default:
				t.Errorf("%v: attribution %q (want %s), process %+v, want /usr/bin/chmod pid %d",
					e, e.Tripline.Attribution, feed.attribution, e.Process, pid)
			}
			t.Logf("as uid %d with %s: %s", uid, u["AmbientCapabilities"], e)
			d.stop(t)
		})
	}
}
