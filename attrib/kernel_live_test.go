package attrib

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/tripline/tripline/proc"
	"golang.org/x/sys/unix"
)

func openKernelFeed(t *testing.T) *Cache {
	t.Helper()
	testenv.RequireRoot(t)
	c, st, err := Open("kernel", nil)
	if err != nil {
		t.Fatalf("the kernel feed must load here (CI fails rather than skips): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if st.Feed != "kernel" {
		t.Fatalf("status %+v", st)
	}
	return c
}

// runResolve runs argv (argv[0] is the path executed) and resolves it through the kernel feed.
func runResolve(t *testing.T, c *Cache, argv ...string) proc.Actor {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v", argv[0], err)
	}
	at := Now()
	c.Sync()
	return c.Resolve(int32(cmd.ProcessState.Pid()), at, -1)
}

// 200 chmods, each over within a millisecond or so, are each named by the kernel's record.
func TestKernelFeedManyShortLived(t *testing.T) {
	c := openKernelFeed(t)
	f := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	type run struct {
		pid  int32
		at   uint64
		argv []string
	}
	var runs []run
	for i := 0; i < 200; i++ {
		exe := "/bin/chmod"
		if i%2 == 1 {
			exe = "/usr/bin/chmod"
		}
		argv := []string{exe, strconv.FormatInt(0o400+int64(i), 8), f}
		cmd := exec.Command(argv[0], argv[1:]...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		runs = append(runs, run{int32(cmd.ProcessState.Pid()), Now(), argv})
	}
	c.Sync()
	bad := 0
	for i, r := range runs {
		res := c.Resolve(r.pid, r.at, -1)
		p := res.Process
		if res.Attribution != Kernel || p == nil || p.Exe != r.argv[0] || !reflect.DeepEqual(p.Args, r.argv) ||
			p.PPID != int32(os.Getpid()) || p.UID != 0 || p.ArgsTruncated || p.Exited {
			bad++
			if bad <= 5 {
				t.Errorf("run %d (pid %d, %q): %s %+v", i, r.pid, r.argv, res.Attribution, p)
			}
		}
	}
	s := c.Stats()
	t.Logf("stats %+v", s)
	if bad > 0 {
		t.Errorf("%d of %d runs misattributed", bad, len(runs))
	}
	if s.Drops != 0 || s.Malformed != 0 || s.Execs < 200 || s.Forks < 200 || s.Exits < 200 {
		t.Errorf("stats %+v", s)
	}
}

// argv is bounded at 64 arguments and 1023 bytes an argument, and says so.
func TestKernelFeedArgvBounds(t *testing.T) {
	c := openKernelFeed(t)
	argv := []string{"/bin/true"}
	for i := 1; i < 100; i++ {
		argv = append(argv, "arg"+strconv.Itoa(i))
	}
	res := runResolve(t, c, argv...)
	if p := res.Process; res.Attribution != Kernel || p == nil || !p.ArgsTruncated || len(p.Args) > maxArgsInRecord || len(p.Args) == 0 ||
		!reflect.DeepEqual(p.Args, argv[:len(p.Args)]) {
		t.Errorf("100 arguments: %s %+v", res.Attribution, p)
	} else {
		t.Logf("100 arguments: %d kept", len(p.Args))
	}

	long := strings.Repeat("L", 3000)
	res = runResolve(t, c, "/bin/true", "short", long, "after")
	p := res.Process
	if res.Attribution != Kernel || p == nil || !p.ArgsTruncated || len(p.Args) < 2 || p.Args[1] != "short" {
		t.Fatalf("long argument: %s %+v", res.Attribution, p)
	}
	if len(p.Args) < 3 || len(p.Args[2]) >= 1024 || len(p.Args[2]) == 0 || !strings.HasPrefix(long, p.Args[2]) {
		t.Errorf("long argument kept as %d bytes", len(p.Args[2]))
	}
	t.Logf("long argument: %d bytes kept, args %d", len(p.Args[2]), len(p.Args))

	// Many arguments of 1000 bytes: the 4 KiB buffer ends the list, flagged.
	argv = []string{"/bin/true"}
	for i := 0; i < 8; i++ {
		argv = append(argv, strings.Repeat(strconv.Itoa(i), 1000))
	}
	res = runResolve(t, c, argv...)
	if p := res.Process; p == nil || !p.ArgsTruncated || len(p.Args) >= len(argv) || !reflect.DeepEqual(p.Args, argv[:len(p.Args)]) {
		t.Errorf("4 KiB of arguments: %+v", p)
	}
}

// Arguments at the bounds but within them are not truncated.
//
// Regression test (found in review, fixed): bpf/exec.c enter() flags FLAG_ARGS_TRUNCATED for complete argv at the bounds:
//   - an argument of exactly 1023 bytes: bpf_probe_read_user_str returns 1024 (1023 + NUL),
//     m == ARG_MAX_LEN, so the whole argument is reported as cut;
//   - exactly 64 arguments: the loop reads all 64, never sees the NULL at argv[64], falls out of
//     the loop and sets FLAG_ARGS_TRUNCATED ("More arguments than ARGS_MAX").
func TestKernelFeedArgvAtBoundsNotTruncated(t *testing.T) {
	c := openKernelFeed(t)
	for name, argv := range map[string][]string{
		"1022-byte argument": {"/bin/true", strings.Repeat("a", 1022)},
		"1023-byte argument": {"/bin/true", strings.Repeat("a", 1023)},
		"63 arguments":       append([]string{"/bin/true"}, manyArgs(62)...),
		"64 arguments":       append([]string{"/bin/true"}, manyArgs(63)...),
	} {
		res := runResolve(t, c, argv...)
		p := res.Process
		if res.Attribution != Kernel || p == nil || !reflect.DeepEqual(p.Args, argv) {
			t.Errorf("%s: %s %+v", name, res.Attribution, p)
			continue
		}
		if p.ArgsTruncated {
			t.Errorf("%s: the whole argv was captured, yet ArgsTruncated", name)
		}
	}
}

// An exec by a relative name ("./sleep" in /usr/bin): cache.go's kindExec branch documents that
// the kernel's resolved path is taken from /proc while the process runs; once it is gone the
// name as called stays.
func TestKernelFeedRelativeExec(t *testing.T) {
	c := openKernelFeed(t)
	// Running while its record is applied: the absolute path.
	cmd := exec.Command("./sleep", "5")
	cmd.Dir = "/usr/bin"
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := int32(cmd.Process.Pid)
	var res proc.Actor
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.Sync()
		if res = c.Resolve(pid, 0, -1); res.Process != nil && len(res.Process.Args) == 2 && res.Process.Args[0] == "./sleep" {
			break
		}
	}
	if p := res.Process; res.Attribution != Kernel || p == nil || p.Exe != "/usr/bin/sleep" || !reflect.DeepEqual(p.Args, []string{"./sleep", "5"}) {
		t.Errorf("running: %s %+v", res.Attribution, p)
	}
	// Gone at once: the absolute path if the reader was faster than its exit, else "./true".
	cmd2 := exec.Command("./true")
	cmd2.Dir = "/usr/bin"
	if err := cmd2.Run(); err != nil {
		t.Fatal(err)
	}
	at := Now()
	c.Sync()
	res = c.Resolve(int32(cmd2.ProcessState.Pid()), at, -1)
	if p := res.Process; res.Attribution != Kernel || p == nil || (p.Exe != "/usr/bin/true" && p.Exe != "./true") || !reflect.DeepEqual(p.Args, []string{"./true"}) {
		t.Errorf("short-lived: %s %+v", res.Attribution, p)
	} else {
		t.Logf("short-lived relative exec: exe %q", p.Exe)
	}
}

