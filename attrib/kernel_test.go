package attrib

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// The kernel feed loads and attaches on this kernel, and names a process that lived for
// milliseconds by its executable, arguments and parent.
func TestKernelFeedNamesShortLivedProcess(t *testing.T) {
	testenv.RequireRoot(t)
	c, st, err := Open("kernel", nil)
	if err != nil {
		t.Fatalf("the kernel feed must load here (CI fails rather than skips): %v", err)
	}
	defer c.Close()
	t.Logf("status: %+v", st)
	cmd := exec.Command("/bin/true", "tripline-marker", "a b")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.ProcessState.Pid())
	c.Sync()
	res := c.Resolve(pid, Now(), -1)
	if res.Attribution != Kernel || res.Process == nil {
		t.Fatalf("resolution %+v", res)
	}
	p := res.Process
	if p.Exe != "/bin/true" || len(p.Args) != 3 || p.Args[1] != "tripline-marker" || p.Args[2] != "a b" {
		t.Errorf("process %+v", p)
	}
	if len(res.Ancestors) == 0 || res.Ancestors[0].PID != int32(osGetpid()) {
		t.Errorf("parent: %+v (want this test, pid %d)", res.Ancestors, osGetpid())
	}
	if p.EUID != 0 || p.UID != 0 {
		t.Errorf("ids: uid %d euid %d", p.UID, p.EUID)
	}
	s := c.Stats()
	t.Logf("stats: %+v", s)
	if s.Execs == 0 || s.Forks == 0 {
		t.Errorf("stats %+v", s)
	}
}

func osGetpid() int { return os.Getpid() }

// topMountSource finds the mount visible at a point (the last one there) in a mountinfo text,
// however the paths around it are escaped.
func TestTopMountSource(t *testing.T) {
	info := []byte(`22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
40 22 0:12 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime shared:18 - tracefs tracefs rw
99 40 0:55 / /sys/kernel/tracing rw,nosuid,nodev,noexec,relatime - tracefs tripline rw
100 22 0:56 / /sys/kernel/tracing\040x rw - tracefs tripline rw
`)
	if got := topMountSource(info, "/sys/kernel/tracing"); got != "tracefs tripline" {
		t.Errorf("top of /sys/kernel/tracing: %q, want the later tripline mount", got)
	}
	if got := topMountSource(info[:bytes.Index(info, []byte("99 "))], "/sys/kernel/tracing"); got != "tracefs tracefs" {
		t.Errorf("without tripline's: %q, want the system's tracefs", got)
	}
	if got := topMountSource(info, "/nowhere"); got != "" {
		t.Errorf("no mount: %q", got)
	}
}

// A tracefs is adopted (and unmounted at the end) only when the tripline that mounted it is gone:
// one a running daemon mounted stays that daemon's (found in review: a second daemon unmounted
// the first one's).
func TestLeftTracefsOnlyOfDeadDaemons(t *testing.T) {
	alive := func(pid int) bool { return pid == 4242 }
	for _, c := range []struct {
		src  string
		left bool
	}{
		{"tracefs tripline-4242", false}, // a running tripline's
		{"tracefs tripline-4243", true},  // killed
		{"tracefs tripline", true},       // an older version's, which put no pid
		{"tracefs tracefs", false},       // the system's
		{"tracefs none", false},
		{"tracefs tripline-", false},
		{"tracefs tripline-x", false},
		{"tracefs triplinex", false},
		{"debugfs tripline-4243", false},
		{"", false},
	} {
		if got := leftBy(c.src, alive); got != c.left {
			t.Errorf("leftBy(%q) = %v, want %v", c.src, got, c.left)
		}
	}
	if !processAlive(os.Getpid()) || processAlive(1<<22+1) {
		t.Errorf("processAlive: self %v, an impossible pid %v", processAlive(os.Getpid()), processAlive(1<<22+1))
	}
}
