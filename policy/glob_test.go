package policy_test

import (
	"reflect"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// TestMatch checks the pattern syntax through Match and through the Tree that baseline.Walk
// follows: both must select the same location for every path.
func TestMatch(t *testing.T) {
	type want struct{ path, id string } // id "" means not selected
	tests := []struct {
		name  string
		homes string
		locs  []string
		want  []want
	}{
		{
			name: "star within one segment, dot files included",
			locs: []string{loc("cron", policy.Executed, "/etc/cron.daily/*")},
			want: []want{
				{"/etc/cron.daily/logrotate", "cron"},
				{"/etc/cron.daily/.hidden", "cron"},
				{"/etc/cron.daily/a b", "cron"},
				{"/etc/cron.daily/a/b", ""},
				{"/etc/cron.dailyx/y", ""},
				{"/etc/cron/daily/y", ""},
				{"/etc/passwd", ""},
			},
		},
		{
			name: "star as part of a segment",
			locs: []string{loc("ifup", policy.Executed, "/etc/network/if-*.d/*")},
			want: []want{
				{"/etc/network/if-up.d/x", "ifup"},
				{"/etc/network/if-.d/x", "ifup"},
				{"/etc/network/if-pre-up.d/x", "ifup"},
				{"/etc/network/interfaces", ""},
				{"/etc/network/if-up/x", ""},
			},
		},
		{
			name: "double star matches zero or more segments",
			locs: []string{loc("units", policy.Config, "/etc/systemd/system/**")},
			want: []want{
				{"/etc/systemd/system", "units"},
				{"/etc/systemd/system/a.service", "units"},
				{"/etc/systemd/system/a/b.conf", "units"},
				{"/etc/systemd/system/x.service.d/override.conf", "units"},
				{"/etc/systemd/system/a/b/c/d/e", "units"},
				{"/etc/systemd/system/.hidden/x", "units"},
				{"/etc/systemd", ""},
				{"/etc/systemd/systemx", ""},
				{"/etc/systemd/system.conf", ""},
				{"/etc/systemd/system-generators/x", ""},
			},
		},
		{
			name: "double star in the middle",
			locs: []string{loc("hooks", policy.Executed, "/srv/**/hooks/*")},
			want: []want{
				{"/srv/hooks/x", "hooks"},
				{"/srv/a/hooks/x", "hooks"},
				{"/srv/a/b/c/hooks/x", "hooks"},
				{"/srv/hooks/hooks/x", "hooks"},
				{"/srv/a/x", ""},
				{"/srv/a/hooks/x/y", ""},
				{"/srv", ""},
			},
		},
		{
			name: "brace alternatives",
			locs: []string{
				loc("periodic", policy.Executed, "/etc/cron.{hourly,daily,weekly,monthly}/*"),
				loc("nested", policy.Config, "/opt/{a,b{1,2}}/f"),
			},
			want: []want{
				{"/etc/cron.hourly/x", "periodic"},
				{"/etc/cron.daily/x", "periodic"},
				{"/etc/cron.weekly/x", "periodic"},
				{"/etc/cron.monthly/x", "periodic"},
				{"/etc/cron.yearly/x", ""},
				{"/etc/cron.{hourly,daily,weekly,monthly}/x", ""},
				{"/opt/a/f", "nested"},
				{"/opt/b1/f", "nested"},
				{"/opt/b2/f", "nested"},
				{"/opt/b/f", ""},
				{"/opt/b12/f", ""},
			},
		},
		{
			name: "empty brace alternative under every home",
			locs: []string{loc("kde", policy.Executed, "~/.kde{,4}/Autostart/*")},
			want: []want{
				{"/root/.kde/Autostart/x", "kde"},
				{"/root/.kde4/Autostart/x", "kde"},
				{"/home/alice/.kde/Autostart/x", "kde"},
				{"/home/alice/.kde4/Autostart/x.sh", "kde"},
				{"/home/alice/.kde5/Autostart/x", ""},
				{"/home/alice/.kde{,4}/Autostart/x", ""},
				{"/home/alice/src/.kde/Autostart/x", ""},
				{"/var/.kde/Autostart/x", ""},
			},
		},
		{
			name: "character classes",
			locs: []string{
				loc("rc", policy.Executed, "/etc/rc[0-6S].d/*"),
				loc("q", policy.Config, "/etc/ppp/ip-?"),
				loc("not-dot", policy.Config, "/var/app/[!.]*"),
				loc("caret", policy.Config, "/var/lib/app/[^.]*"),
				loc("escaped", policy.Config, `/srv/a\*b`),
			},
			want: []want{
				{"/etc/rc0.d/S01x", "rc"},
				{"/etc/rc2.d/S01x", "rc"},
				{"/etc/rc6.d/K01x", "rc"},
				{"/etc/rcS.d/x", "rc"},
				{"/etc/rc7.d/x", ""},
				{"/etc/rcs.d/x", ""},
				{"/etc/rc.d/x", ""},
				{"/etc/rc10.d/x", ""},
				{"/etc/ppp/ip-a", "q"},
				{"/etc/ppp/ip-ab", ""},
				{"/etc/ppp/ip-", ""},
				// [!x] is the shell's negation, as [^x] is path.Match's.
				{"/var/app/conf", "not-dot"},
				{"/var/app/!conf", "not-dot"},
				{"/var/app/.conf", ""},
				{"/var/lib/app/conf", "caret"},
				{"/var/lib/app/.conf", ""},
				{"/srv/a*b", "escaped"},
				{"/srv/axb", ""},
			},
		},
		{
			name: "tilde expands over the policy's homes",
			locs: []string{loc("rc-files", policy.Sourced, "~/.bashrc")},
			want: []want{
				{"/root/.bashrc", "rc-files"},
				{"/home/alice/.bashrc", "rc-files"},
				{"/home/.bashrc", ""},
				{"/home/alice/sub/.bashrc", ""},
				{"/var/.bashrc", ""},
				{"/root", ""},
				{"/home/alice", ""},
			},
		},
		{
			name:  "custom homes, with braces",
			homes: `[/export/home/*, "/srv/{git,ci}"]`,
			locs:  []string{loc("rc-files", policy.Sourced, "~/.bashrc")},
			want: []want{
				{"/export/home/u/.bashrc", "rc-files"},
				{"/srv/git/.bashrc", "rc-files"},
				{"/srv/ci/.bashrc", "rc-files"},
				{"/srv/{git,ci}/.bashrc", ""},
				{"/root/.bashrc", ""},
				{"/home/alice/.bashrc", ""},
			},
		},
		{
			name: "a wildcard last segment also selects its directory",
			locs: []string{
				loc("crond", policy.Config, "/etc/cron.d/*", "/etc/crontab"),
				loc("spool", policy.Config, "/var/spool/cron/**"),
			},
			want: []want{
				{"/etc/cron.d", "crond"},
				{"/etc/cron.d/x", "crond"},
				{"/etc/crontab", "crond"},
				{"/etc", ""}, // /etc/crontab is literal: it does not select /etc
				{"/var/spool/cron", "spool"},
				{"/var/spool/cron/crontabs/root", "spool"},
				{"/var/spool", ""},
			},
		},
		{
			name: "most specific location wins",
			locs: []string{
				loc("helpers", policy.Executed, "/usr/lib/udev/**"),
				loc("rules", policy.Config, "/usr/lib/udev/rules.d/*"),
				loc("any", policy.Config, "/etc/*"),
				loc("one", policy.Config, "/etc/passwd"),
			},
			want: []want{
				{"/usr/lib/udev/rules.d/x.rules", "rules"},
				{"/usr/lib/udev/rules.d", "rules"},
				{"/usr/lib/udev/rules.d/sub/x", "helpers"},
				{"/usr/lib/udev/x-helper", "helpers"},
				{"/usr/lib/udev/hwdb.d/x", "helpers"},
				{"/usr/lib/udev", "helpers"},
				{"/etc/passwd", "one"},
				{"/etc/group", "any"},
			},
		},
		{
			name: "a pattern naming a directory wins over one listing it, in either order",
			locs: []string{
				loc("files", policy.Config, "/etc/app/*"),
				loc("dir", policy.Config, "/etc/app"),
				loc("dir2", policy.Config, "/etc/app2"),
				loc("files2", policy.Config, "/etc/app2/*"),
			},
			want: []want{
				{"/etc/app", "dir"},
				{"/etc/app/x", "files"},
				{"/etc/app2", "dir2"},
				{"/etc/app2/x", "files2"},
			},
		},
		{
			name: "equal patterns: the first location wins",
			locs: []string{
				loc("first", policy.Config, "/opt/x/*"),
				loc("second", policy.Executed, "/opt/x/*"),
			},
			want: []want{{"/opt/x/y", "first"}, {"/opt/x", "first"}},
		},
		{
			name: "ignored names are not matched",
			locs: []string{loc("cron", policy.Executed, "/etc/cron.daily/*")},
			want: []want{
				{"/etc/cron.daily/x.dpkg-new", ""},
				{"/etc/cron.daily/.x.swp", ""},
				{"/etc/cron.daily/x~", ""},
				{"/etc/cron.daily/x.dpkg-newer", "cron"},
				{"/etc/cron.daily/~x", "cron"},
				{"/etc/cron.daily/x.swp", "cron"}, // only ".*.swp" is ignored here
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, smallPolicy(tt.homes, tt.locs...))
			for _, w := range tt.want {
				if got := matchID(p, w.path); got != w.id {
					t.Errorf("Match(%q) = %q, want %q", w.path, got, w.id)
				}
				if got := treeSelect(p, w.path); got != w.id {
					t.Errorf("Tree walk to %q selects %q, want %q", w.path, got, w.id)
				}
			}
		})
	}
}

