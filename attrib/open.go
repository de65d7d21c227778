package attrib

import (
	"fmt"
	"io/fs"
	"strings"
)

// Status says which feed runs, and why not a better one.
type Status struct {
	Feed     string   // kernel, connector or proc
	Fallback string   // why a better feed is not used; "" when the best one runs
	Notes    []string // what opening the feed did to the host or could not do
	Snapshot int      // processes read from /proc at start
}

// Modes accepted by Open.
var Modes = []string{"auto", "kernel", "connector", "proc"}

// Open starts a cache with the feed mode asks for: "auto" tries kernel, then connector, then
// proc; a named feed that cannot start is an error. procFS is /proc (nil: the host's).
func Open(mode string, procFS fs.FS) (*Cache, Status, error) {
	c := NewCache(procFS)
	var st Status
	var why []string
	try := func(name string) bool {
		var err error
		switch name {
		case "kernel":
			var f *kernelFeed
			var notes []string
			f, notes, err = openKernel(c)
			st.Notes = append(st.Notes, notes...)
			if err == nil {
				c.feed = f
			}
		case "connector":
			var f *connectorFeed
			f, err = openConnector(c)
			if err == nil {
				c.feed = f
				st.Notes = append(st.Notes, f.note)
			}
		case "proc":
		}
		if err != nil {
			why = append(why, name+" feed: "+err.Error())
			return false
		}
		st.Feed = name
		return true
	}
	switch mode {
	case "", "auto":
		for _, name := range []string{"kernel", "connector", "proc"} {
			if try(name) {
				break
			}
		}
	case "kernel", "connector", "proc":
		if !try(mode) {
			return nil, st, fmt.Errorf("attribution feed %s cannot start: %s", mode, strings.Join(why, "; "))
		}
	default:
		return nil, st, fmt.Errorf("unknown attribution feed %q (want one of %s)", mode, strings.Join(Modes, ", "))
	}
	st.Fallback = strings.Join(why, "; ")
	// After the feed is attached: every process is then either in the snapshot or seen by the
	// feed.
	st.Snapshot = c.Snapshot()
	return c, st, nil
}
