package scan

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// Inventory is what a first scan reports instead of a flood of "created" findings: how many
// paths each location holds, and the ones worth a look even without history.
type Inventory struct {
	Locations []LocationCount
	Notable   []Notable

	pol  *policy.Policy
	root string
}

// LocationCount is the number of paths a location holds on this host.
type LocationCount struct {
	ID       string     `json:"location"`
	Category string     `json:"category"`
	Use      policy.Use `json:"use"`
	Paths    int        `json:"paths"`
	Files    int        `json:"files"`
	Exec     int        `json:"executable_files"`
}

// Notable is a path worth a look on a first scan.
type Notable struct {
	Entry    baseline.Entry
	Location string
	Why      []string
}

func newInventory(p *policy.Policy, root string) *Inventory {
	inv := &Inventory{}
	for _, l := range p.Locations {
		inv.Locations = append(inv.Locations, LocationCount{ID: l.ID, Category: l.Category, Use: l.Use})
	}
	inv.pol, inv.root = p, root
	return inv
}

// suspectDirs are where a symlink in a persistence location should never point.
var suspectDirs = []string{"/tmp", "/dev/shm", "/var/tmp", "/home", "/root", "/run/user"}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func (inv *Inventory) add(e *baseline.Entry) {
	loc := inv.pol.Location(e.Location)
	for i := range inv.Locations {
		lc := &inv.Locations[i]
		if lc.ID == e.Location {
			lc.Paths++
			if e.Type == baseline.TypeFile {
				lc.Files++
				if e.Executable() {
					lc.Exec++
				}
			}
		}
	}
	var why []string
	if loc != nil && loc.Use == policy.Config && e.Executable() {
		why = append(why, fmt.Sprintf("executable (mode %s) in a config location, where the exec bit means nothing", baseline.ModeString(e.Mode)))
	}
	if (e.Type == baseline.TypeFile || e.Type == baseline.TypeDir) && e.Mode&baseline.ModeSetuid != 0 {
		why = append(why, fmt.Sprintf("setuid (mode %s)", baseline.ModeString(e.Mode)))
	}
	if e.Type == baseline.TypeFile && e.Mode&baseline.ModeSetgid != 0 {
		why = append(why, fmt.Sprintf("setgid (mode %s)", baseline.ModeString(e.Mode)))
	}
	if (e.Type == baseline.TypeFile || e.Type == baseline.TypeDir) && e.Mode&baseline.ModeOtherW != 0 &&
		!(e.Type == baseline.TypeDir && e.Mode&baseline.ModeSticky != 0) {
		why = append(why, fmt.Sprintf("world-writable (mode %s)", baseline.ModeString(e.Mode)))
	}
	if e.UID != 0 && system(e.Path) {
		why = append(why, fmt.Sprintf("owned by uid %d in a system location", e.UID))
	}
	switch e.Type {
	case baseline.TypeFIFO, baseline.TypeSocket, baseline.TypeChar, baseline.TypeBlock:
		why = append(why, fmt.Sprintf("%s in a persistence location", map[baseline.Type]string{
			baseline.TypeFIFO: "a FIFO", baseline.TypeSocket: "a socket",
			baseline.TypeChar: "a character device", baseline.TypeBlock: "a block device"}[e.Type]))
	case baseline.TypeSymlink:
		why = append(why, inv.linkWhy(e)...)
	}
	if len(why) > 0 {
		inv.Notable = append(inv.Notable, Notable{Entry: *e, Location: e.Location, Why: why})
	}
}

// system reports whether a path is outside home directories and per-user spools, where a
// non-root owner is unusual.
func system(p string) bool {
	return !under(p, "/home") && !under(p, "/root") && !under(p, "/var/spool")
}

func (inv *Inventory) linkWhy(e *baseline.Entry) []string {
	target := e.Target
	if !path.IsAbs(target) {
		target = path.Join(path.Dir(e.Path), target)
	}
	target = path.Clean(target)
	var why []string
	for _, d := range suspectDirs {
		if under(target, d) {
			why = append(why, fmt.Sprintf("symlink into %s (-> %s)", d, baseline.QuotePath(e.Target)))
			break
		}
	}
	if under(target, "/dev") && target != "/dev/null" {
		// /dev/null is how systemd masks a unit; anything else in /dev is odd.
		why = append(why, fmt.Sprintf("symlink to a device path (-> %s)", baseline.QuotePath(e.Target)))
	}
	if _, err := baseline.FollowLink(inv.root, e.Path); errors.Is(err, baseline.ErrLinkLoop) {
		why = append(why, fmt.Sprintf("symlink loop (-> %s)", baseline.QuotePath(e.Target)))
	}
	return why
}