func TestMatchPathForms(t *testing.T) {
	p := load(t, smallPolicy("", loc("cron", policy.Executed, "/etc/cron.daily/*"), loc("top", policy.Config, "/opt")))
	tests := []struct{ path, want string }{
		{"/etc/cron.daily/x", "cron"},
		{"/etc/cron.daily/x/", "cron"},
		{"/etc//cron.daily/x", "cron"},
		{"/etc/./cron.daily/x", "cron"},
		{"/etc/cron.weekly/../cron.daily/x", "cron"},
		{"/etc/cron.daily/..", ""}, // that is /etc, not an entry of cron.daily
		{"/etc/cron.daily/.", "cron"},
		{"/etc/cron.daily/x/..", "cron"},
		{"etc/cron.daily/x", ""}, // relative
		{"", ""},
		{"/", ""},
		{"/opt", "top"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := matchID(p, tt.path); got != tt.want {
				t.Errorf("Match(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestTreeProbe(t *testing.T) {
	p := load(t, smallPolicy("",
		loc("crond", policy.Config, "/etc/cron.d/*", "/etc/crontab"),
		loc("spool", policy.Config, "/var/spool/cron/**"),
		loc("user", policy.Sourced, "~/.bashrc"),
		loc("nested", policy.Config, "/etc/app", "/etc/app/conf", "/etc/app/conf"),
	))
	type step struct {
		child   string // "" for the root
		loc     string // location selected for child
		ignored bool
		noTree  bool     // Child returns no Tree (nothing below can be selected)
		names   []string // Probe of the resulting Tree
		all     bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"literal names at the root", []step{
			{names: []string{"etc", "home", "root", "var"}},
		}},
		{"literal then wildcard", []step{
			{child: "etc", names: []string{"app", "cron.d", "crontab"}},
			{child: "cron.d", loc: "crond", all: true},
			{child: "job", loc: "crond", noTree: true},
		}},
		{"literal file has no tree", []step{
			{child: "etc", names: []string{"app", "cron.d", "crontab"}},
			{child: "crontab", loc: "crond", noTree: true},
		}},
		{"a selected directory with literal children, deduplicated", []step{
			{child: "etc", names: []string{"app", "cron.d", "crontab"}},
			{child: "app", loc: "nested", names: []string{"conf"}},
			{child: "conf", loc: "nested", noTree: true},
		}},
		{"double star lists and descends", []step{
			{child: "var", names: []string{"spool"}},
			{child: "spool", names: []string{"cron"}},
			{child: "cron", loc: "spool", all: true},
			{child: "crontabs", loc: "spool", all: true},
			{child: "root", loc: "spool", all: true},
		}},
		{"home wildcard", []step{
			{child: "home", all: true},
			{child: "alice", names: []string{".bashrc"}},
			{child: ".bashrc", loc: "user", noTree: true},
		}},
		{"unselected name", []step{
			{child: "usr", noTree: true},
		}},
		{"ignored name", []step{
			{child: "etc", names: []string{"app", "cron.d", "crontab"}},
			{child: "cron.d", loc: "crond", all: true},
			{child: "job.dpkg-new", ignored: true, noTree: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tree baseline.Tree = p.Tree()
			path := ""
			for _, s := range tt.steps {
				if s.child != "" {
					if tree == nil {
						t.Fatalf("no Tree at %q", path)
					}
					path += "/" + s.child
					sel, next := tree.Child(s.child)
					if sel.Location != s.loc || sel.Ignored != s.ignored {
						t.Errorf("Child(%q) = %+v, want location %q ignored %v", path, sel, s.loc, s.ignored)
					}
					if (next == nil) != s.noTree {
						t.Fatalf("Child(%q) returned Tree %v, want none: %v", path, next, s.noTree)
					}
					tree = next
				}
				if s.noTree {
					continue
				}
				names, all := tree.Probe()
				if all != s.all || !reflect.DeepEqual(names, s.names) {
					t.Errorf("Probe at %q = %q, %v; want %q, %v", path, names, all, s.names, s.all)
				}
			}
		})
	}
}

func TestIgnored(t *testing.T) {
	p := load(t, "version: 1\nignore: [\"*.dpkg-new\", \".*.swp\", \"*~\", \"[!a-z]*.tmp\"]\nlocations:\n"+loc("a", policy.Config, "/etc/a/*"))
	tests := []struct {
		name string
		want bool
	}{
		{"x.dpkg-new", true},
		{".x.swp", true},
		{"x~", true},
		{"1.tmp", true},
		{"a.tmp", false}, // [!a-z] is a negated class
		{"x", false},
		{"x.dpkg-new.sh", false},
		{"x.swp", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Ignored(tt.name); got != tt.want {
				t.Errorf("Ignored(%q) = %v, want %v", tt.name, got, tt.want)
			}
			wantLoc := "a"
			if tt.want {
				wantLoc = ""
			}
			if got := matchID(p, "/etc/a/"+tt.name); got != wantLoc {
				t.Errorf("Match(/etc/a/%s) = %q, want %q", tt.name, got, wantLoc)
			}
		})
	}
}

func TestPatterns(t *testing.T) {
	p := load(t, smallPolicy("", loc("kde", policy.Executed, "~/.kde{,4}/Autostart/*"), loc("x", policy.Config, "/x")))
	want := []string{"/root/.kde/Autostart/*", "/home/*/.kde/Autostart/*", "/root/.kde4/Autostart/*", "/home/*/.kde4/Autostart/*"}
	if got := p.Patterns("kde"); !reflect.DeepEqual(got, want) {
		t.Errorf("Patterns(kde) = %q, want %q", got, want)
	}
	if got := p.Patterns("nope"); got != nil {
		t.Errorf("Patterns(nope) = %q, want none", got)
	}
}

func TestTargets(t *testing.T) {
	p := load(t, smallPolicy("",
		loc("crond", policy.Config, "/etc/cron.d/*", "/etc/crontab"),
		loc("units", policy.Config, "/etc/systemd/system/**"),
		loc("auto", policy.Config, "~/.config/autostart/*"),
	))
	want := []policy.Target{
		{Location: "crond", Pattern: "/etc/cron.d/*", Path: "/etc/cron.d", Dir: true},
		{Location: "crond", Pattern: "/etc/crontab", Path: "/etc/crontab"},
		{Location: "units", Pattern: "/etc/systemd/system/**", Path: "/etc/systemd/system", Dir: true, Recursive: true},
		{Location: "auto", Pattern: "/root/.config/autostart/*", Path: "/root/.config/autostart", Dir: true},
		{Location: "auto", Pattern: "/home/*/.config/autostart/*", Path: "/home/*/.config/autostart", Dir: true},
	}
	if got := p.Targets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets() =\n%+v\nwant\n%+v", got, want)
	}
}
