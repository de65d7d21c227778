package proc

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
)

// hostile is a one-process /proc: pid 500, child of 1, with the files given (stat added unless
// set).
func hostile(files map[string]string, symlinks map[string]string) fstest.MapFS {
	m := fstest.MapFS{"500/stat": {Data: []byte(statLine("500", "x", "1", "4000"))}}
	for k, v := range files {
		m["500/"+k] = &fstest.MapFile{Data: []byte(v)}
	}
	for k, v := range symlinks {
		m["500/"+k] = &fstest.MapFile{Data: []byte(v), Mode: fs.ModeSymlink}
	}
	return m
}

func TestReadEmptyCmdlineUserProcess(t *testing.T) {
	// A user process that exec'd with argv == NULL (or wiped it): no args, but running.
	p, err := Read(hostile(map[string]string{"cmdline": ""}, map[string]string{"exe": "/usr/bin/odd"}), 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Args != nil || p.Kernel || p.Exited || p.Exe != "/usr/bin/odd" || p.PPID != 1 {
		t.Errorf("%+v", p)
	}
	// Nor argv nor exe: it is on its way out.
	p, err = Read(hostile(map[string]string{"cmdline": ""}, nil), 500)
	if err != nil || !p.Exited || p.Kernel {
		t.Errorf("no argv, no exe: %+v %v", p, err)
	}
}

func TestReadSetproctitle(t *testing.T) {
	// nginx, postgres and sshd rewrite their argv as one string with spaces.
	p, err := Read(hostile(map[string]string{"cmdline": "nginx: worker process" + strings.Repeat("\x00", 20)}, map[string]string{"exe": "/usr/sbin/nginx"}), 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Args) == 0 || p.Args[0] != "nginx: worker process" || p.Exited {
		t.Errorf("%q %+v", p.Args, p)
	}
}

func TestReadHugeCmdline(t *testing.T) {
	arg := strings.Repeat("A", 1000)
	var b strings.Builder
	n := 0
	for b.Len() <= 100<<10 {
		b.WriteString(arg)
		b.WriteByte(0)
		n++
	}
	p, err := Read(hostile(map[string]string{"cmdline": b.String()}, map[string]string{"exe": "/usr/bin/xargs"}), 500)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(p.Args, "\x00")
	if len(joined) > maxCmdline || len(p.Args) >= n || !strings.HasPrefix(b.String(), joined) {
		t.Errorf("%d args, %d bytes joined, from %d args of %d bytes (bound %d)", len(p.Args), len(joined), n, b.Len(), maxCmdline)
	}
	for _, a := range p.Args[:len(p.Args)-1] {
		if a != arg {
			t.Fatalf("argument of %d bytes", len(a))
		}
	}
	if last := p.Args[len(p.Args)-1]; len(last) == 0 || len(last) > len(arg) {
		t.Errorf("last argument of %d bytes", len(last))
	}
	if p.Exited || p.Kernel {
		t.Errorf("%+v", p.Exited)
	}
	// Unchanged compares the same cut.
	fsys := hostile(map[string]string{"cmdline": b.String()}, map[string]string{"exe": "/usr/bin/xargs"})
	if !Unchanged(fsys, &p) {
		t.Error("Unchanged: false for the same huge cmdline")
	}
}

// A command line cut at maxCmdline is not the whole argv, and the Process must say so.
//
// Regression test (found in review, fixed): proc.go Read cuts /proc/PID/cmdline at maxCmdline (64 KiB) but does not set
// Process.ArgsTruncated, whose doc says it marks "Args is not the whole argv: a bound was
// reached where it was captured"; the last argument is silently cut mid-string.
func TestReadHugeCmdlineFlagged(t *testing.T) {
	huge := strings.Repeat("B", maxCmdline+100) + "\x00"
	p, err := Read(hostile(map[string]string{"cmdline": huge}, map[string]string{"exe": "/usr/bin/x"}), 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Args) != 1 || len(p.Args[0]) != maxCmdline {
		t.Fatalf("%d args", len(p.Args))
	}
	if !p.ArgsTruncated {
		t.Errorf("cmdline of %d bytes cut to %d, ArgsTruncated false", len(huge), maxCmdline)
	}
	// Exactly at the bound: complete.
	exact := strings.Repeat("C", maxCmdline-1) + "\x00"
	if p, err := Read(hostile(map[string]string{"cmdline": exact}, map[string]string{"exe": "/usr/bin/x"}), 500); err != nil || p.ArgsTruncated || len(p.Args[0]) != maxCmdline-1 {
		t.Errorf("cmdline of exactly %d bytes: %d, %v", len(exact), len(p.Args[0]), p.ArgsTruncated)
	}
}

func TestReadDeletedExecutable(t *testing.T) {
	p, err := Read(hostile(map[string]string{"cmdline": "x\x00"}, map[string]string{"exe": "/usr/bin/x (deleted)"}), 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != "/usr/bin/x (deleted)" || p.Exited || p.Kernel || !reflect.DeepEqual(p.Args, []string{"x"}) {
		t.Errorf("%+v", p)
	}
}

func TestReadKernelThread(t *testing.T) {
	m := fstest.MapFS{
		"77/stat":    {Data: []byte(statLine("77", "kworker/u8:2-events_unbound", "2", "30"))},
		"77/cmdline": {Data: nil},
		"2/stat":     {Data: []byte(statLine("2", "kthreadd", "0", "0"))},
		"2/cmdline":  {Data: nil},
	}
	for _, pid := range []int32{77, 2} {
		p, err := Read(m, pid)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Kernel || p.Exited || p.Args != nil || p.Exe != "" {
			t.Errorf("pid %d: %+v", pid, p)
		}
	}
	// A user process under kthreadd with arguments (usermode helpers) is not a kernel thread.
	m["78/stat"] = &fstest.MapFile{Data: []byte(statLine("78", "modprobe", "2", "31"))}
	m["78/cmdline"] = &fstest.MapFile{Data: []byte("/sbin/modprobe\x00-q\x00x\x00")}
	m["78/exe"] = &fstest.MapFile{Data: []byte("/usr/bin/kmod"), Mode: fs.ModeSymlink}
	if p, err := Read(m, 78); err != nil || p.Kernel || p.Exited || len(p.Args) != 3 {
		t.Errorf("usermode helper: %+v %v", p, err)
	}
}

// denyFS refuses the exe link, as /proc does to an unprivileged reader of another user's process.
type denyFS struct{ fstest.MapFS }

func (d denyFS) ReadLink(name string) (string, error) {
	if strings.HasSuffix(name, "/exe") {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrPermission}
	}
	return d.MapFS.ReadLink(name)
}

func TestReadExeRefused(t *testing.T) {
	p, err := Read(denyFS{hostile(map[string]string{"cmdline": "sshd\x00"}, map[string]string{"exe": "/usr/sbin/sshd"})}, 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exe != "" || p.Exited || !reflect.DeepEqual(p.Args, []string{"sshd"}) {
		t.Errorf("%+v", p)
	}
}

// reuseFS answers the second read of stat with another process's start time: the pid was reused
// during Read.
type reuseFS struct {
	fstest.MapFS
	mu    sync.Mutex
	reads int
}

func (r *reuseFS) ReadFile(name string) ([]byte, error) {
	if strings.HasSuffix(name, "/stat") {
		r.mu.Lock()
		r.reads++
		n := r.reads
		r.mu.Unlock()
		if n > 1 {
			return []byte(statLine("500", "other", "1", "9999")), nil
		}
	}
	return r.MapFS.ReadFile(name)
}

func TestReadPIDReusedDuringRead(t *testing.T) {
	fsys := &reuseFS{MapFS: hostile(map[string]string{"cmdline": "x\x00"}, map[string]string{"exe": "/x"})}
	if p, err := Read(fsys, 500); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %+v, %v; want a reuse error wrapping fs.ErrNotExist", p, err)
	}
}

func TestReadMalformedStat(t *testing.T) {
	m := fstest.MapFS{"5/stat": {Data: []byte("5 (x) S")}}
	if _, err := Read(m, 5); !errors.Is(err, ErrFormat) {
		t.Errorf("err %v", err)
	}
}

func TestParseStatusGIDs(t *testing.T) {
	status := "Name:\tx\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t0\t0\t0\nGroups:\t4 24 27\n"
	g, e, err := ParseStatusGIDs([]byte(status))
	if err != nil || g != 100 || e != 0 {
		t.Errorf("got %d %d %v", g, e, err)
	}
	u, eu, err := ParseStatusIDs([]byte(status))
	if err != nil || u != 1000 || eu != 1000 {
		t.Errorf("uids: %d %d %v", u, eu, err)
	}
	if g, e, err := ParseStatusGIDs([]byte("Gid:\t4294967294\t4294967294\t0\t0\n")); err != nil || g != -2 || e != -2 {
		t.Errorf("nogroup: %d %d %v", g, e, err)
	}
	for _, bad := range []string{"", "Uid:\t1\t1\n", "Gid:\t1\n", "Gid:\t-1\t0\n", "Gid:\tx\t0\n", "Gid:\t4294967296\t0\n", "Groups:\t1 2\n"} {
		if _, _, err := ParseStatusGIDs([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

const hexID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseCgroup(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"v2", "0::/user.slice/user-1000.slice/session-3.scope\n", "/user.slice/user-1000.slice/session-3.scope"},
		{"v2, no newline", "0::/system.slice/cron.service", "/system.slice/cron.service"},
		{"v2 root", "0::/\n", "/"},
		{"hybrid: v2 wins", "12:cpu,cpuacct:/docker/" + hexID + "\n1:name=systemd:/init.scope\n0::/init.scope\n", "/init.scope"},
		{"v1 only: the first controller", "12:pids:/docker/" + hexID + "\n11:memory:/other\n1:name=systemd:/docker/" + hexID + "\n", "/docker/" + hexID},
		{"colon in the path", "0::/a:b/c\n", "/a:b/c"},
		{"garbage lines skipped", "junk\n\n0::/x\n", "/x"},
		{"empty", "", ""},
		{"no path lines", "junk\nmore junk\n", ""},
	} {
		if got := ParseCgroup([]byte(c.in)); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestContainerID(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"docker systemd scope", "/system.slice/docker-" + hexID + ".scope", hexID},
		{"containerd (cri)", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/cri-containerd-" + hexID + ".scope", hexID},
		{"docker cgroupfs", "/docker/" + hexID, hexID},
		{"podman", "/machine.slice/libpod-" + hexID + ".scope", hexID},
		{"podman conmon", "/machine.slice/libpod-conmon-" + hexID + ".scope", hexID},
		{"cri-o", "/kubepods.slice/crio-" + hexID + ".scope", hexID},
		{"kubepods cgroupfs", "/kubepods/besteffort/pod0f4c6a52-7e2d-4a4b-9bd1-1c6c3d2e9f00/" + hexID, hexID},
		{"nested: innermost", "/docker/" + strings.Repeat("1", 64) + "/docker/" + hexID, hexID},
		{"trailing slash", "/docker/" + hexID + "/", hexID},
		{"63 hex digits", "/docker/" + hexID[:63], ""},
		{"65 hex digits", "/docker/" + hexID + "0", ""},
		{"uppercase hex", "/docker/" + strings.ToUpper(hexID), ""},
		{"no id", "/user.slice/user-1000.slice/session-3.scope", ""},
		{"empty", "", ""},
		{"root", "/", ""},
		{"id inside a word", "/x" + hexID + "y", ""},
	} {
		if got := ContainerID(c.in); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestReadContainerCgroup(t *testing.T) {
	p, err := Read(hostile(map[string]string{"cmdline": "x\x00", "cgroup": "0::/system.slice/docker-" + hexID + ".scope\n"}, map[string]string{"exe": "/x"}), 500)
	if err != nil || p.ContainerID != hexID || p.Cgroup != "/system.slice/docker-"+hexID+".scope" {
		t.Errorf("%+v %v", p, err)
	}
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("0::/system.slice/docker-" + hexID + ".scope\n"))
	f.Add([]byte("12:pids:/docker/" + hexID + "\n"))
	f.Add([]byte("0::/user.slice\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cg := ParseCgroup(b)
		if !bytes.Contains(b, []byte(cg)) || strings.Contains(cg, "\n") {
			t.Fatalf("cgroup %q from %q", cg, b)
		}
		id := ContainerID(cg)
		if id != "" && (!isLowerHex64(id) || !strings.Contains(cg, id)) {
			t.Fatalf("container id %q from %q", id, cg)
		}
		if id2 := ContainerID(string(b)); id2 != "" && !isLowerHex64(id2) {
			t.Fatalf("container id %q from raw %q", id2, b)
		}
	})
}
