package policy_test

import (
	"bytes"
	"sort"
	"testing"

	"github.com/tripline/tripline/policy"
)

func TestDefault(t *testing.T) {
	p := policy.Default()
	if p.Source() != "default" {
		t.Errorf("Source() = %q, want default", p.Source())
	}
	if len(p.Digest()) != 64 {
		t.Errorf("Digest() = %q, want 64 hex digits", p.Digest())
	}
	if d := policy.Default().Digest(); d != p.Digest() {
		t.Errorf("Digest() changed between two loads: %s, %s", p.Digest(), d)
	}
	if p.Version != 1 || p.Extends != "" {
		t.Errorf("Version %d Extends %q, want 1 and none", p.Version, p.Extends)
	}

	// The YAML loads the same through Load, as "tripline policy show > my.yaml" would.
	q, err := policy.Load("default.yaml", policy.DefaultYAML())
	if err != nil {
		t.Fatalf("Load(DefaultYAML()): %v", err)
	}
	if len(q.Locations) != len(p.Locations) || len(q.Targets()) != len(p.Targets()) {
		t.Errorf("Load(DefaultYAML()) has %d locations and %d targets, Default() %d and %d",
			len(q.Locations), len(q.Targets()), len(p.Locations), len(p.Targets()))
	}
	if q.Digest() != p.Digest() {
		t.Errorf("Load(DefaultYAML()).Digest() = %s, want Default()'s %s", q.Digest(), p.Digest())
	}

	// DefaultYAML hands out a copy.
	y := policy.DefaultYAML()
	copy(y, "garbage:")
	if bytes.HasPrefix(policy.DefaultYAML(), []byte("garbage:")) {
		t.Error("DefaultYAML() returned the embedded slice itself")
	}

	// Every rule has a severity for every use, so no finding falls back to the built-in medium.
	for _, id := range policy.RuleIDs() {
		rc, ok := p.Rules[id]
		if !ok {
			t.Errorf("rule %s has no default severity", id)
			continue
		}
		for _, u := range []policy.Use{policy.Executed, policy.Sourced, policy.Config} {
			if rc.Severity[u] == policy.SevNone {
				t.Errorf("rule %s has no severity for %s", id, u)
			}
		}
	}
	seen := map[string]bool{}
	for _, l := range p.Locations {
		if seen[l.ID] {
			t.Errorf("location %s twice", l.ID)
		}
		seen[l.ID] = true
		if l.Technique == "" || l.Description == "" {
			t.Errorf("location %s has no technique or description", l.ID)
		}
	}
}

