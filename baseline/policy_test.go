package baseline_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

const testPolicy = `version: 1
homes: [/root, /home/*]
locations:
  - id: cron-daily
    paths: [/etc/cron.daily/*]
    category: cron
    technique: T1053.003
    use: executed
  - id: rc-local
    paths: [/etc/rc.local]
    category: init
    technique: T1037.004
    use: executed
  - id: units
    paths: [/etc/systemd/system/**]
    category: systemd
    technique: T1543.002
    use: config
  - id: ssh-keys
    paths: [~/.ssh/authorized_keys]
    category: ssh
    technique: T1098.004
    use: config
ignore: ["*.dpkg-new", ".*.swp"]
`

type visit struct {
	path, loc string
	typ       baseline.Type
	ignored   bool
}

// Walk driven by a real policy: locations, literals, wildcards, **, ~ and ignores.
func TestWalkWithPolicy(t *testing.T) {
	p, err := policy.Load("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	files := map[string]os.FileMode{
		"etc/cron.daily/logrotate":          0o755,
		"etc/cron.daily/logrotate.dpkg-new": 0o755,
		"etc/cron.daily/sub/nested":         0o755, // * is one segment: sub is selected, nested is not
		"etc/cron.hourly/x":                 0o755,
		"etc/rc.local":                      0o755,
		"etc/passwd":                        0o644,
		"etc/systemd/system/a.service":      0o644,
		"etc/systemd/system/multi-user.target.wants/.b.service.swp": 0o644,
		"home/alice/.ssh/authorized_keys":                           0o600,
		"home/alice/.ssh/id_ed25519":                                0o600,
		"root/.ssh/authorized_keys":                                 0o600,
	}
	for f, mode := range files {
		full := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(f), mode); err != nil {
			t.Fatal(err)
		}
	}
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "evil.service"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "etc/systemd/system/linked.wants")); err != nil {
		t.Fatal(err)
	}

	var got []visit
	err = baseline.Walk(t.Context(), root, p.Tree(), func(v *baseline.Visit) error {
		defer v.Release()
		if v.Err != nil {
			t.Errorf("%s: %v", v.Entry.Path, v.Err)
		}
		got = append(got, visit{v.Entry.Path, v.Entry.Location, v.Entry.Type, v.Ignored})
		if !v.Ignored {
			if m := p.Match(v.Entry.Path); v.Entry.Location != "" && (m == nil || m.ID != v.Entry.Location) {
				t.Errorf("%s: Walk says location %q, policy.Match says %v", v.Entry.Path, v.Entry.Location, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The directory of a location is observed too (its mode matters), as the policy decides.
	want := []visit{
		{"/etc/cron.daily", "cron-daily", baseline.TypeDir, false},
		{"/etc/cron.daily/logrotate", "cron-daily", baseline.TypeFile, false},
		{"/etc/cron.daily/logrotate.dpkg-new", "", "", true},
		{"/etc/cron.daily/sub", "cron-daily", baseline.TypeDir, false},
		{"/etc/rc.local", "rc-local", baseline.TypeFile, false},
		{"/etc/systemd/system", "units", baseline.TypeDir, false},
		{"/etc/systemd/system/a.service", "units", baseline.TypeFile, false},
		{"/etc/systemd/system/linked.wants", "units", baseline.TypeSymlink, false},
		{"/etc/systemd/system/multi-user.target.wants", "units", baseline.TypeDir, false},
		{"/etc/systemd/system/multi-user.target.wants/.b.service.swp", "", "", true},
		{"/home/alice/.ssh/authorized_keys", "ssh-keys", baseline.TypeFile, false},
		{"/root/.ssh/authorized_keys", "ssh-keys", baseline.TypeFile, false},
	}
	if !slices.Equal(got, want) {
		t.Errorf("visits:\n%v\nwant:\n%v", got, want)
	}
}
