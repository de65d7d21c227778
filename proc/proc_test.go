package proc

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"
)

func statLine(pid, comm string, ppid string, start string) string {
	// pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
	// stime cutime cstime priority nice threads itrealvalue starttime vsize rss ...
	return pid + " (" + comm + ") S " + ppid + " 1 1 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 " + start + " 1000 10 18446744073709551615\n"
}

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     Stat
		err      bool
	}{
		{"plain", statLine("42", "chmod", "7", "12345"), Stat{42, "chmod", 'S', 7, 12345}, false},
		{"hostile comm", statLine("9", "a) b (c", "1", "5"), Stat{9, "a) b (c", 'S', 1, 5}, false},
		{"comm of spaces and parens", statLine("9", ") ) (", "1", "5"), Stat{9, ") ) (", 'S', 1, 5}, false},
		{"empty comm", statLine("3", "", "2", "0"), Stat{3, "", 'S', 2, 0}, false},
		{"no parens", "42 chmod S 7", Stat{}, true},
		{"truncated", "42 (x) S 7 1 1", Stat{}, true},
		{"bad pid", statLine("x", "a", "1", "1"), Stat{}, true},
		{"bad start", statLine("1", "a", "1", "-5"), Stat{}, true},
		{"empty", "", Stat{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseStat([]byte(c.in))
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if err != nil {
				if !errors.Is(err, ErrFormat) {
					t.Errorf("error %v does not wrap ErrFormat", err)
				}
				return
			}
			if got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestParseCmdline(t *testing.T) {
	for in, want := range map[string][]string{
		"":                          nil,
		"chmod\x00+x\x00/etc/x\x00": {"chmod", "+x", "/etc/x"},
		"sh\x00-c\x00":              {"sh", "-c"},
		"no-terminator":             {"no-terminator"},
		"a\x00\x00b\x00":            {"a", "", "b"},
	} {
		if got := ParseCmdline([]byte(in)); !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

func TestParseStatusIDs(t *testing.T) {
	u, e, err := ParseStatusIDs([]byte("Name:\tx\nUid:\t1000\t0\t0\t0\nGid:\t1\t1\t1\t1\n"))
	if err != nil || u != 1000 || e != 0 {
		t.Errorf("got %d %d %v", u, e, err)
	}
	for _, bad := range []string{"Name:\tx\n", "Uid:\t1000\n", "Uid:\tx\ty\n"} {
		if _, _, err := ParseStatusIDs([]byte(bad)); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}

// A fixture /proc: a shell (pid 100) under init (1) ran chmod (200); 300 is a kernel thread.
func fixture() fstest.MapFS {
	return fstest.MapFS{
		"1/stat":        {Data: []byte(statLine("1", "systemd", "0", "1"))},
		"1/cmdline":     {Data: []byte("/sbin/init\x00")},
		"100/stat":      {Data: []byte(statLine("100", "bash", "1", "500"))},
		"100/cmdline":   {Data: []byte("-bash\x00")},
		"100/status":    {Data: []byte("Uid:\t1000\t1000\t1000\t1000\n")},
		"100/loginuid":  {Data: []byte("1000")},
		"200/stat":      {Data: []byte(statLine("200", "a) b (c", "100", "900"))},
		"200/cmdline":   {Data: []byte("chmod\x00+x\x00/etc/cron.daily/x\x00")},
		"200/status":    {Data: []byte("Uid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n")},
		"200/loginuid":  {Data: []byte("1000\n")},
		"200/sessionid": {Data: []byte("7")},
		"200/cwd":       {Data: []byte("/home/a\nb"), Mode: fs.ModeSymlink},
		"200/cgroup":    {Data: []byte("0::/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope\n")},
		"200/exe":       {Data: []byte("/usr/bin/chmod"), Mode: fs.ModeSymlink},
		"300/stat":      {Data: []byte(statLine("300", "kworker/0:1", "2", "7"))},
		"300/cmdline":   {Data: []byte("")},
		"300/loginuid":  {Data: []byte("4294967295")},
	}
}

func TestReadFixture(t *testing.T) {
	fsys := fixture()
	p, err := Read(fsys, 200)
	if err != nil {
		t.Fatal(err)
	}
	want := Process{PID: 200, PPID: 100, Name: "a) b (c", Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "/etc/cron.daily/x"},
		StartTime: 900, UID: 1000, EUID: 0, GID: 1000, EGID: 1000, LoginUID: 1000, SessionID: 7, Cwd: "/home/a\nb",
		Cgroup: "/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope", ContainerID: strings.Repeat("ab", 32)}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v\nwant %+v", p, want)
	}
	anc := Ancestry(fsys, p)
	if len(anc) != 2 || anc[0].PID != 100 || anc[0].Args[0] != "-bash" || anc[1].PID != 1 {
		t.Errorf("ancestry %+v", anc)
	}
	z := fixture()
	z["200/stat"] = &fstest.MapFile{Data: []byte(strings.Replace(statLine("200", "chmod", "100", "900"), ") S ", ") Z ", 1))}
	delete(z, "200/exe")
	z["200/cmdline"] = &fstest.MapFile{Data: nil}
	if zp, err := Read(z, 200); err != nil || !zp.Exited || zp.Name != "chmod" || zp.PPID != 100 || zp.Exe != "" {
		t.Errorf("zombie: %+v %v", zp, err)
	}
	// Exiting: its argv was still read, but its exe link is already gone.
	x := fixture()
	delete(x, "200/exe")
	if xp, err := Read(x, 200); err != nil || !xp.Exited || len(xp.Args) != 3 {
		t.Errorf("exiting: %+v %v", xp, err)
	}
	k, err := Read(fsys, 300)
	if err != nil || !k.Kernel || k.Args != nil || k.LoginUID != -1 {
		t.Errorf("kernel thread: %+v %v", k, err)
	}
	if _, err := Read(fsys, 999); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing pid: %v", err)
	}
	if !Unchanged(fsys, &p) {
		t.Error("Unchanged: false for the same process")
	}
	execd := fixture()
	execd["200/exe"] = &fstest.MapFile{Data: []byte("/usr/bin/rm"), Mode: fs.ModeSymlink}
	execd["200/cmdline"] = &fstest.MapFile{Data: []byte("rm\x00/etc/x\x00")}
	if Unchanged(execd, &p) {
		t.Error("Unchanged: true after an exec")
	}
	sameExe := fixture()
	sameExe["200/cmdline"] = &fstest.MapFile{Data: []byte("chmod\x00-x\x00/etc/cron.daily/x\x00")}
	if Unchanged(sameExe, &p) {
		t.Error("Unchanged: true with other arguments")
	}
	// A loop in the parent links (pid reuse can make one) ends.
	loop := fixture()
	loop["1/stat"] = &fstest.MapFile{Data: []byte(statLine("1", "x", "200", "1"))}
	if anc := Ancestry(loop, p); len(anc) != 2 {
		t.Errorf("ancestry through a loop: %d entries", len(anc))
	}
}

// TestReadLive reads a real child process from the real /proc.
func TestReadLive(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	fsys := os.DirFS("/proc")
	deadline := time.Now().Add(5 * time.Second)
	var p Process
	var err error
	for time.Now().Before(deadline) {
		if p, err = Read(fsys, int32(cmd.Process.Pid)); err == nil && len(p.Args) > 0 && p.Args[0] == "sleep" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err != nil || p.Name != "sleep" || !strings.HasSuffix(p.Exe, "/sleep") || p.PPID != int32(os.Getpid()) {
		t.Fatalf("read %+v, %v", p, err)
	}
	anc := Ancestry(fsys, p)
	if len(anc) == 0 || anc[0].PID != int32(os.Getpid()) {
		t.Errorf("first ancestor %+v, want the test process", anc)
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine("42", "chmod", "7", "12345")))
	f.Add([]byte(statLine("9", "a) b (c", "1", "5")))
	f.Add([]byte("1 ("))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if len(s.Comm) > len(b) || (utf8.Valid(b) && !utf8.ValidString(s.Comm)) {
			t.Fatalf("comm %q from %q", s.Comm, b)
		}
	})
}

func FuzzParseCmdline(f *testing.F) {
	f.Add([]byte("chmod\x00+x\x00/etc/x\x00"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		args := ParseCmdline(b)
		if strings.Join(args, "\x00") != strings.TrimSuffix(string(b), "\x00") {
			t.Fatalf("%q -> %q does not join back", b, args)
		}
	})
}
