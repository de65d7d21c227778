package policy_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// validLoc is a complete location for error tests to break one field of.
const validLoc = "  - id: a\n    paths: [/etc/a/*]\n    category: test\n    use: config\n"

// TestLoadErrors checks that every policy that cannot be used is refused with a
// *policy.SyntaxError whose message reads "file:line: what is wrong".
func TestLoadErrors(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	braces := func(n int) string { return strings.Repeat("{a,b}", n) } // 2^n expansions
	var huge []string                                                  // 17 × 4096 patterns
	for i := 0; i < 17; i++ {
		huge = append(huge, fmt.Sprintf(`"/x%d/%s"`, i, braces(12)))
	}
	tests := []struct {
		name string
		src  string
		line int
		msg  string // a part of the message
	}{
		{"yaml syntax", "version: 1\nlocations: [\n", 2, "did not find expected node content"},
		{"tab indentation", "version: 1\nhomes:\n\t- /root\n", 3, "cannot start any token"},
		{"empty file", "", 1, "empty policy"},
		{"only comments", "# nothing\n# here\n", 1, "empty policy"},
		{"not a mapping", "- version: 1\n", 1, "a policy is a mapping"},
		{"unknown top-level key", "version: 1\nlocation: []\n", 2, `unknown key "location"`},
		{"unknown key in a location", "version: 1\nlocations:\n  - id: a\n    pahts: [/x]\n    category: test\n    use: config\n", 4, `unknown key "pahts"`},
		{"unknown key in an exception", "version: 1\nexceptions:\n  - reason: r\n    path: [/x]\n", 4, `unknown key "path"`},
		{"wrong type", "version: 1\nlocations:\n  - id: a\n    paths: /x\n", 4, "cannot unmarshal"},
		{"version 2", "# a comment\n# another\nversion: 2\nlocations: []\n", 3, "version: 2 is not supported"},
		{"version not a number", "version: one\n", 1, "cannot unmarshal"},
		{"no version", "locations: []\n", 1, "no version"},
		{"no version with extends", "# mine\nextends: default\n", 1, "no version"},
		{"version 2 with extends", "extends: default\nversion: 2\n", 2, "version: 2 is not supported"},
		{"extends another policy", "version: 1\nextends: other\n", 2, `extends: "other" is unknown`},
		{"bad use", "version: 1\nlocations:\n  - id: a\n    paths: [/x]\n    category: test\n    use: run\n", 3, `location "a": use "run" must be one of`},
		{"no use", "version: 1\nlocations:\n  - id: a\n    paths: [/x]\n    category: test\n", 3, `use "" must be one of`},
		{"location without id", "version: 1\nlocations:\n  - paths: [/x]\n    category: test\n    use: config\n", 3, "location without an id"},
		{"location without paths", "version: 1\nlocations:\n  - id: a\n    category: test\n    use: config\n", 3, `location "a": no paths`},
		{"location without category", "version: 1\nlocations:\n  - id: a\n    paths: [/x]\n    use: config\n", 3, `location "a": no category`},
		{"bad severity name in a location", "version: 1\nlocations:\n  - id: a\n    paths: [/x]\n    category: test\n    use: config\n    severity: {content-changed: huge}\n", 7, `severity "huge" must be one of`},
		{"severity for an unknown rule", "version: 1\nlocations:\n  - id: a\n    paths: [/x]\n    category: test\n    use: config\n    severity: {content-change: high}\n", 3, `severity for unknown rule "content-change"`},
		{"bad severity name in rules", "version: 1\nrules:\n  exec-bit-set:\n    severity: {executed: severe}\n", 4, `severity "severe"`},
		{"bad use in rules", "version: 1\nrules:\n  exec-bit-set:\n    severity: {run: high}\n", 4, `"run" is not a use`},
		{"severity list in rules", "version: 1\nrules:\n  exec-bit-set:\n    severity: [high]\n", 4, "severity must be a name or a map"},
		{"unknown rule", "version: 1\nrules:\n  timestomp: {severity: high}\n  exec-bit-sat: {severity: high}\n", 4, `rules: unknown rule "exec-bit-sat"`},
		{"duplicate location id", "version: 1\nlocations:\n" + validLoc + validLoc, 7, `location "a": duplicate id (first at line 3)`},
		{"relative path pattern", "version: 1\nlocations:\n  - id: a\n    paths: [etc/cron.d/*]\n    category: test\n    use: config\n", 3, "is not absolute"},
		{"double star inside a segment", "version: 1\nlocations:\n  - id: a\n    paths: [\"/etc/**.conf\"]\n    category: test\n    use: config\n", 3, "** must be a whole segment"},
		{"unmatched open brace", "version: 1\nlocations:\n  - id: a\n    paths: [\"/etc/cron.{daily/*\"]\n    category: test\n    use: config\n", 3, "unmatched {"},
		{"unmatched close brace", "version: 1\nlocations:\n  - id: a\n    paths: [\"/etc/cron.daily}/*\"]\n    category: test\n    use: config\n", 3, "unmatched }"},
		{"bad character class", "version: 1\nlocations:\n  - id: a\n    paths: [\"/etc/rc[0-6.d/*\"]\n    category: test\n    use: config\n", 3, "syntax error in pattern"},
		{"dot-dot segment", "version: 1\nlocations:\n  - id: a\n    paths: [/etc/../x]\n    category: test\n    use: config\n", 3, `segment ".." is not allowed`},
		{"empty segment", "version: 1\nlocations:\n  - id: a\n    paths: [/etc//x]\n    category: test\n    use: config\n", 3, "empty segment"},
		{"empty pattern", "version: 1\nlocations:\n  - id: a\n    paths: [\"\"]\n    category: test\n    use: config\n", 3, "empty path pattern"},
		{"root pattern", "version: 1\nlocations:\n  - id: a\n    paths: [/]\n    category: test\n    use: config\n", 3, "root directory"},
		{"tilde without homes", "version: 1\nlocations:\n  - id: a\n    paths: [~/.bashrc]\n    category: test\n    use: sourced\n", 3, "lists no homes"},
		{"relative home", "version: 1\nhomes:\n  - /root\n  - home/*\n", 4, `homes: "home/*" is not an absolute path pattern`},
		{"home with an unmatched brace", "version: 1\nhomes: [\"/home/{a,b\"]\n", 2, "unmatched {"},
		{"pattern expanding too far", "version: 1\nlocations:\n  - {id: a, category: c, use: config, paths: [\"/x/" + braces(13) + "\"]}\n", 3, "expands to more than 4096 patterns"},
		{"homes times braces expanding too far", "version: 1\nhomes: [\"/h" + braces(11) + "\"]\nlocations:\n  - {id: a, category: c, use: config, paths: [\"~/x" + braces(2) + "\"]}\n", 4, "expands to more than 4096 patterns"},
		{"policy expanding too far", "version: 1\nlocations:\n  - id: a\n    category: c\n    use: config\n    paths: [" + strings.Join(huge, ", ") + "]\n", 3, "the policy expands to more than 65536 path patterns"},
		{"disable an unknown location", "extends: default\nversion: 1\ndisable:\n  - rc-local\n  - rc-locale\n", 5, `disable: the default policy has no location "rc-locale"`},
		{"exception without criteria", "version: 1\nexceptions:\n  - reason: nothing\n    rules: [exec-bit-set]\n", 3, "needs at least one of paths, sha256, exe, ancestors"},
		{"exception without reason", "version: 1\nexceptions:\n  - paths: [/etc/cron.d/x]\n", 3, "needs a reason"},
		{"exception with a short sha256", "version: 1\nexceptions:\n  - reason: r\n    sha256: [abc123]\n", 3, `sha256 "abc123" is not 64 hex digits`},
		{"exception with a non-hex sha256", "version: 1\nexceptions:\n  - reason: r\n    sha256: [" + strings.Repeat("g", 64) + "]\n", 3, "is not 64 hex digits"},
		{"exception with an unknown rule", "version: 1\nexceptions:\n  - reason: r\n    sha256: [" + sha + "]\n    rules: [exec-bit]\n", 3, `unknown rule "exec-bit"`},
		{"exception with a relative path", "version: 1\nexceptions:\n  - reason: r\n    paths: [x]\n", 3, "paths: path pattern"},
		{"ignore with a slash", "version: 1\nignore:\n  - \"*.swp\"\n  - \"/tmp/*\"\n", 4, `ignore: "/tmp/*" must be a file-name pattern, without /`},
		{"ignore with a bad class", "version: 1\nignore: [\"[a-\"]\n", 2, "syntax error in pattern"},
		{"relative trusted executable", "version: 1\ntrusted:\n  executables:\n    - /usr/bin/dpkg\n    - usr/bin/rpm\n", 5, "trusted.executables: path pattern \"usr/bin/rpm\" is not absolute"},
		{"bad trusted ancestor", "version: 1\ntrusted:\n  ancestors: [\"/var/lib/dpkg/info/**x\"]\n", 3, "trusted.ancestors:"},
		{"error in a policy that extends the default", "extends: default\nversion: 1\nlocations:\n  - id: mine\n    paths: [/srv/x]\n    category: test\n    use: sometimes\n", 4, `location "mine": use "sometimes"`},
		{"ignore error after the default's ignores", "extends: default\nversion: 1\nignore:\n  - \"*.bak\"\n  - a/b\n", 5, `ignore: "a/b"`},
		{"trusted error after the default's", "extends: default\nversion: 1\ntrusted:\n  executables: [/opt/x, opt/y]\n", 4, "trusted.executables"},
		{"two replacements of one default location", "extends: default\nversion: 1\nlocations:\n  - {id: rc-local, paths: [/etc/rc.local], category: init, use: executed}\n  - {id: rc-local, paths: [/etc/rc.d/rc.local], category: init, use: executed}\n", 5, `location "rc-local": duplicate id (first at line 4)`},
		{"home that breaks the default's patterns", "extends: default\nversion: 1\nhomes: [/home/*, \"/srv/[x\"]\n", 3, "syntax error in pattern"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := policy.Load("p.yaml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Load succeeded (%d locations), want an error at line %d", len(p.Locations), tt.line)
			}
			var se *policy.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T) is not a *policy.SyntaxError", err, err)
			}
			if se.File != "p.yaml" || se.Line != tt.line {
				t.Errorf("error %q at %s:%d, want p.yaml:%d", err, se.File, se.Line, tt.line)
			}
			if !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("message %q does not say %q", se.Msg, tt.msg)
			}
			if want := fmt.Sprintf("p.yaml:%d: %s", tt.line, se.Msg); err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("Error() has a newline: %q", err.Error())
			}
		})
	}
}

