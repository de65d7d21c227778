package attrib

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

// The connector feed subscribes on this kernel and records a process it saw exec; a process
// that is still running when /proc is read is named in full.
func TestConnectorFeedRecordsExec(t *testing.T) {
	testenv.RequireRoot(t)
	c, st, err := Open("connector", nil)
	if err != nil {
		t.Fatalf("the process connector must work here (CI fails rather than skips): %v", err)
	}
	defer c.Close()
	t.Logf("status: %+v", st)
	cmd := exec.Command("/bin/sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	time.Sleep(100 * time.Millisecond)
	c.Sync()
	res := c.Resolve(pid, Now(), -1)
	cmd.Wait()
	if res.Attribution != ExecCache || res.Process == nil {
		t.Fatalf("resolution %+v", res)
	}
	if p := res.Process; p.Exe != "/usr/bin/sleep" || len(p.Args) != 2 || p.Args[1] != "0.3" {
		t.Errorf("process %+v", p)
	}
	if len(res.Ancestors) == 0 || res.Ancestors[0].PID != int32(os.Getpid()) {
		t.Errorf("parent: %+v", res.Ancestors)
	}
	if s := c.Stats(); s.Execs == 0 || s.Forks == 0 {
		t.Errorf("stats %+v", s)
	}
}
