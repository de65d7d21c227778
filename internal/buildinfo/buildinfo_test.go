package buildinfo

import (
	"runtime/debug"
	"testing"
)

// TestVersionInfo reads versions from build information as Go records them.
func TestVersionInfo(t *testing.T) {
	rev := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "959e1445925d5f5e2755fb6bd6194aa90d30a50e"}}
	cases := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"no stamp", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "devel"},
		{"empty", debug.BuildInfo{}, "devel"},
		{"commit only", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: rev}, "devel+959e1445925d"},
		{"commit, modified", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "devel+959e1445925d-dirty"},
		{"pseudo-version", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202153645-959e1445925d"}, Settings: rev}, "v0.0.0-20261202153645-959e1445925d"},
		{"dirty, marked by go", debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261202153645-959e1445925d+dirty"}, Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "v0.0.0-20261202153645-959e1445925d+dirty"},
		{"dirty, not marked", debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: append(rev, debug.BuildSetting{Key: "vcs.modified", Value: "true"})}, "v1.2.0+dirty"},
		{"tag", debug.BuildInfo{Main: debug.Module{Version: "v1.2.0"}, Settings: rev}, "v1.2.0"},
	}
	for _, c := range cases {
		if got := Module(&c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