func TestSyntaxErrorString(t *testing.T) {
	tests := []struct {
		err  policy.SyntaxError
		want string
	}{
		{policy.SyntaxError{File: "/etc/tripline.yaml", Line: 7, Msg: "bad"}, "/etc/tripline.yaml:7: bad"},
		{policy.SyntaxError{File: "/etc/tripline.yaml", Msg: "bad"}, "/etc/tripline.yaml: bad"},
		{policy.SyntaxError{Line: 3, Msg: "bad"}, "policy:3: bad"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

// loadFileWithin runs LoadFile and fails the test instead of hanging when it blocks (a FIFO
// opened for reading waits for a writer forever). The guard is generous: parsing a policy of
// exactly the size limit under -race on a loaded 2-core machine took over 5 s, and a guard that
// a slow machine trips is a timed test. What it catches is a hang, not slowness.
func loadFileWithin(t *testing.T, name string) (*policy.Policy, error) {
	t.Helper()
	type result struct {
		p   *policy.Policy
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := policy.LoadFile(name)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		return r.p, r.err
	case <-time.After(2 * time.Minute):
		t.Fatalf("LoadFile(%q) still blocked after 2 minutes", name)
		return nil, nil
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	t.Cleanup(func() {
		// Release a LoadFile that blocked in open, so its goroutine ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, policy.MaxPolicyBytes+1); err != nil {
		t.Fatal(err)
	}
	// A valid policy of exactly MaxPolicyBytes.
	head := "version: 1\nlocations: []\n#"
	exact := filepath.Join(dir, "exact.yaml")
	if err := os.WriteFile(exact, []byte(head+strings.Repeat("x", policy.MaxPolicyBytes-len(head)-1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink(must(filepath.Abs("testdata/extends.yaml")), link); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		file string
		msg  string // "" for success; else part of the SyntaxError message
	}{
		{"policy file", "testdata/extends.yaml", ""},
		{"symlink to a policy file", link, ""},
		{"exactly the size limit", exact, ""},
		{"directory", dir, "not a regular file"},
		{"fifo", fifo, "not a regular file"},
		{"larger than the limit", big, fmt.Sprintf("larger than %d bytes", policy.MaxPolicyBytes)},
		{"device", "/dev/zero", "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := os.Stat(tt.file); err != nil {
				t.Skipf("%s: %v", tt.file, err)
			}
			p, err := loadFileWithin(t, tt.file)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("LoadFile: %v", err)
				}
				if !strings.HasPrefix(p.Source(), tt.file) {
					t.Errorf("Source() = %q, want it to name %s", p.Source(), tt.file)
				}
				return
			}
			var se *policy.SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("LoadFile = %v (%T), want a *policy.SyntaxError", err, err)
			}
			if se.File != tt.file || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("LoadFile = %q, want %s: ...%s...", err, tt.file, tt.msg)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		_, err := policy.LoadFile(filepath.Join(dir, "nope.yaml"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("LoadFile(missing) = %v, want fs.ErrNotExist", err)
		}
	})
	t.Run("error names the file", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(bad, []byte("version: 1\nlocations:\n  - id: a\n    pahts: [/x]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := policy.LoadFile(bad)
		if want := bad + ":4: unknown key"; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("LoadFile = %v, want %s...", err, want)
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestExtends(t *testing.T) {
	p, err := policy.LoadFile("testdata/extends.yaml")
	if err != nil {
		t.Fatal(err)
	}
	def := policy.Default()

	t.Run("source and digest", func(t *testing.T) {
		if p.Source() != "testdata/extends.yaml+default" {
			t.Errorf("Source() = %q", p.Source())
		}
		if p.Digest() == def.Digest() || len(p.Digest()) != 64 {
			t.Errorf("Digest() = %q, want 64 hex digits unlike the default's %q", p.Digest(), def.Digest())
		}
		again, err := policy.LoadFile("testdata/extends.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if again.Digest() != p.Digest() {
			t.Errorf("Digest() differs between two loads of one file")
		}
		other := load(t, "extends: default\nversion: 1\n")
		if other.Digest() == p.Digest() || other.Digest() == def.Digest() {
			t.Errorf("a different extending policy has digest %s", other.Digest())
		}
	})

	t.Run("locations", func(t *testing.T) {
		// one disabled, one added, one replaced in place
		if got, want := len(p.Locations), len(def.Locations); got != want {
			t.Errorf("%d locations, want %d", got, want)
		}
		// The default's order, without the disabled one, the replaced one in its place, then the
		// added one.
		var want, got []string
		for _, l := range def.Locations {
			if l.ID != "upstart" {
				want = append(want, l.ID)
			}
		}
		want = append(want, "git-hooks-user")
		for _, l := range p.Locations {
			got = append(got, l.ID)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("locations %q, want %q", got, want)
		}
		if p.Location("upstart") != nil {
			t.Error("disabled location upstart is still there")
		}
		for _, tt := range []struct {
			path, id string
			use      policy.Use
		}{
			{"/srv/git/repo/hooks/pre-commit", "git-hooks-user", policy.Executed},
			{"/etc/cron.daily/x", "cron-periodic", policy.Sourced},
			{"/etc/cron.weekly/x", "", ""},
			{"/etc/init/x.conf", "", ""},
			{"/etc/cron.d/x", "crontab-system", policy.Config},
			{"/home/alice/.bashrc", "shell-profile-user", policy.Sourced},
		} {
			l := p.Match(tt.path)
			switch {
			case l == nil && tt.id != "":
				t.Errorf("Match(%q) = nil, want %s", tt.path, tt.id)
			case l != nil && (l.ID != tt.id || l.Use != tt.use):
				t.Errorf("Match(%q) = %s (%s), want %q (%s)", tt.path, l.ID, l.Use, tt.id, tt.use)
			}
		}
		// The default is untouched.
		if def.Location("upstart") == nil || def.Match("/etc/cron.weekly/x") == nil {
			t.Error("extending changed the default policy")
		}
	})

	t.Run("rule severity overridden for one use", func(t *testing.T) {
		chmod := func(pol *policy.Policy, path string) policy.Severity {
			c := diff(t, file(path, 0o644), file(path, 0o755))
			f, ok := pol.Evaluate(c, pol.Match(path), nil)
			if !ok {
				t.Fatalf("no finding for chmod +x %s", path)
			}
			return f.Severity
		}
		for _, tt := range []struct {
			path      string
			def, mine policy.Severity
		}{
			{"/etc/cron.d/x", policy.SevLow, policy.SevHigh},            // config: overridden
			{"/etc/profile.d/x.sh", policy.SevMedium, policy.SevMedium}, // sourced: inherited
			{"/etc/init.d/x", policy.SevHigh, policy.SevHigh},           // executed: inherited
		} {
			if got := chmod(def, tt.path); got != tt.def {
				t.Errorf("default: chmod +x %s = %s, want %s", tt.path, got, tt.def)
			}
			if got := chmod(p, tt.path); got != tt.mine {
				t.Errorf("extended: chmod +x %s = %s, want %s", tt.path, got, tt.mine)
			}
		}
		if got := p.Rules["setuid-set"].Severity[policy.Executed]; got != policy.SevCritical {
			t.Errorf("setuid-set lost its default severity: %s", got)
		}
	})

	t.Run("trusted, ignores and exceptions are added", func(t *testing.T) {
		for _, name := range []string{"x.bak", "x.dpkg-new", ".x.swp"} {
			if !p.Ignored(name) {
				t.Errorf("Ignored(%q) = false", name)
			}
		}
		c := diff(t, nil, file("/etc/init.d/x", 0o755))
		loc := p.Match(c.Path)
		for _, tt := range []struct {
			actor   *proc.Actor
			verdict policy.Verdict
		}{
			{known(proc.Process{Exe: "/opt/deploy/bin/deploy"}), policy.VerdictTrusted},
			{known(proc.Process{Exe: "/usr/bin/dpkg"}), policy.VerdictTrusted},
			{known(proc.Process{Exe: "/bin/cp"}, proc.Process{Exe: "/opt/deploy/libexec/run"}), policy.VerdictTrusted},
			{known(proc.Process{Exe: "/bin/cp"}), policy.VerdictAlert},
		} {
			f, ok := p.Evaluate(c, loc, tt.actor)
			if !ok || f.Verdict != tt.verdict {
				t.Errorf("actor %+v: verdict %q (%v), want %q", tt.actor, f.Verdict, ok, tt.verdict)
			}
		}
		banner := diff(t, nil, file("/etc/update-motd.d/99-banner", 0o755))
		f, ok := p.Evaluate(banner, p.Match(banner.Path), nil)
		if !ok || f.Verdict != policy.VerdictExcepted || f.Why != "exception: our login banner" {
			t.Errorf("banner: verdict %q why %q, want excepted by our login banner", f.Verdict, f.Why)
		}
	})

	t.Run("homes replaced", func(t *testing.T) {
		q := load(t, "extends: default\nversion: 1\nhomes: [/export/home/*]\n")
		if got := matchID(q, "/export/home/u/.bashrc"); got != "shell-profile-user" {
			t.Errorf("Match(/export/home/u/.bashrc) = %q", got)
		}
		if got := matchID(q, "/home/alice/.bashrc"); got != "" {
			t.Errorf("Match(/home/alice/.bashrc) = %q, want none", got)
		}
	})

	t.Run("without extends the default is replaced", func(t *testing.T) {
		q := load(t, smallPolicy("", loc("a", policy.Config, "/srv/a")))
		if q.Source() != "test.yaml" || len(q.Locations) != 1 {
			t.Errorf("Source %q with %d locations", q.Source(), len(q.Locations))
		}
		if got := matchID(q, "/etc/crontab"); got != "" {
			t.Errorf("Match(/etc/crontab) = %q, want none", got)
		}
		c := diff(t, nil, file("/srv/a", 0o755))
		if f, _ := q.Evaluate(c, q.Match(c.Path), known(proc.Process{Exe: "/usr/bin/dpkg"})); f.Verdict != policy.VerdictAlert {
			t.Errorf("dpkg is trusted by a policy that does not say so: %q", f.Verdict)
		}
	})
}

// file is a regular file entry with content "a"; tests change the fields they need.
func file(path string, mode uint32) *baseline.Entry {
	return &baseline.Entry{
		Path: path, Type: baseline.TypeFile, Mode: mode, Size: 2, Inode: 1000, Dev: 8, Nlink: 1,
		MtimeNS: 1_700_000_000_000_000_000, CtimeNS: 1_700_000_000_000_000_000, BtimeNS: 1_600_000_000_000_000_000,
		SHA256: shaA, HashState: baseline.HashOK,
	}
}

// diff is baseline.Diff for a pair the test knows to differ.
func diff(t testing.TB, old, cur *baseline.Entry) baseline.Change {
	t.Helper()
	c, ok := baseline.Diff(old, cur)
	if !ok {
		t.Fatalf("baseline.Diff(%+v, %+v) found no change", old, cur)
	}
	return c
}