// New threads are not processes: a thread's creation must not leave a process entry behind once
// the thread has exited.
//
// Regression test (found in review, fixed): sched_process_fork fires for every clone, threads included, and the kernel feed's fork
// record does not say which (the connector feed drops them: ev.PID != ev.TGID). kindFork adds an
// entry for the thread's tid with the parent's image, and sched_process_exit reports only
// leaders, so the entry never gets an exit and never expires: threads fill the cache up to
// MaxBytes (evicting the exited short-lived processes it exists for) and inflate Stats().Forks.
func TestKernelFeedThreadsAreNotProcesses(t *testing.T) {
	c := openKernelFeed(t)
	const n = 8
	tids := make(chan int, n)
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
			tids <- unix.Gettid()
			<-release
		}()
	}
	var mine []int32
	for i := 0; i < n; i++ {
		mine = append(mine, int32(<-tids))
	}
	close(release)
	wg.Wait()
	// Let the threads exit.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		alive := 0
		for _, tid := range mine {
			if tid == int32(os.Getpid()) {
				continue // the main thread is wedged, not ended, by a locked goroutine's exit
			}
			if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(int(tid))); err == nil {
				alive++
			}
		}
		if alive == 0 {
			break
		}
	}
	c.Sync()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tid := range mine {
		if tid == int32(os.Getpid()) {
			continue
		}
		if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(int(tid))); err == nil {
			continue // still running
		}
		for _, e := range c.procs[tid] {
			if e.exitNS == 0 && e.forked && e.p.PPID == int32(os.Getpid()) {
				t.Errorf("thread %d of this process, exited, is cached as a running process: %+v", tid, e.p)
			}
		}
	}
}
