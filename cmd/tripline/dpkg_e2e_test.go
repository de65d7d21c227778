package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/testenv"
)

// buildDeb builds a package that ships an executable /etc/cron.daily/tripline-fixture and whose
// postinst installs another executable script there, as packages do.
func buildDeb(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkg := filepath.Join(dir, "pkg")
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"DEBIAN/control": {"Package: tripline-fixture\nVersion: 1.0\nArchitecture: all\nMaintainer: tripline tests <tests@example.invalid>\nDescription: tripline test fixture\n", 0o644},
		// dpkg sets DPKG_ROOT for maintainer scripts run with --root and --force-script-chrootless.
		"DEBIAN/postinst":                 {"#!/bin/sh\nset -e\ninstall -m0755 /dev/null \"$DPKG_ROOT/etc/cron.daily/tripline-postinst\"\n", 0o755},
		"etc/cron.daily/tripline-fixture": {"#!/bin/sh\necho fixture\n", 0o755},
	}
	for name, f := range files {
		p := filepath.Join(pkg, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), f.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	deb := filepath.Join(dir, "tripline-fixture.deb")
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "-b", pkg, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v\n%s", err, out)
	}
	return deb
}

// TestWatchDpkgTrusted: a real `dpkg -i` (into the fixture root: --root, with maintainer scripts
// run chrootless) arms two cron.daily scripts, one unpacked by dpkg itself and one installed by
// the package's postinst. Both are recorded as trusted, attributed by the kernel feed. The same
// change made by hand from an interactive root shell alerts, with the shell as the parent.
func TestWatchDpkgTrusted(t *testing.T) {
	testenv.RequireRoot(t)
	for _, tool := range []string{"dpkg", "dpkg-deb", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.SkipOrFail(t, tool+" is not installed: "+err.Error())
		}
	}
	fx, _ := newWatchFixture(t)
	admin := fx.path("var/lib/dpkg")
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
	deb := buildDeb(t)
	d := startWatch(t, fx, "")
	if ready := d.waitLog(t, "msg=ready"); !strings.Contains(ready, "attribution=kernel") {
		t.Fatalf("the kernel feed must run as root: %s", ready)
	}
	act(t, "dpkg", "--root="+fx.root, "--force-script-chrootless", "--log=/dev/null", "-i", deb)

	e := d.waitEvent(t, "/etc/cron.daily/tripline-fixture", nil)
	if e.Tripline.Verdict != "trusted" || e.Event.Kind != "event" || !kernelNamed(e.Tripline.Attribution) ||
		e.Process == nil || e.Process.Executable != "/usr/bin/dpkg" {
		t.Errorf("%v: want a trusted event by /usr/bin/dpkg (kernel attribution), verdict %q why %q", e, e.Tripline.Verdict, e.Tripline.Why)
	}
	e = d.waitEvent(t, "/etc/cron.daily/tripline-postinst", nil)
	if e.Tripline.Verdict != "trusted" || e.Event.Kind != "event" || e.Process == nil || e.Process.Executable != "/usr/bin/install" {
		t.Errorf("%v: want a trusted event by install from the postinst, verdict %q why %q", e, e.Tripline.Verdict, e.Tripline.Why)
	}
	if e.Process != nil && (e.Process.Parent == nil || !slices.ContainsFunc(append([]string{e.Process.Parent.Executable}, e.Process.Parent.Args...),
		func(a string) bool { return strings.HasSuffix(a, "/var/lib/dpkg/info/tripline-fixture.postinst") })) {
		t.Errorf("%v: parent %+v, want the postinst", e, e.Process.Parent)
	}
	t.Logf("postinst change: verdict %s, why %q", e.Tripline.Verdict, e.Tripline.Why)

	// By hand: the exec bit is taken off (and that is seen), then an interactive root shell puts
	// it back. (Both in one shell would be one batch for the daemon, whose net change is none.)
	target := fx.path("etc/cron.daily/tripline-fixture")
	act(t, "chmod", "-x", target)
	d.waitEvent(t, "/etc/cron.daily/tripline-fixture", func(e ecsEvent) bool { return e.File.Mode == "0644" })
	sh := exec.Command("bash", "--norc", "-i")
	sh.Stdin = strings.NewReader("chmod +x " + target + "\nexit\n")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("bash -i: %v\n%s", err, out)
	}
	e = d.waitEvent(t, "/etc/cron.daily/tripline-fixture", func(e ecsEvent) bool { return e.Rule.ID == "exec-bit-set" })
	bash, _ := exec.LookPath("bash")
	if e.Tripline.Verdict != "alert" || e.Event.Kind != "alert" || !kernelNamed(e.Tripline.Attribution) ||
		e.Process == nil || e.Process.Executable != "/usr/bin/chmod" || e.Process.Parent == nil || e.Process.Parent.Executable != bash {
		t.Errorf("%v: want an alert by /usr/bin/chmod with %s as parent; parent %+v", e, bash, e.Process)
	}
	d.stop(t)
}
