package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

func hexSHA(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var (
	shaA = hexSHA("a\n")
	shaB = hexSHA("b\n")
	shaC = hexSHA("c\n")
)

// with returns a copy of e changed by f.
func with(e *baseline.Entry, f func(*baseline.Entry)) *baseline.Entry {
	c := *e
	f(&c)
	return &c
}

func content(sha string) func(*baseline.Entry) {
	return func(e *baseline.Entry) { e.SHA256 = sha; e.MtimeNS += 1e9; e.CtimeNS += 1e9 }
}

func link(path, target string) *baseline.Entry {
	return &baseline.Entry{
		Path: path, Type: baseline.TypeSymlink, Mode: 0o777, Inode: 2000, Dev: 8, Nlink: 1,
		MtimeNS: 1_700_000_000_000_000_000, CtimeNS: 1_700_000_000_000_000_000, Target: target,
		HashState: baseline.HashNotRegular,
	}
}

func dir(path string, mode uint32) *baseline.Entry {
	return &baseline.Entry{
		Path: path, Type: baseline.TypeDir, Mode: mode, Inode: 3000, Dev: 8, Nlink: 2,
		MtimeNS: 1_700_000_000_000_000_000, CtimeNS: 1_700_000_000_000_000_000, HashState: baseline.HashNotRegular,
	}
}

// exceptions is the default policy plus the exceptions the tests below rely on.
const exceptions = `extends: default
version: 1
exceptions:
  - reason: anacron ships this job
    paths: [/etc/cron.daily/0anacron]
  - reason: approved motd script
    sha256: [%SHA_C%]
  - reason: the deploy tool manages these
    exe: [/usr/local/bin/deploy]
    paths: ["/etc/systemd/system/**"]
  - reason: nightly job rewrites this file
    paths: [/etc/cron.d/nightly]
    rules: [content-changed]
  - reason: build job installs hooks
    ancestors: [/opt/ci/bin/*]
  - reason: our crontab fragments
    paths: [/etc/cron.d/*]
    rules: [file-created, content-changed]
  - reason: vendor units
    paths: [/usr/lib/systemd/system/*]
`

func TestEvaluate(t *testing.T) {
	def := policy.Default()
	exc := load(t, strings.ReplaceAll(exceptions, "%SHA_C%", strings.ToUpper(shaC)))

	tests := []struct {
		name     string
		pol      *policy.Policy // nil: the default policy
		old, cur *baseline.Entry
		actor    *proc.Actor
		loc      string   // location Match gives the path
		rules    []string // hits, in order; nil: no finding
		severity policy.Severity
		verdict  policy.Verdict // "" means alert
		why      string         // part of Finding.Why
		reason   string         // part of the first hit's reason
	}{
		{
			name: "chmod +x in cron-periodic",
			old:  file("/etc/cron.daily/x", 0o644), cur: file("/etc/cron.daily/x", 0o755),
			loc: "cron-periodic", rules: []string{"exec-bit-set"}, severity: policy.SevHigh,
			reason: "mode 0644 -> 0755 in a location whose files are executed",
		},
		{
			name: "chmod u+x in cron-periodic",
			old:  file("/etc/cron.daily/x", 0o644), cur: file("/etc/cron.daily/x", 0o744),
			loc: "cron-periodic", rules: []string{"exec-bit-set"}, severity: policy.SevHigh,
		},
		{
			name: "chmod +x in profile.d",
			old:  file("/etc/profile.d/x.sh", 0o644), cur: file("/etc/profile.d/x.sh", 0o755),
			loc: "shell-profile-system", rules: []string{"exec-bit-set"}, severity: policy.SevMedium,
			reason: "sourced",
		},
		{
			name: "chmod +x in cron.d",
			old:  file("/etc/cron.d/x", 0o644), cur: file("/etc/cron.d/x", 0o755),
			loc: "crontab-system", rules: []string{"exec-bit-set"}, severity: policy.SevLow,
		},
		{
			name: "created executable in update-motd.d",
			cur:  file("/etc/update-motd.d/50-x", 0o755),
			loc:  "update-motd", rules: []string{"executable-created"}, severity: policy.SevHigh,
			reason: "created with mode 0755",
		},
		{
			name: "created not executable in update-motd.d",
			cur:  file("/etc/update-motd.d/50-x", 0o644),
			loc:  "update-motd", rules: []string{"file-created"}, severity: policy.SevLow,
		},
		{
			name: "created in cron.d: location override",
			cur:  file("/etc/cron.d/x", 0o644),
			loc:  "crontab-system", rules: []string{"file-created"}, severity: policy.SevHigh,
		},
		{
			name: "created in profile.d",
			cur:  file("/etc/profile.d/x.sh", 0o644),
			loc:  "shell-profile-system", rules: []string{"file-created"}, severity: policy.SevMedium,
		},
		{
			name: "u+s",
			old:  file("/etc/cron.daily/x", 0o755), cur: file("/etc/cron.daily/x", 0o4755),
			loc: "cron-periodic", rules: []string{"setuid-set"}, severity: policy.SevCritical,
			reason: "setuid bit set (mode 4755)",
		},
		{
			name: "u+s and +x: highest severity first",
			old:  file("/etc/cron.daily/x", 0o644), cur: file("/etc/cron.daily/x", 0o4755),
			loc: "cron-periodic", rules: []string{"setuid-set", "exec-bit-set"}, severity: policy.SevCritical,
		},
		{
			name: "g+s",
			old:  file("/usr/lib/udev/x-helper", 0o755), cur: file("/usr/lib/udev/x-helper", 0o2755),
			loc: "udev-helpers", rules: []string{"setgid-set"}, severity: policy.SevCritical,
		},
		{
			name: "created setuid executable",
			cur:  file("/etc/init.d/x", 0o4755),
			loc:  "sysv-init", rules: []string{"setuid-set", "executable-created"}, severity: policy.SevCritical,
		},
		{
			name: "content changed in profile.d",
			old:  file("/etc/profile.d/x.sh", 0o644), cur: with(file("/etc/profile.d/x.sh", 0o644), content(shaB)),
			loc: "shell-profile-system", rules: []string{"content-changed"}, severity: policy.SevMedium,
			reason: "sha256 " + shaA[:12] + " -> " + shaB[:12],
		},
		{
			name: "content changed in upstart: config default",
			old:  file("/etc/init/x.conf", 0o644), cur: with(file("/etc/init/x.conf", 0o644), content(shaB)),
			loc: "upstart", rules: []string{"content-changed"}, severity: policy.SevLow,
		},
		{
			name: "content changed in ld.so.preload: location override",
			old:  file("/etc/ld.so.preload", 0o644), cur: with(file("/etc/ld.so.preload", 0o644), content(shaB)),
			loc: "ld-preload", rules: []string{"content-changed"}, severity: policy.SevCritical,
		},
		{
			name: "ld.so.preload created",
			cur:  file("/etc/ld.so.preload", 0o644),
			loc:  "ld-preload", rules: []string{"file-created"}, severity: policy.SevCritical,
		},
		{
			name: "content changed in rc.local: location override",
			old:  file("/etc/rc.local", 0o755), cur: with(file("/etc/rc.local", 0o755), content(shaB)),
			loc: "rc-local", rules: []string{"content-changed"}, severity: policy.SevHigh,
		},
		{
			name: "content of a file too large to hash",
			old:  with(file("/etc/init.d/x", 0o755), func(e *baseline.Entry) { e.HashState, e.SHA256, e.Size = baseline.HashTooLarge, "", 1<<30 }),
			cur:  with(file("/etc/init.d/x", 0o755), func(e *baseline.Entry) { e.HashState, e.SHA256, e.Size = baseline.HashTooLarge, "", 1<<30+1 }),
			loc:  "sysv-init", rules: []string{"content-changed"}, severity: policy.SevMedium,
			reason: "no hash on one side: too-large -> too-large",
		},
		{
			name: "deleted",
			old:  file("/etc/cron.daily/x", 0o755),
			loc:  "cron-periodic", rules: []string{"file-deleted"}, severity: policy.SevLow,
			reason: "file removed",
		},
		{
			name: "owner changed",
			old:  file("/etc/sudoers", 0o440), cur: with(file("/etc/sudoers", 0o440), func(e *baseline.Entry) { e.UID = 1000 }),
			loc: "sudoers", rules: []string{"owner-changed"}, severity: policy.SevMedium,
			reason: "owner 0:0 -> 1000:0",
		},
		{
			name: "owner and content changed",
			old:  file("/etc/sudoers", 0o440),
			cur:  with(file("/etc/sudoers", 0o440), func(e *baseline.Entry) { e.GID = 27; content(shaB)(e) }),
			loc:  "sudoers", rules: []string{"content-changed", "owner-changed"}, severity: policy.SevHigh,
		},
		{
			name: "symlink retargeted",
			old:  link("/etc/systemd/system/multi-user.target.wants/x.service", "/lib/systemd/system/x.service"),
			cur:  link("/etc/systemd/system/multi-user.target.wants/x.service", "/tmp/evil.service"),
			loc:  "systemd-units", rules: []string{"symlink-retargeted"}, severity: policy.SevMedium,
			reason: "target /lib/systemd/system/x.service -> /tmp/evil.service",
		},
		{
			name: "symlink mode changes are not changes",
			old:  link("/etc/init.d/x", "/opt/x"), cur: with(link("/etc/init.d/x", "/opt/x"), func(e *baseline.Entry) { e.Mode = 0o755 }),
			loc: "sysv-init",
		},
		{
			name: "mtime moved forward only (touch) is not a change",
			old:  file("/etc/init.d/x", 0o755), cur: with(file("/etc/init.d/x", 0o755), func(e *baseline.Entry) { e.MtimeNS += 60e9 }),
			loc: "sysv-init",
		},
		{
			name: "exec removed",
			old:  file("/etc/cron.daily/x", 0o755), cur: file("/etc/cron.daily/x", 0o644),
			loc: "cron-periodic", rules: []string{"mode-changed"}, severity: policy.SevInfo,
			reason: "mode 0755 -> 0644", verdict: policy.VerdictRecorded, // info never alerts
		},
		{
			name: "group read removed",
			old:  file("/etc/sudoers.d/x", 0o440), cur: file("/etc/sudoers.d/x", 0o400),
			loc: "sudoers", rules: []string{"mode-changed"}, severity: policy.SevInfo,
			verdict: policy.VerdictRecorded,
		},
		{
			name: "world-writable",
			old:  file("/etc/cron.d/x", 0o644), cur: file("/etc/cron.d/x", 0o646),
			loc: "crontab-system", rules: []string{"world-writable"}, severity: policy.SevHigh,
		},
		{
			name: "world-writable location directory",
			old:  dir("/etc/cron.d", 0o755), cur: dir("/etc/cron.d", 0o777),
			loc: "crontab-system", rules: []string{"world-writable"}, severity: policy.SevHigh,
		},
		{
			name: "timestomp: mtime moved backwards",
			old:  file("/etc/init.d/x", 0o755), cur: with(file("/etc/init.d/x", 0o755), func(e *baseline.Entry) { e.MtimeNS -= 86400e9 }),
			loc: "sysv-init", rules: []string{"timestomp"}, severity: policy.SevHigh,
			reason: "mtime moved backwards",
		},
		{
			name: "timestomp with a content change",
			old:  file("/etc/init.d/x", 0o755),
			cur:  with(file("/etc/init.d/x", 0o755), func(e *baseline.Entry) { e.SHA256 = shaB; e.MtimeNS -= 86400e9 }),
			loc:  "sysv-init", rules: []string{"timestomp", "content-changed"}, severity: policy.SevHigh,
		},
		{
			name: "created with mtime before birth",
			cur:  with(file("/etc/cron.daily/x", 0o644), func(e *baseline.Entry) { e.BtimeNS = e.MtimeNS + 3600e9 }),
			loc:  "cron-periodic", rules: []string{"timestomp", "file-created"}, severity: policy.SevHigh,
			reason: "earlier than the file's birth time",
		},
		{
			name: "file replaced by a symlink",
			old:  file("/etc/cron.d/x", 0o644), cur: link("/etc/cron.d/x", "/tmp/x"),
			loc: "crontab-system", rules: []string{"type-changed"}, severity: policy.SevMedium,
			reason: "file became symlink",
		},
		{
			name: "symlink replaced by an executable file",
			old:  link("/etc/cron.daily/x", "/usr/bin/true"), cur: file("/etc/cron.daily/x", 0o755),
			loc: "cron-periodic", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},

		// Trusted writers: the finding is kept, its verdict says who made it.
		{
			name: "trusted executable",
			old:  file("/etc/cron.daily/x", 0o644), cur: file("/etc/cron.daily/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/dpkg", Args: []string{"dpkg", "-i", "x.deb"}}),
			loc:   "cron-periodic", rules: []string{"exec-bit-set"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted writer /usr/bin/dpkg",
		},
		{
			name: "an actor known by its pid only is nobody to the policy",
			old:  file("/etc/cron.daily/x", 0o644), cur: file("/etc/cron.daily/x", 0o755),
			actor: &proc.Actor{Attribution: proc.AttrPIDOnly, PID: 42, Ancestors: []proc.Process{{Exe: "/usr/bin/dpkg"}}},
			loc:   "cron-periodic", rules: []string{"exec-bit-set"}, severity: policy.SevHigh,
			verdict: policy.VerdictAlert,
		},
		{
			name: "trusted executable by glob",
			cur:  file("/etc/init.d/x", 0o755), actor: known(proc.Process{Exe: "/usr/lib/apt/methods/http"}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "/usr/lib/apt/methods/http",
		},
		{
			name: "a trusted glob's directory is not itself trusted",
			cur:  file("/etc/init.d/x", 0o755), actor: known(proc.Process{Exe: "/usr/lib/apt/methods"}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name: "trusted ancestor script",
			cur:  file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/install", Args: []string{"install", "-m755", "x", "/etc/init.d/x"}}, proc.Process{Exe: "/bin/sh", Args: []string{"/bin/sh", "/var/lib/dpkg/info/x.postinst"}},
				proc.Process{Exe: "/usr/bin/bash", Args: []string{"-bash"}}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted ancestor /var/lib/dpkg/info/x.postinst",
		},
		{
			name:  "trusted ancestor script run through a #!/bin/sh -e line",
			cur:   file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "/etc/init.d/x"}}, proc.Process{Exe: "/usr/bin/dash", Args: []string{"/bin/sh", "-e", "/var/lib/dpkg/info/x.postinst", "configure"}}),
			loc:   "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted ancestor /var/lib/dpkg/info/x.postinst",
		},
		{
			name:  "an rpm scriptlet",
			cur:   file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "/etc/init.d/x"}}, proc.Process{Exe: "/usr/bin/bash", Args: []string{"/bin/sh", "/var/tmp/rpm-tmp.Ab12Cd", "1"}}),
			loc:   "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted ancestor /var/tmp/rpm-tmp.Ab12Cd",
		},
		{
			name:  "the actor itself is a maintainer script (a shell builtin wrote the file)",
			cur:   file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/var/lib/dpkg/info/x.postinst", Args: []string{"/var/lib/dpkg/info/x.postinst", "configure"}}),
			loc:   "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted script /var/lib/dpkg/info/x.postinst",
		},
		{
			name: "code after -c or -e is not a script path",
			cur:  file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/chmod"}, proc.Process{Exe: "/usr/bin/dash", Args: []string{"sh", "-c", "/var/lib/dpkg/info/x.postinst"}},
				proc.Process{Exe: "/usr/bin/perl", Args: []string{"perl", "-e", "/var/lib/dpkg/info/x.postinst"}},
				proc.Process{Exe: "/usr/bin/dash", Args: []string{"sh", "-ec", "/var/lib/dpkg/info/x.postinst"}}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name:  "trusted ancestor executable",
			cur:   file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/bin/cp"}, proc.Process{Exe: "/bin/sh"}, proc.Process{Exe: "/usr/bin/dpkg"}, proc.Process{Exe: "/usr/lib/systemd/systemd"}),
			loc:   "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted ancestor /usr/bin/dpkg",
		},
		{
			name: "untrusted actor and ancestors",
			cur:  file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/chmod", Args: []string{"chmod", "+x", "/etc/init.d/x"}}, proc.Process{Exe: "/usr/bin/bash", Args: []string{"bash", "/tmp/var/lib/dpkg/info/x.postinst"}},
				proc.Process{Exe: "/usr/bin/python3", Args: []string{"python3", "-c", "/var/lib/dpkg/info/x.postinst"}}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name:  "a shell -c command naming a maintainer script is not trusted",
			cur:   file("/etc/init.d/x", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/cp"}, proc.Process{Exe: "/usr/bin/dash", Args: []string{"/bin/sh", "-c", "/var/lib/dpkg/info/x.postinst; cp /tmp/x /etc/init.d/x"}}),
			loc:   "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},

		// Exceptions.
		{
			name: "exception by path",
			pol:  exc, cur: file("/etc/cron.daily/0anacron", 0o755),
			loc: "cron-periodic", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictExcepted, why: "exception: anacron ships this job",
		},
		{
			name: "exception by path: another path",
			pol:  exc, cur: file("/etc/cron.daily/1anacron", 0o755),
			loc: "cron-periodic", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name: "exception by sha256 (written in upper case)",
			pol:  exc, cur: with(file("/etc/update-motd.d/50-x", 0o755), content(shaC)),
			loc: "update-motd", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictExcepted, why: "approved motd script",
		},
		{
			name: "exception by sha256: other content",
			pol:  exc, cur: file("/etc/update-motd.d/50-x", 0o755),
			loc: "update-motd", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name: "exception by sha256: hash not trustworthy",
			pol:  exc, cur: with(file("/etc/update-motd.d/50-x", 0o755), func(e *baseline.Entry) { e.SHA256, e.HashState = shaC, baseline.HashChanged }),
			loc: "update-motd", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name: "exception by exe and path",
			pol:  exc, cur: file("/etc/systemd/system/app.service", 0o644), actor: known(proc.Process{Exe: "/usr/local/bin/deploy"}),
			loc: "systemd-units", rules: []string{"file-created"}, severity: policy.SevMedium,
			verdict: policy.VerdictExcepted, why: "the deploy tool manages these",
		},
		{
			name: "exception by exe: path outside",
			pol:  exc, cur: file("/etc/init.d/app", 0o755), actor: known(proc.Process{Exe: "/usr/local/bin/deploy"}),
			loc: "sysv-init", rules: []string{"executable-created"}, severity: policy.SevHigh,
		},
		{
			name: "exception by exe: no actor",
			pol:  exc, cur: file("/etc/systemd/system/app.service", 0o644),
			loc: "systemd-units", rules: []string{"file-created"}, severity: policy.SevMedium,
		},
		{
			name: "exception by ancestor",
			pol:  exc, cur: file("/usr/share/git-core/templates/hooks/pre-push", 0o755),
			actor: known(proc.Process{Exe: "/usr/bin/cp"}, proc.Process{Exe: "/usr/bin/make"}, proc.Process{Exe: "/opt/ci/bin/runner"}),
			loc:   "git-hooks-system", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictExcepted, why: "build job installs hooks",
		},
		{
			name: "exception restricted to rules that cover every hit",
			pol:  exc, old: file("/etc/cron.d/nightly", 0o644), cur: with(file("/etc/cron.d/nightly", 0o644), content(shaB)),
			loc: "crontab-system", rules: []string{"content-changed"}, severity: policy.SevMedium,
			verdict: policy.VerdictExcepted, why: "nightly job rewrites this file",
		},
		{
			name: "exception restricted to rules that do not cover every hit",
			pol:  exc, old: file("/etc/cron.d/nightly", 0o644), cur: with(file("/etc/cron.d/nightly", 0o755), content(shaB)),
			loc: "crontab-system", rules: []string{"content-changed", "exec-bit-set"}, severity: policy.SevMedium,
		},
		{
			name: "a later exception covers what an earlier one did not",
			pol:  exc, cur: file("/etc/cron.d/other", 0o644),
			loc: "crontab-system", rules: []string{"file-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictExcepted, why: "our crontab fragments",
		},
		{
			name: "exception for a directory's files",
			pol:  exc, old: file("/usr/lib/systemd/system/x.service", 0o644), cur: file("/usr/lib/systemd/system/x.service", 0o666),
			loc: "systemd-units", rules: []string{"world-writable"}, severity: policy.SevHigh,
			verdict: policy.VerdictExcepted, why: "vendor units",
		},
		{
			name: "an exception for a directory's files does not cover the directory",
			pol:  exc, old: dir("/usr/lib/systemd/system", 0o755), cur: dir("/usr/lib/systemd/system", 0o777),
			loc: "systemd-units", rules: []string{"world-writable"}, severity: policy.SevHigh,
		},
		{
			name: "a trusted writer wins over an exception",
			pol:  exc, cur: file("/etc/cron.daily/0anacron", 0o755), actor: known(proc.Process{Exe: "/usr/bin/dpkg"}),
			loc: "cron-periodic", rules: []string{"executable-created"}, severity: policy.SevHigh,
			verdict: policy.VerdictTrusted, why: "trusted writer /usr/bin/dpkg",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.pol
			if p == nil {
				p = def
			}
			path := tt.old
			if path == nil {
				path = tt.cur
			}
			loc := p.Match(path.Path)
			if loc == nil || loc.ID != tt.loc {
				t.Fatalf("Match(%q) = %v, want %s", path.Path, loc, tt.loc)
			}
			c, changed := baseline.Diff(tt.old, tt.cur)
			if !changed {
				if tt.rules != nil {
					t.Fatalf("baseline.Diff found no change, want %v", tt.rules)
				}
				return
			}
			f, ok := p.Evaluate(c, loc, tt.actor)
			if !ok {
				if tt.rules != nil {
					t.Fatalf("no finding for %s %s, want %v", c.Kind, c.Flags, tt.rules)
				}
				return
			}
			var got []string
			for _, h := range f.Hits {
				got = append(got, h.Rule)
			}
			if !reflect.DeepEqual(got, tt.rules) {
				t.Fatalf("rules %v (flags %s), want %v", got, c.Flags, tt.rules)
			}
			if f.Severity != tt.severity || f.Hits[0].Severity != tt.severity {
				t.Errorf("severity %s (first hit %s), want %s", f.Severity, f.Hits[0].Severity, tt.severity)
			}
			for i := 1; i < len(f.Hits); i++ {
				if f.Hits[i].Severity > f.Hits[i-1].Severity {
					t.Errorf("hits not sorted by severity: %+v", f.Hits)
				}
			}
			if f.Rule() != tt.rules[0] {
				t.Errorf("Rule() = %s, want %s", f.Rule(), tt.rules[0])
			}
			want := tt.verdict
			if want == "" {
				want = policy.VerdictAlert
			}
			if f.Verdict != want || f.Alerting() != (want == policy.VerdictAlert) {
				t.Errorf("verdict %q (alerting %v, why %q), want %q", f.Verdict, f.Alerting(), f.Why, want)
			}
			if !strings.Contains(f.Why, tt.why) || (tt.why == "") != (f.Why == "") {
				t.Errorf("why %q, want %q", f.Why, tt.why)
			}
			if !strings.Contains(f.Hits[0].Reason, tt.reason) {
				t.Errorf("reason %q, want %q in it", f.Hits[0].Reason, tt.reason)
			}
			if f.Location != loc || f.Change.Path != c.Path {
				t.Errorf("finding location %v path %q, want %s %q", f.Location, f.Change.Path, loc.ID, c.Path)
			}
		})
	}
}

