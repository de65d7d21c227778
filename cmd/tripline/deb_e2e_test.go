package main

// The Debian package: dist/build-deb.sh builds it; real dpkg installs, removes and purges it in
// a temporary root (--root, maintainer scripts run chrootless with DPKG_ROOT set), never
// touching the host's dpkg database.

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// debFiles are the files the package installs, with their modes.
var debFiles = map[string]os.FileMode{
	"usr/bin/tripline":                                  0o755,
	"usr/share/man/man8/tripline.8.gz":                  0o644,
	"usr/share/bash-completion/completions/tripline":    0o644,
	"usr/share/zsh/vendor-completions/_tripline":        0o644,
	"usr/share/fish/vendor_completions.d/tripline.fish": 0o644,
	"usr/lib/systemd/system/tripline.service":           0o644,
	"usr/share/doc/tripline/README.md.gz":               0o644,
	"etc/logrotate.d/tripline":                          0o644,
	"etc/tripline/policy.yaml":                          0o644,
}

var debConffiles = []string{"/etc/logrotate.d/tripline", "/etc/tripline/policy.yaml"}

func runOut(t *testing.T, name string, args ...string) string {
	t.Helper()
	var out, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), stderr.String())
	}
	return out.String()
}

// tree lists every path under root but dpkg's own database, with its type.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "var/lib/dpkg" {
			return fs.SkipDir
		}
		out = append(out, rel+" "+d.Type().String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDebPackage(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"dpkg", "dpkg-deb", "dpkg-query", "gzip", "md5sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed: "+err.Error())
		}
	}
	dir := t.TempDir()
	// The documented command, packaging the binary the tests built (building it again with
	// -trimpath would recompile everything).
	build := exec.Command("sh", "../../dist/build-deb.sh", filepath.Join(dir, "out"))
	build.Env = append(os.Environ(), "TRIPLINE_BIN="+binary, "TRIPLINE_VERSION=1.2.3~test", "SOURCE_DATE_EPOCH=1764633600")
	var stderr bytes.Buffer
	build.Stderr = &stderr
	outb, err := build.Output()
	if err != nil {
		t.Fatalf("dist/build-deb.sh: %v\n%s", err, stderr.String())
	}
	deb := strings.TrimSpace(string(outb))
	arch := strings.TrimSpace(runOut(t, "dpkg", "--print-architecture"))
	if filepath.Base(deb) != "tripline_1.2.3~test_"+arch+".deb" {
		t.Fatalf("build-deb.sh printed %q", deb)
	}

	// The archive: every file, owned by root, with its mode; nothing else.
	listing := runOut(t, "dpkg-deb", "-c", deb)
	t.Logf("dpkg-deb -c:\n%s", listing)
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0][0] == 'd' {
			continue
		}
		path := strings.TrimPrefix(f[5], "./")
		files = append(files, path)
		mode, ok := debFiles[path]
		if !ok {
			t.Errorf("the package ships %s, which it should not", path)
			continue
		}
		if want := "-" + mode.String()[1:]; f[0] != want || f[1] != "root/root" {
			t.Errorf("%s: %s %s, want %s root/root", path, f[0], f[1], want)
		}
	}
	if len(files) != len(debFiles) {
		t.Errorf("the package ships %d files, want %d: %v", len(files), len(debFiles), files)
	}
	if got := runOut(t, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture"); got !=
		"Package: tripline\nVersion: 1.2.3~test\nArchitecture: "+arch+"\n" {
		t.Errorf("control fields:\n%s", got)
	}

	// A root with an empty dpkg database, and the directories a system has.
	root := filepath.Join(dir, "root")
	admin := filepath.Join(root, "var/lib/dpkg")
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers",
		"etc/systemd/system/multi-user.target.wants", "var/lib/private", "var/log/private"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(admin, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := tree(t, root)
	// libc6 is not in this root's database: --force-depends.
	dpkg := func(args ...string) string {
		t.Helper()
		return runOut(t, "dpkg", append([]string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}, args...)...)
	}
	status := func() string {
		t.Helper()
		out, _ := exec.Command("dpkg-query", "--root="+root, "-W", "-f=${Status}", "tripline").Output()
		return string(out)
	}
	dpkg("-i", deb)
	if s := status(); s != "install ok installed" {
		t.Fatalf("after dpkg -i: status %q", s)
	}
	for path, mode := range debFiles {
		st, err := os.Lstat(filepath.Join(root, path))
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if st.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", path, st.Mode(), mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/tripline.service"))
	if want, _ := os.ReadFile(unitFile); !bytes.Equal(unit, want) {
		t.Error("the installed unit is not dist/tripline.service")
	}
	installed := filepath.Join(root, "usr/bin/tripline")
	if v := runOut(t, installed, "version"); !strings.Contains(v, "tripline") {
		t.Errorf("the installed binary's version: %q", v)
	}
	pol := filepath.Join(root, "etc/tripline/policy.yaml")
	if out := runOut(t, installed, "policy", "check", pol); !strings.Contains(out, "ok:") || !strings.Contains(out, "+default") {
		t.Errorf("the installed policy does not extend the default: %s", out)
	}
	man := gunzip(t, filepath.Join(root, "usr/share/man/man8/tripline.8.gz"))
	if !strings.HasPrefix(man, ".TH TRIPLINE 8") || man != runOut(t, binary, "man") {
		t.Errorf("the man page is not `tripline man`: %.60q", man)
	}
	for shell, path := range map[string]string{"bash": "usr/share/bash-completion/completions/tripline",
		"zsh": "usr/share/zsh/vendor-completions/_tripline", "fish": "usr/share/fish/vendor_completions.d/tripline.fish"} {
		got, _ := os.ReadFile(filepath.Join(root, path))
		if string(got) != runOut(t, binary, "completion", shell) || len(got) == 0 {
			t.Errorf("%s is not `tripline completion %s`", path, shell)
		}
	}
	if lr, err := exec.LookPath("logrotate"); err == nil {
		// Debug mode parses the snippet and changes nothing.
		out, err := exec.Command(lr, "-d", "-s", filepath.Join(dir, "logrotate.state"), filepath.Join(root, "etc/logrotate.d/tripline")).CombinedOutput()
		if err != nil || strings.Contains(string(out), "error") || !strings.Contains(string(out), "/var/log/tripline/events.json") {
			t.Errorf("logrotate -d on the snippet: %v\n%s", err, out)
		}
	} else {
		testenv.SkipOrFail(t, "logrotate is not installed: the snippet was not checked")
	}

	// The conffiles are registered, with the md5 of what was installed.
	conf := runOut(t, "dpkg-query", "--root="+root, "-W", "-f=${Conffiles}", "tripline")
	for _, c := range debConffiles {
		b, _ := os.ReadFile(filepath.Join(root, c))
		if want := fmt.Sprintf(" %s %x", c, md5.Sum(b)); !strings.Contains(conf, want) {
			t.Errorf("conffile %s not registered as %q in:\n%s", c, want, conf)
		}
	}

	// What the service makes when it runs (DynamicUser's private state and logs, the enable
	// symlink), and an edit of the policy.
	edited := "version: 1\nextends: default\ndisable: [git-hooks-system]\n"
	if err := os.WriteFile(pol, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"var/lib/private/tripline/tripline.db", "var/log/private/tripline/events.json"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"var/lib/tripline": "private/tripline", "var/log/tripline": "private/tripline",
		"etc/systemd/system/multi-user.target.wants/tripline.service": "/usr/lib/systemd/system/tripline.service"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}

	// remove: the files go, the conffiles (with the edit), the database and the log stay.
	dpkg("-r", "tripline")
	if s := status(); s != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", s)
	}
	if b, err := os.ReadFile(pol); err != nil || string(b) != edited {
		t.Errorf("remove did not keep the edited policy: %v %q", err, b)
	}
	var left []string
	for _, p := range tree(t, root) {
		if !slices.Contains(before, p) {
			left = append(left, p)
		}
	}
	wantLeft := []string{"etc/logrotate.d d---------", "etc/logrotate.d/tripline ----------", "etc/tripline d---------",
		"etc/tripline/policy.yaml ----------", "var/lib/private/tripline d---------", "var/lib/private/tripline/tripline.db ----------",
		"var/lib/tripline L---------", "var/log/private/tripline d---------", "var/log/private/tripline/events.json ----------",
		"var/log/tripline L---------"}
	slices.Sort(left)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("after remove, left:\n%s\nwant:\n%s", strings.Join(left, "\n"), strings.Join(wantLeft, "\n"))
	}

	// purge: nothing of the package is left.
	dpkg("-P", "tripline")
	if s := status(); s != "" {
		t.Errorf("after dpkg -P: status %q, want the package unknown", s)
	}
	if after := tree(t, root); !slices.Equal(after, before) {
		t.Errorf("purge left the root different:\n got %v\nwant %v", after, before)
	}
}

func gunzip(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
