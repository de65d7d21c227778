// Package buildinfo says which version of tripline is running, from what the build recorded.
package buildinfo

import (
	"runtime/debug"
	"strings"
)

// Version is the version the version command and the auditor export print: stamped (set by a
// release build with -ldflags "-X main.version=1.2.3") when it is not empty, else the module's
// version from the VCS stamp, else "devel" plus the commit when it is known.
func Version(stamped string) string {
	if stamped != "" {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return Module(bi)
}

// Module reads the version from build information. 'go build' in a git clone stamps a
// (pseudo-)version such as v0.0.0-20261202153645-959e1445925d, with "+dirty" for uncommitted
// changes. A build with -buildvcs=false, 'go run' and 'go test' (unless given -buildvcs=true), and
// any build in a git worktree (Go looks for a .git directory; a worktree's .git is a file) record
// none: then the version is "devel", with the commit if the stamp has one.
func Module(bi *debug.BuildInfo) string {
	set := map[string]string{}
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	dirty := set["vcs.modified"] == "true"
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		if dirty && !strings.HasSuffix(v, "+dirty") {
			v += "+dirty"
		}
		return v
	}
	rev := set["vcs.revision"]
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel+" + rev
	if dirty {
		v += "-dirty"
	}
	return v
}
