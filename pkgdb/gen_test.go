package pkgdb

import (
	"crypto/md5"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDpkg writes a dpkg database of n packages with files files each under root, shaped like
// Debian's: most files under /usr/share and /usr/lib, a few in persistence locations, one
// conffile per package.
func writeDpkg(t testing.TB, root string, n, files int) {
	t.Helper()
	info := filepath.Join(root, "var/lib/dpkg/info")
	if err := os.MkdirAll(info, 0o755); err != nil {
		t.Fatal(err)
	}
	var status strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pkg%04d", i)
		conf := "/etc/" + name + "/" + name + ".conf"
		fmt.Fprintf(&status, "Package: %s\nStatus: install ok installed\nPriority: optional\nSection: misc\nInstalled-Size: 100\n"+
			"Maintainer: x <x@example.invalid>\nArchitecture: amd64\nVersion: 1.%d-1\nDepends: libc6 (>= 2.34)\n"+
			"Conffiles:\n %s %x\nDescription: generated package %d\n a longer description line\n\n", name, i, conf, md5.Sum([]byte(conf)), i)
		var list, sums strings.Builder
		list.WriteString("/.\n/etc\n/etc/" + name + "\n" + conf + "\n/usr\n/usr/share\n/usr/share/doc\n/usr/share/doc/" + name + "\n")
		for j := 0; j < files; j++ {
			var p string
			switch {
			case j == 0:
				p = "/etc/cron.daily/" + name
			case j == 1:
				p = "/lib/systemd/system-generators/" + name
			case j%3 == 0:
				p = fmt.Sprintf("/usr/lib/x86_64-linux-gnu/%s/module%d.so", name, j)
			case j%3 == 1:
				p = fmt.Sprintf("/usr/share/doc/%s/file%d.txt", name, j)
			default:
				p = fmt.Sprintf("/usr/share/%s/data/some/deeper/dir/file%d.dat", name, j)
			}
			list.WriteString(p + "\n")
			fmt.Fprintf(&sums, "%x  %s\n", md5.Sum([]byte(p)), p[1:])
		}
		for ext, body := range map[string]string{".list": list.String(), ".md5sums": sums.String()} {
			if err := os.WriteFile(filepath.Join(info, name+ext), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(root, "var/lib/dpkg/status.tmp")
	if err := os.WriteFile(tmp, []byte(status.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Renamed into place, as dpkg does: the cache's stamp sees a new inode.
	if err := os.Rename(tmp, filepath.Join(root, "var/lib/dpkg/status")); err != nil {
		t.Fatal(err)
	}
}
