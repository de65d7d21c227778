// Package pkgtest builds real packages for tests: a .deb with dpkg-deb and an .rpm with rpmbuild,
// and installs them into a fixture root with dpkg --root and rpm --root. Tests that use it need
// the tools (see .ci/run) and, to install, root.
package pkgtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	_ "github.com/mattn/go-sqlite3" // HoldRPMDB

	"github.com/tripline/tripline/internal/testenv"
)

// File is one file a package ships.
type File struct {
	Content  string
	Mode     os.FileMode
	Conffile bool   // a configuration file (dpkg conffiles, rpm %config)
	Link     string // a symlink to this target instead of a file
}

// Spec is a package to build.
type Spec struct {
	Name, Version string
	Files         map[string]File // logical path ("/etc/cron.daily/x") -> file
	Postinst      string          // shell script run after install (dpkg: with DPKG_ROOT set)
}

// Need skips (or, under CI, fails) when a tool is missing.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed: "+err.Error())
		}
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func paths(s Spec) []string {
	var ps []string
	for p := range s.Files {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

func writeTree(t testing.TB, dir string, s Spec) {
	t.Helper()
	for _, p := range paths(s) {
		f := s.Files[p]
		fp := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(fp), 0o755); err != nil {
			t.Fatal(err)
		}
		if f.Link != "" {
			if err := os.Symlink(f.Link, fp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(fp, []byte(f.Content), f.Mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(fp, f.Mode); err != nil {
			t.Fatal(err)
		}
	}
}

// BuildDeb builds s with dpkg-deb and returns the .deb's path.
func BuildDeb(t testing.TB, s Spec) string {
	t.Helper()
	Need(t, "dpkg-deb")
	dir := t.TempDir()
	tree := filepath.Join(dir, "pkg")
	writeTree(t, tree, s)
	if err := os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755); err != nil {
		t.Fatal(err)
	}
	control := fmt.Sprintf("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: tripline tests <tests@example.invalid>\nDescription: tripline test fixture\n", s.Name, s.Version)
	var conf []string
	for _, p := range paths(s) {
		if s.Files[p].Conffile {
			conf = append(conf, p+"\n")
		}
	}
	ctl := map[string]string{"control": control}
	if len(conf) > 0 {
		ctl["conffiles"] = strings.Join(conf, "")
	}
	for n, c := range ctl {
		if err := os.WriteFile(filepath.Join(tree, "DEBIAN", n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if s.Postinst != "" {
		if err := os.WriteFile(filepath.Join(tree, "DEBIAN/postinst"), []byte("#!/bin/sh\nset -e\n"+s.Postinst+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// dpkg-deb writes no md5sums itself (dh_md5sums does): write them as a Debian build would.
	out, err := exec.Command("sh", "-c", "cd \"$1\" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\\./||' | sort | while read -r f; do grep -qxF \"/$f\" DEBIAN/conffiles 2>/dev/null || md5sum \"$f\"; done > DEBIAN/md5sums", "sh", tree).CombinedOutput()
	if err != nil {
		t.Fatalf("md5sums: %v\n%s", err, out)
	}
	deb := filepath.Join(dir, s.Name+"_"+s.Version+".deb")
	run(t, "dpkg-deb", "--root-owner-group", "-b", tree, deb)
	return deb
}

// DpkgRoot makes root ready for dpkg --root: an empty database.
func DpkgRoot(t testing.TB, root string) {
	t.Helper()
	admin := filepath.Join(root, "var/lib/dpkg")
	for _, d := range []string{"info", "updates", "triggers"} {
		if err := os.MkdirAll(filepath.Join(admin, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"status", "available"} {
		if err := os.WriteFile(filepath.Join(admin, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// DpkgArgs are the arguments that install a .deb into root: maintainer scripts run chrootless
// with DPKG_ROOT set, no log on the host.
func DpkgArgs(root, deb string) []string {
	return []string{"--root=" + root, "--force-script-chrootless", "--log=/dev/null", "-i", deb}
}

// InstallDeb installs a .deb into root with dpkg --root (needs root).
func InstallDeb(t testing.TB, root, deb string) {
	t.Helper()
	testenv.RequireRoot(t)
	Need(t, "dpkg")
	run(t, "dpkg", DpkgArgs(root, deb)...)
}

// RPMDBPath is where the tests' rpm database lives under the root (Debian's rpm defaults to
// ~/.rpmdb; a real rpm system uses /var/lib/rpm).
const RPMDBPath = "/var/lib/rpm"

// BuildRPM builds s with rpmbuild and returns the .rpm's path.
func BuildRPM(t testing.TB, s Spec) string {
	t.Helper()
	Need(t, "rpmbuild")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	writeTree(t, src, s)
	var spec strings.Builder
	fmt.Fprintf(&spec, "Name: %s\nVersion: %s\nRelease: 1\nSummary: tripline test fixture\nLicense: MIT\nBuildArch: noarch\n%%description\ntripline test fixture\n%%install\n", s.Name, s.Version)
	for _, p := range paths(s) {
		fmt.Fprintf(&spec, "mkdir -p %%{buildroot}%s\ncp -a %s %%{buildroot}%s\n", filepath.Dir(p), filepath.Join(src, p), p)
	}
	if s.Postinst != "" {
		fmt.Fprintf(&spec, "%%post\n%s\n", s.Postinst)
	}
	spec.WriteString("%files\n")
	for _, p := range paths(s) {
		f := s.Files[p]
		if f.Conffile {
			spec.WriteString("%config ")
		}
		if f.Link != "" {
			spec.WriteString(p + "\n")
			continue
		}
		fmt.Fprintf(&spec, "%%attr(%04o,root,root) %s\n", f.Mode.Perm(), p)
	}
	specFile := filepath.Join(dir, s.Name+".spec")
	if err := os.WriteFile(specFile, []byte(spec.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(dir, "top")
	run(t, "rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_build_id_links none", specFile)
	rpm := filepath.Join(top, "RPMS/noarch", fmt.Sprintf("%s-%s-1.noarch.rpm", s.Name, s.Version))
	if _, err := os.Stat(rpm); err != nil {
		t.Fatal(err)
	}
	return rpm
}

// RPMArgs are the arguments that install or upgrade (-U) an .rpm into root.
func RPMArgs(root, rpm string) []string {
	return []string{"--root", root, "--dbpath", RPMDBPath, "-U", "--nodeps", "--ignoreos", "--ignorearch", rpm}
}

// InstallRPM installs an .rpm into root with rpm --root (needs root).
func InstallRPM(t testing.TB, root, rpm string) {
	t.Helper()
	testenv.RequireRoot(t)
	Need(t, "rpm")
	run(t, "rpm", RPMArgs(root, rpm)...)
}

// HoldRPMDB takes the write lock of the rpm database under root (an open sqlite write
// transaction on rpmdb.sqlite) until release is called, or the test ends. An rpm install started
// meanwhile renames every file of its package into place, then waits to record the version
// (rpm retries a busy database): the window in which a change can be named only from the package
// file rpm has open.
func HoldRPMDB(t testing.TB, root string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(root, RPMDBPath, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		conn.Close()
		db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Error(err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}