func TestEvaluateWithoutLocation(t *testing.T) {
	p := policy.Default()
	c := diff(t, nil, file("/usr/bin/ls", 0o755))
	if f, ok := p.Evaluate(c, p.Match(c.Path), nil); ok {
		t.Errorf("Evaluate outside every location = %+v, want no finding", f)
	}
}

// TestEvaluateSeverityOverrides: a location's severity for one rule beats the rule's severity by
// use, and a rule left out of a policy's rules: section keeps the built-in severity.
func TestEvaluateSeverityOverrides(t *testing.T) {
	p := load(t, `version: 1
rules:
  exec-bit-set: {severity: {config: critical}}
locations:
  - {id: quiet, category: test, use: config, paths: ["/srv/quiet/*"], severity: {exec-bit-set: info, content-changed: high}}
  - {id: plain, category: test, use: config, paths: ["/srv/plain/*"]}
`)
	tests := []struct {
		name     string
		old, cur *baseline.Entry
		want     policy.Severity
	}{
		{"location override", file("/srv/quiet/x", 0o644), file("/srv/quiet/x", 0o755), policy.SevInfo},
		{"rules by use", file("/srv/plain/x", 0o644), file("/srv/plain/x", 0o755), policy.SevCritical},
		{"location override, other rule", file("/srv/quiet/x", 0o644), with(file("/srv/quiet/x", 0o644), content(shaB)), policy.SevHigh},
		{"built-in", file("/srv/plain/x", 0o644), with(file("/srv/plain/x", 0o644), content(shaB)), policy.SevLow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := diff(t, tt.old, tt.cur)
			f, ok := p.Evaluate(c, p.Match(c.Path), nil)
			if !ok || f.Severity != tt.want {
				t.Errorf("severity %s (finding %v), want %s", f.Severity, ok, tt.want)
			}
		})
	}
}