// TestDefaultLocations gives an example path for every persistence path family the default policy
// must cover, and the location and use that must own it.
func TestDefaultLocations(t *testing.T) {
	type want struct {
		path, id string
		use      policy.Use
	}
	tests := []want{
		{"/etc/rc.local", "rc-local", policy.Executed},
		{"/etc/rc.common", "rc-local", policy.Executed},
		{"/etc/rc.d/rc.local", "rc-local", policy.Executed},
		{"/etc/init.d/x", "sysv-init", policy.Executed},
		{"/etc/rc.d/init.d/x", "sysv-init", policy.Executed},
		{"/etc/init/x.conf", "upstart", policy.Config},
		{"/etc/rc2.d/S01x", "sysv-runlevels", policy.Executed},
		{"/etc/rcS.d/x", "sysv-runlevels", policy.Executed},
		{"/etc/rc.d/rc3.d/S01x", "sysv-runlevels", policy.Executed},
		{"/etc/crontab", "crontab-system", policy.Config},
		{"/etc/cron.d/x", "crontab-system", policy.Config},
		{"/etc/cron.hourly/x", "cron-periodic", policy.Executed},
		{"/etc/cron.daily/x", "cron-periodic", policy.Executed},
		{"/etc/cron.weekly/x", "cron-periodic", policy.Executed},
		{"/etc/cron.monthly/x", "cron-periodic", policy.Executed},
		{"/var/spool/cron/crontabs/root", "crontab-spool", policy.Config},
		{"/var/spool/cron/root", "crontab-spool", policy.Config},
		{"/var/spool/anacron/cron.daily", "crontab-spool", policy.Config},
		{"/var/spool/at/a0001", "at-spool", policy.Executed},
		{"/var/spool/cron/atjobs/a0001", "at-spool", policy.Executed},
		{"/etc/systemd/system/x.service", "systemd-units", policy.Config},
		{"/etc/systemd/system/x.service.d/override.conf", "systemd-units", policy.Config},
		{"/etc/systemd/system/multi-user.target.wants/x.service", "systemd-units", policy.Config},
		{"/etc/systemd/user/x", "systemd-units", policy.Config},
		{"/usr/lib/systemd/system/x", "systemd-units", policy.Config},
		{"/lib/systemd/system/x", "systemd-units", policy.Config},
		{"/usr/local/lib/systemd/system/x", "systemd-units", policy.Config},
		{"/run/systemd/system/x", "systemd-units", policy.Config},
		{"/home/alice/.config/systemd/user/x.service", "systemd-user-units", policy.Config},
		{"/root/.config/systemd/user/x.service", "systemd-user-units", policy.Config},
		{"/etc/xdg/autostart/x.desktop", "xdg-autostart", policy.Config},
		{"/usr/share/autostart/x.desktop", "xdg-autostart", policy.Config},
		{"/etc/update-motd.d/50-x", "update-motd", policy.Executed},
		{"/etc/NetworkManager/dispatcher.d/x", "networkmanager-dispatcher", policy.Executed},
		{"/etc/NetworkManager/dispatcher.d/pre-up.d/x", "networkmanager-dispatcher", policy.Executed},
		{"/etc/network/if-up.d/x", "ifupdown-hooks", policy.Executed},
		{"/etc/ppp/ip-up.d/x", "ppp-hooks", policy.Executed},
		{"/etc/ppp/ip-up", "ppp-hooks", policy.Executed},
		{"/etc/dhcp/dhclient-exit-hooks.d/x", "dhcp-hooks", policy.Sourced},
		{"/etc/udev/rules.d/x.rules", "udev-rules", policy.Config},
		{"/usr/lib/udev/rules.d/x.rules", "udev-rules", policy.Config},
		{"/lib/udev/rules.d/x.rules", "udev-rules", policy.Config},
		{"/run/udev/rules.d/x", "udev-rules", policy.Config},
		{"/usr/local/lib/udev/rules.d/x", "udev-rules", policy.Config},
		{"/usr/lib/udev/x-helper", "udev-helpers", policy.Executed},
		{"/lib/udev/x", "udev-helpers", policy.Executed},
		{"/lib/dracut/modules.d/99x/module-setup.sh", "dracut-modules", policy.Executed},
		{"/usr/lib/dracut/modules.d/99x/hook.sh", "dracut-modules", policy.Executed},
		{"/etc/initramfs-tools/hooks/x", "initramfs-tools", policy.Executed},
		{"/etc/apt/apt.conf.d/99x", "apt-hooks", policy.Config},
		{"/etc/dnf/plugins/x.conf", "dnf-yum-plugins", policy.Config},
		{"/etc/yum/pluginconf.d/x.conf", "dnf-yum-plugins", policy.Config},
		{"/usr/lib/python3.12/site-packages/dnf-plugins/x.py", "dnf-yum-plugins", policy.Config},
		{"/etc/profile", "shell-profile-system", policy.Sourced},
		{"/etc/profile.d/x.sh", "shell-profile-system", policy.Sourced},
		{"/etc/bash.bashrc", "shell-profile-system", policy.Sourced},
		{"/etc/zsh/zshrc", "shell-profile-system", policy.Sourced},
		{"/etc/ld.so.preload", "ld-preload", policy.Config},
		{"/etc/ld.so.conf", "ld-config", policy.Config},
		{"/etc/ld.so.conf.d/x.conf", "ld-config", policy.Config},
		{"/etc/pam.d/sshd", "pam", policy.Config},
		{"/etc/sudoers", "sudoers", policy.Config},
		{"/etc/sudoers.d/x", "sudoers", policy.Config},
		{"/home/bob/.ssh/authorized_keys", "ssh-authorized-keys", policy.Config},
		{"/root/.ssh/authorized_keys2", "ssh-authorized-keys", policy.Config},
		{"/etc/ssh/sshd_config", "sshd-config", policy.Config},
		{"/etc/modules", "kernel-modules-load", policy.Config},
		{"/etc/modules-load.d/x.conf", "kernel-modules-load", policy.Config},
		{"/etc/modprobe.d/x.conf", "kernel-modules-load", policy.Config},
		{"/usr/share/git-core/templates/hooks/pre-commit", "git-hooks-system", policy.Executed},
	}
	for _, dir := range []string{"/etc", "/run", "/usr/lib", "/usr/local/lib", "/lib"} {
		for _, kind := range []string{"system", "user"} {
			tests = append(tests, want{dir + "/systemd/" + kind + "-generators/x", "systemd-generators", policy.Executed})
		}
	}
	for _, home := range []string{"/home/alice", "/root"} {
		tests = append(tests,
			want{home + "/.config/autostart/x.desktop", "xdg-autostart", policy.Config},
			want{home + "/.local/share/autostart/x", "xdg-autostart", policy.Config},
			want{home + "/.kde/share/autostart/x", "xdg-autostart", policy.Config},
			want{home + "/.kde4/share/autostart/x", "xdg-autostart", policy.Config},
			want{home + "/.config/autostart-scripts/x.sh", "kde-autostart-scripts", policy.Executed},
			want{home + "/.kde/Autostart/x", "kde-autostart-scripts", policy.Executed},
			want{home + "/.kde4/Autostart/x", "kde-autostart-scripts", policy.Executed},
		)
		for _, rc := range []string{".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile", ".zshrc", ".zprofile"} {
			tests = append(tests, want{home + "/" + rc, "shell-profile-user", policy.Sourced})
		}
	}

	p := policy.Default()
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.id] = true
		t.Run(tt.path, func(t *testing.T) {
			l := p.Match(tt.path)
			if l == nil {
				t.Fatalf("Match(%q) = nil, want %s (%s)", tt.path, tt.id, tt.use)
			}
			if l.ID != tt.id || l.Use != tt.use {
				t.Errorf("Match(%q) = %s (%s), want %s (%s)", tt.path, l.ID, l.Use, tt.id, tt.use)
			}
			if got := treeSelect(p, tt.path); got != tt.id {
				t.Errorf("Tree walk to %q selects %q, want %q", tt.path, got, tt.id)
			}
		})
	}
	// A location added to the default policy gets an example here.
	var missing []string
	for _, l := range p.Locations {
		if !covered[l.ID] {
			missing = append(missing, l.ID)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no example path for default locations %q", missing)
	}
}

func TestDefaultNotMatched(t *testing.T) {
	p := policy.Default()
	for _, path := range []string{
		"/etc/passwd",
		"/etc/shadow",
		"/usr/bin/ls",
		"/home/alice/notes.txt",
		"/home/alice/src/.bashrc",
		"/home/.bashrc",
		"/etc/cron.daily/x.dpkg-new",
		"/etc/cron.daily/.x.swp",
		"/etc/profile.d/x.sh~",
		"/etc/apt/apt.conf.d/99x.ucf-dist",
		"/etc/sudoers.d/sedAbC123",
		"/etc/cron.dailyx/y",
		"/etc/cron.daily/a/b",
		"/etc/rc7.d/S01x",
		"/etc/systemd/system.conf",
		"/etc/systemd/systemx/y",
		"/var/spool/mail/root",
		"/tmp/x",
		"/",
	} {
		t.Run(path, func(t *testing.T) {
			if l := p.Match(path); l != nil {
				t.Errorf("Match(%q) = %s, want nil", path, l.ID)
			}
		})
	}
}
