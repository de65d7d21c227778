package baseline_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// A symlinked directory is no gap only when the walk of its target reaches every location the
// policy names below the link. The default policy, on trees made for each case.
func TestWalkSymlinkedDirectoryCoverage(t *testing.T) {
	const gap = "is a symbolic link to "
	cases := []struct {
		name  string
		files []string          // regular files, relative to the root
		links map[string]string // link -> target
		gap   string            // the path reported as a link whose locations were not scanned; "" none
		seen  string            // a path that must be visited without error
	}{
		// XDG follows ~/.config to ~/.kde: ~/.kde is walked, but not for autostart/.
		{"config to kde", []string{"home/alice/.kde/autostart/evil.desktop", "home/alice/.kde/Autostart/run.sh"},
			map[string]string{"home/alice/.config": ".kde"}, "/home/alice/.config", "/home/alice/.kde/Autostart/run.sh"},
		// The control: a link to nothing the tree walks.
		{"config to nowhere", nil, map[string]string{"home/alice/.config": "/nonexist"}, "/home/alice/.config", ""},
		// /usr is walked, but /usr/cron.d is not a location.
		{"etc to usr", []string{"usr/cron.d/evil", "usr/lib/systemd/system/a.service"},
			map[string]string{"etc": "usr"}, "/etc", "/usr/lib/systemd/system/a.service"},
		// Merged /usr: every location under /lib is one under /usr/lib too.
		{"merged usr", []string{"usr/lib/systemd/system/a.service", "usr/lib/systemd/user/b.service", "usr/lib/udev/rules.d/99-x.rules", "usr/lib/dracut/modules.d/90x/module-setup.sh"},
			map[string]string{"lib": "usr/lib"}, "", "/usr/lib/udev/rules.d/99-x.rules"},
		{"merged usr, absolute", []string{"usr/lib/systemd/system/a.service"},
			map[string]string{"lib": "/usr/lib"}, "", "/usr/lib/systemd/system/a.service"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range append([]string{"etc/passwd"}, c.files...) {
				full := filepath.Join(root, f)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte("x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			for link, target := range c.links {
				full := filepath.Join(root, link)
				os.MkdirAll(filepath.Dir(full), 0o755)
				if link == "etc" {
					os.RemoveAll(full)
				}
				if err := os.Symlink(target, full); err != nil {
					t.Fatal(err)
				}
			}
			var gaps, others []string
			seen := false
			err := baseline.Walk(t.Context(), root, policy.Default().Tree(), func(v *baseline.Visit) error {
				defer v.Release()
				switch {
				case v.Err != nil && strings.Contains(v.Err.Error(), gap) && strings.Contains(v.Err.Error(), "the locations below it were not scanned"):
					if !v.Unlisted {
						t.Errorf("%s: the gap is not marked Unlisted", v.Entry.Path)
					}
					gaps = append(gaps, v.Entry.Path)
				case v.Err != nil:
					others = append(others, v.Err.Error())
				case v.Entry.Path == c.seen:
					seen = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{c.gap}; c.gap == "" && len(gaps) != 0 || c.gap != "" && (len(gaps) != 1 || gaps[0] != want[0]) {
				t.Errorf("links reported as gaps: %q, want %q", gaps, c.gap)
			}
			if len(others) != 0 {
				t.Errorf("other errors: %q", others)
			}
			if c.seen != "" && !seen {
				t.Errorf("%s was not visited", c.seen)
			}
		})
	}
}