// TestConcurrentUse runs matching, tree walks and evaluation from several goroutines on one
// policy, for the race detector: a Policy is documented as safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	p := policy.Default()
	c := diff(t, file("/etc/cron.daily/x", 0o644), file("/etc/cron.daily/x", 0o755))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if got := matchID(p, "/home/alice/.config/autostart/x.desktop"); got != "xdg-autostart" {
					t.Errorf("Match = %q", got)
					return
				}
				if got := treeSelect(p, "/etc/systemd/system/x.service"); got != "systemd-units" {
					t.Errorf("tree = %q", got)
					return
				}
				if f, ok := p.Evaluate(c, p.Match(c.Path), known(proc.Process{Exe: "/usr/bin/dpkg"})); !ok || f.Verdict != policy.VerdictTrusted {
					t.Errorf("Evaluate = %+v", f)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSeverity(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want policy.Severity
	}{
		{"info", policy.SevInfo}, {"LOW", policy.SevLow}, {"Medium", policy.SevMedium},
		{"high", policy.SevHigh}, {"critical", policy.SevCritical},
	} {
		got, err := policy.ParseSeverity(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSeverity(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if !strings.EqualFold(got.String(), tt.in) {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
	for _, bad := range []string{"", "none", "severe", "high "} {
		if _, err := policy.ParseSeverity(bad); err == nil {
			t.Errorf("ParseSeverity(%q) succeeded", bad)
		}
	}
	if got := []int{policy.SevLow.Number(), policy.SevMedium.Number(), policy.SevHigh.Number(), policy.SevCritical.Number()}; !reflect.DeepEqual(got, []int{21, 47, 73, 99}) {
		t.Errorf("Number() = %v", got)
	}
	if b, err := policy.SevHigh.MarshalJSON(); err != nil || string(b) != `"high"` {
		t.Errorf("MarshalJSON = %s, %v", b, err)
	}
	for _, id := range policy.RuleIDs() {
		if policy.RuleName(id) == id {
			t.Errorf("rule %s has no name", id)
		}
	}
}

// An exception may name paths under every home with ~/, like a location.
func TestExceptionHomePaths(t *testing.T) {
	pol, err := policy.Load("x.yaml", []byte(`version: 1
extends: default
exceptions:
  - reason: approved VPN autostart entry
    paths: [~/.config/autostart/vpn.desktop]
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/home/alice/.config/autostart/vpn.desktop", "/root/.config/autostart/vpn.desktop"} {
		e := &baseline.Entry{Path: p, Type: baseline.TypeFile, Mode: 0o644, HashState: baseline.HashOK, SHA256: "x"}
		c, _ := baseline.Diff(nil, e)
		f, ok := pol.Evaluate(c, pol.Match(p), nil)
		if !ok || f.Verdict != policy.VerdictExcepted {
			t.Errorf("%s: verdict %v (ok %v), want excepted", p, f.Verdict, ok)
		}
	}
}
