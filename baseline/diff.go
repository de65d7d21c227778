package baseline

import "strings"

// Kind is what happened to a path between two observations.
type Kind string

// Change kinds.
const (
	Created  Kind = "created"
	Deleted  Kind = "deleted"
	Modified Kind = "modified"
	// Accepted and Restored are not found by Diff: they are the history's record of a path
	// made the baseline (baseline accept) or put back to it (tripline restore).
	Accepted Kind = "accepted"
	Restored Kind = "restored"
	// Present is not a change either: a judgement of what is there, made without history (a
	// package file that differs from what its package shipped, an executable no package owns),
	// reported by every scan, the first included. Old is nil, New the entry.
	Present Kind = "present"
)

// Flags are the facts a Change carries; policy rules are written against them.
type Flags uint32

// The flags Diff sets. For a created path, and for a path whose type changed, the mode flags
// describe the new entry (ExecAdded means the file arrived executable); for a deleted path only
// Deleted facts apply.
const (
	ExecAdded        Flags = 1 << iota // an exec bit was added to a regular file (or it arrived with one)
	ExecRemoved                        // every exec bit that was set was removed, or some were
	SetuidAdded                        // setuid added (or arrived with it)
	SetgidAdded                        // setgid added (or arrived with it)
	WorldWritable                      // became writable by others (or arrived so)
	ModeChanged                        // any permission bit changed
	OwnerChanged                       // uid or gid changed
	ContentChanged                     // sha256 differs, or size/mtime differ where no hash could be had
	TypeChanged                        // e.g. a file became a symlink
	TargetChanged                      // a symlink points elsewhere
	MtimeBackwards                     // mtime moved into the past
	MtimeBeforeBirth                   // mtime earlier than the birth time of a newly born inode
	Replaced                           // a different inode now has the name
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{ExecAdded, "exec-added"}, {ExecRemoved, "exec-removed"}, {SetuidAdded, "setuid-added"},
	{SetgidAdded, "setgid-added"}, {WorldWritable, "world-writable"}, {ModeChanged, "mode"},
	{OwnerChanged, "owner"}, {ContentChanged, "content"}, {TypeChanged, "type"},
	{TargetChanged, "target"}, {MtimeBackwards, "mtime-backwards"},
	{MtimeBeforeBirth, "mtime-before-birth"}, {Replaced, "replaced"},
}

// Names lists the set flags by their stable names, in a fixed order.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// Has reports whether every flag in g is set.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Change is the difference between two observations of one path. Old is nil for a created path,
// New is nil for a deleted one.
type Change struct {
	Path  string `json:"path"`
	Kind  Kind   `json:"kind"`
	Flags Flags  `json:"-"`
	Old   *Entry `json:"old,omitempty"`
	New   *Entry `json:"new,omitempty"`
}

// Entry returns the newest observation of the path: New, or Old for a deletion.
func (c *Change) Entry() *Entry {
	if c.New != nil {
		return c.New
	}
	return c.Old
}

// mtimeSlackNS allows for filesystems and copies that round mtime to a coarser unit than the birth
// time, so a fresh file written within the same second is not "mtime before birth".
const mtimeSlackNS = 2e9

