package watch

import (
	"testing"

	"github.com/tripline/tripline/policy"
)

// The watcher's per-directory matching agrees with Policy.Match for every kind of path.
func TestMatchAgreesWithPolicy(t *testing.T) {
	pol := policy.Default()
	w := New(Options{Policy: pol})
	for _, p := range []string{
		"/etc/cron.daily/x", "/etc/cron.daily", "/etc/init.d/a", "/etc/rc2.d/S01x", "/etc/systemd/system/x.service",
		"/etc/systemd/system/x.service.d/override.conf", "/home/alice/.config/autostart/x.desktop",
		"/root/.bashrc", "/etc/passwd", "/usr/lib/udev/rules.d/x.rules", "/usr/lib/udev/helper",
		"/etc/cron.daily/x.dpkg-new", "/etc/ld.so.preload", "/", "/etc", "/var/spool/cron/crontabs/root",
	} {
		for round := 0; round < 2; round++ { // the second time from the cache
			got, want := w.match(pol, p), pol.Match(p)
			if got != want {
				t.Errorf("%s (round %d): watcher %v, policy %v", p, round, got, want)
			}
		}
	}
}
