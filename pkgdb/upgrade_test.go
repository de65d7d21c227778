package pkgdb

import (
	"context"
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/baseline"
)

// TestDpkgUpgradeWindow walks through what dpkg's database says during an upgrade (as dpkg 1.21
// writes it: updates/ with #padding, tmp.ci, then info/) and checks that a file already renamed
// into place is named with the version being installed, never with the old one.
func TestDpkgUpgradeWindow(t *testing.T) {
	root := t.TempDir()
	admin := filepath.Join(root, "var/lib/dpkg")
	write := func(p, s string) {
		t.Helper()
		p = filepath.Join(admin, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sums := func(content string) string {
		return fmt.Sprintf("%x  etc/cron.daily/pk\n", md5.Sum([]byte(content)))
	}
	write("status", "Package: pk\nStatus: install ok installed\nVersion: 1.0\nArchitecture: all\n\n")
	write("info/pk.list", "/.\n/etc\n/etc/cron.daily\n/etc/cron.daily/pk\n")
	write("info/pk.md5sums", sums("v1\n"))
	file := filepath.Join(root, "etc/cron.daily/pk")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := baseline.Stat(root, "/etc/cron.daily/pk", 0)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(root, Options{})
	check := func(step string, c *Cache, state baseline.PackageState, version string) {
		t.Helper()
		ix, err := c.Index(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		p := ix.Verify(&e, ContentReader(root))
		if p == nil || p.State != state || p.Version != version {
			t.Errorf("%s: %+v, want %s %s", step, p, state, version)
		}
	}
	check("before", c, baseline.PkgModified, "1.0")
	write("updates/0000", "Package: pk\nStatus: install reinstreq half-installed\nVersion: 1.0\nArchitecture: all\n\n#padding\n#padding\n")
	write("tmp.ci/control", "Package: pk\nVersion: 2.0\nArchitecture: all\nDescription: x\n")
	write("tmp.ci/md5sums", sums("v2\n"))
	check("unpacking, tmp.ci there", c, baseline.PkgVerified, "2.0")
	if err := os.RemoveAll(filepath.Join(admin, "tmp.ci")); err != nil {
		t.Fatal(err)
	}
	write("info/pk.md5sums", sums("v2\n"))
	check("info/ updated, status not yet", c, baseline.PkgVerified, "2.0")
	check("the same window, seen first after tmp.ci was gone", NewCache(root, Options{}), baseline.PkgNoDigest, "1.0")
	write("updates/0001", "Package: pk\nStatus: install ok unpacked\nVersion: 2.0\nArchitecture: all\n\n#padding\n")
	check("unpacked", c, baseline.PkgVerified, "2.0")
	if n := c.Loads(); n != 4 {
		t.Errorf("%d loads, want one per change of the database (4)", n)
	}
}