// Diff compares two observations of one path and reports whether anything an investigator cares
// about changed. Either may be nil (created, deleted). Changes that carry no meaning are not
// changes: a directory's mtime, size and link count (they move whenever a child is added), an
// mtime moved forward without a content change (touch), ctime alone, and the permission bits of a
// symlink (Linux ignores them). A new inode with the same content and attributes is not a change,
// but when anything else changed too the Replaced flag says so.
func Diff(old, cur *Entry) (Change, bool) {
	switch {
	case old == nil && cur == nil:
		return Change{}, false
	case old == nil:
		c := Change{Path: cur.Path, Kind: Created, New: cur, Flags: arrivalFlags(cur)}
		if mtimeBeforeBirth(cur) {
			c.Flags |= MtimeBeforeBirth
		}
		return c, true
	case cur == nil:
		return Change{Path: old.Path, Kind: Deleted, Old: old}, true
	}
	c := Change{Path: cur.Path, Kind: Modified, Old: old, New: cur}
	if old.Type != cur.Type {
		// The object in place now arrived with its mode, as a created one does: a symlink
		// replaced by a setgid or world-writable file must say so.
		c.Flags |= TypeChanged | arrivalFlags(cur)
	}
	if old.UID != cur.UID || old.GID != cur.GID {
		c.Flags |= OwnerChanged
	}
	if old.Type == cur.Type && cur.Type != TypeSymlink {
		c.Flags |= modeFlags(old, cur)
	}
	switch {
	case old.Type != TypeFile || cur.Type != TypeFile:
	case old.HashState == HashOK && cur.HashState == HashOK:
		if old.SHA256 != cur.SHA256 {
			c.Flags |= ContentChanged
		}
	default:
		// One side has no hash (too large, unreadable, changed while read): size or mtime moving
		// is the best evidence there is.
		if old.Size != cur.Size || old.MtimeNS != cur.MtimeNS {
			c.Flags |= ContentChanged
		}
	}
	if old.Type == TypeSymlink && cur.Type == TypeSymlink && old.Target != cur.Target {
		c.Flags |= TargetChanged
	}
	if cur.Type == TypeFile && cur.MtimeNS < old.MtimeNS {
		c.Flags |= MtimeBackwards
	}
	replaced := old.Inode != cur.Inode || old.Dev != cur.Dev
	if replaced && cur.Type == TypeFile && mtimeBeforeBirth(cur) && c.Flags&ContentChanged != 0 {
		// A new inode whose mtime predates its own birth carries a copied or forged mtime.
		c.Flags |= MtimeBeforeBirth
	}
	if c.Flags == 0 {
		return Change{}, false
	}
	if replaced {
		c.Flags |= Replaced
	}
	return c, true
}

// arrivalFlags describes the mode an object arrives with, at a new path or in place of an object
// of another type.
func arrivalFlags(cur *Entry) Flags {
	var f Flags
	if cur.Type == TypeFile && cur.Mode&ModeExec != 0 {
		f |= ExecAdded
	}
	if cur.Type == TypeFile || cur.Type == TypeDir {
		if cur.Mode&ModeSetuid != 0 {
			f |= SetuidAdded
		}
		if cur.Mode&ModeSetgid != 0 && cur.Type == TypeFile {
			f |= SetgidAdded
		}
		if cur.Mode&ModeOtherW != 0 && !(cur.Type == TypeDir && cur.Mode&ModeSticky != 0) {
			f |= WorldWritable
		}
	}
	return f
}

func modeFlags(old, cur *Entry) Flags {
	var f Flags
	if old.Mode == cur.Mode {
		return 0
	}
	f |= ModeChanged
	if cur.Type == TypeFile {
		if added := cur.Mode &^ old.Mode & ModeExec; added != 0 {
			f |= ExecAdded
		}
		if removed := old.Mode &^ cur.Mode & ModeExec; removed != 0 {
			f |= ExecRemoved
		}
		if cur.Mode&ModeSetgid != 0 && old.Mode&ModeSetgid == 0 {
			f |= SetgidAdded
		}
	}
	if cur.Mode&ModeSetuid != 0 && old.Mode&ModeSetuid == 0 {
		f |= SetuidAdded
	}
	sticky := cur.Type == TypeDir && cur.Mode&ModeSticky != 0
	if cur.Mode&ModeOtherW != 0 && old.Mode&ModeOtherW == 0 && !sticky {
		f |= WorldWritable
	}
	return f
}

func mtimeBeforeBirth(e *Entry) bool {
	return e.Type == TypeFile && e.BtimeNS != 0 && e.MtimeNS+mtimeSlackNS < e.BtimeNS
}
