package policy

import "testing"

// A Matcher agrees with Policy.Match for every kind of path, from a cold and from a warm cache.
func TestMatcherAgreesWithMatch(t *testing.T) {
	pol := Default()
	m := pol.Matcher()
	for _, p := range []string{
		"/etc/cron.daily/x", "/etc/cron.daily", "/etc/init.d/a", "/etc/rc2.d/S01x", "/etc/systemd/system/x.service",
		"/etc/systemd/system/x.service.d/override.conf", "/home/alice/.config/autostart/x.desktop",
		"/root/.bashrc", "/etc/passwd", "/usr/lib/udev/rules.d/x.rules", "/usr/lib/udev/helper",
		"/etc/cron.daily/x.dpkg-new", "/etc/ld.so.preload", "/", "/etc", "/var/spool/cron/crontabs/root",
		"/nowhere/at/all", "/etc/cron.daily/sub/deeper",
	} {
		for round := 0; round < 2; round++ { // the second time from the cache
			got, want := m.Match(p), pol.Match(p)
			if got != want {
				t.Errorf("%s (round %d): matcher %v, policy %v", p, round, got, want)
			}
		}
	}
}
