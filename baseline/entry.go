// Package baseline observes files in persistence locations: it stats them with statx (including
// birth time), hashes regular files without ever following a symlink, blocking on a FIFO or reading
// a device, walks a policy's locations under a root directory, and compares two observations of one
// path (Diff). It knows nothing about SQLite; the store persists its Entry values.
package baseline

import (
	"fmt"
	"strings"
)

// Type is the kind of filesystem object an Entry describes.
type Type string

// The types an Entry can have. They are stored and printed as these strings.
const (
	TypeFile    Type = "file"
	TypeDir     Type = "dir"
	TypeSymlink Type = "symlink"
	TypeFIFO    Type = "fifo"
	TypeSocket  Type = "socket"
	TypeChar    Type = "char"
	TypeBlock   Type = "block"
	TypeUnknown Type = "unknown"
)

// HashState says why an Entry has, or has no, sha256.
type HashState string

// Hash states. HashOK is the only one with a SHA256 value.
const (
	HashOK          HashState = "ok"
	HashNotRegular  HashState = "not-regular"  // only regular files are hashed
	HashTooLarge    HashState = "too-large"    // bigger than the size cap: recorded, not read
	HashUnreadable  HashState = "unreadable"   // open or read failed (permission, I/O error)
	HashChanged     HashState = "changed"      // the file changed while it was being read
	HashVanished    HashState = "vanished"     // the file was removed while it was being read
	HashReplaced    HashState = "replaced"     // the name pointed at another inode when opened
	HashNotComputed HashState = "not-computed" // nobody asked for a hash (stat only)
)

// Mode bits an Entry keeps: permissions plus setuid, setgid and sticky (the low 12 bits of st_mode).
const (
	ModeSetuid = 0o4000
	ModeSetgid = 0o2000
	ModeSticky = 0o1000
	ModeExec   = 0o111
	ModeOtherW = 0o002
	ModePerm   = 0o7777
)

// Entry is the observed state of one path. Times are nanoseconds since the Unix epoch, UTC;
// BtimeNS is 0 where the filesystem does not report a birth time.
type Entry struct {
	Path      string    `json:"path"`               // logical path ("/etc/cron.daily/x"), even under --root
	Location  string    `json:"location,omitempty"` // id of the policy location that owns the path
	Type      Type      `json:"type"`
	Mode      uint32    `json:"mode"` // ModePerm bits only
	UID       uint32    `json:"uid"`
	GID       uint32    `json:"gid"`
	Size      int64     `json:"size"`
	Inode     uint64    `json:"inode"`
	Dev       uint64    `json:"dev"`
	Nlink     uint32    `json:"nlink"`
	MtimeNS   int64     `json:"mtime_ns"`
	CtimeNS   int64     `json:"ctime_ns"`
	BtimeNS   int64     `json:"btime_ns,omitempty"`
	Target    string    `json:"target,omitempty"` // symlink target, as stored in the link
	SHA256    string    `json:"sha256,omitempty"` // lowercase hex, only when HashState is HashOK
	HashState HashState `json:"hash_state"`
	// Package is what the package database says of the path: its package, or unowned, and how
	// the file compares with what that package recorded. nil when no package database was read
	// (not a dpkg or rpm system, or an observation made without one). Diff ignores it: it is a
	// judgement of the entry, not part of what was observed.
	Package *Package `json:"package,omitempty"`
}

// Package is the package that owns a path, as its package database records it.
type Package struct {
	Name    string       `json:"name,omitempty"`    // empty when State is PkgUnowned
	Version string       `json:"version,omitempty"` // the installed version ("1:2.3-4", "2.3-4.el9")
	Type    string       `json:"type,omitempty"`    // "deb" or "rpm"
	State   PackageState `json:"state"`
	// Detail says what differs (modified, conffile-modified) or why nothing could be compared
	// (no-digest), in one line.
	Detail string `json:"detail,omitempty"`
}

// PackageState is how a file compares with what its package recorded.
type PackageState string

// Package states.
const (
	PkgVerified         PackageState = "verified"          // digest (and mode, where recorded) as the package shipped it
	PkgModified         PackageState = "modified"          // digest or mode differs from the package's record
	PkgConffileModified PackageState = "conffile-modified" // a configuration file edited since it was installed (expected)
	PkgNoDigest         PackageState = "no-digest"         // owned, but nothing recorded to compare with (a directory, a symlink under dpkg, no hash)
	PkgUnowned          PackageState = "unowned"           // no installed package lists the path
)

// Owned reports whether a package lists the path.
func (p *Package) Owned() bool { return p != nil && p.State != PkgUnowned }

// String renders "NAME VERSION", or "unowned", quoted for a terminal (QuoteLine): names and
// versions come from the scanned image's package database.
func (p *Package) String() string {
	if !p.Owned() {
		return "unowned"
	}
	return QuoteLine(p.Name) + " " + QuoteLine(p.Version)
}

// Executable reports whether any exec bit is set on a regular file.
func (e *Entry) Executable() bool { return e.Type == TypeFile && e.Mode&ModeExec != 0 }

// SameInode reports whether the cheap identity fields that decide whether a file must be read
// again (dev, inode, size, mtime, ctime) are equal. When they are, a stored hash is still valid.
func (e *Entry) SameInode(o *Entry) bool {
	return e.Dev == o.Dev && e.Inode == o.Inode && e.Size == o.Size &&
		e.MtimeNS == o.MtimeNS && e.CtimeNS == o.CtimeNS && e.Type == o.Type
}

// ModeString renders mode bits as octal with a leading zero, "0755" or "4755".
func ModeString(mode uint32) string { return fmt.Sprintf("%04o", mode&ModePerm) }

// SymbolicMode renders the type and mode like ls -l: "-rwsr-xr-x".
func SymbolicMode(t Type, mode uint32) string {
	var b strings.Builder
	switch t {
	case TypeDir:
		b.WriteByte('d')
	case TypeSymlink:
		b.WriteByte('l')
	case TypeFIFO:
		b.WriteByte('p')
	case TypeSocket:
		b.WriteByte('s')
	case TypeChar:
		b.WriteByte('c')
	case TypeBlock:
		b.WriteByte('b')
	default:
		b.WriteByte('-')
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<uint(8-i)) != 0 {
			b.WriteByte(rwx[i])
		} else {
			b.WriteByte('-')
		}
	}
	s := []byte(b.String())
	special := func(idx int, bit uint32, set, setNoX byte) {
		if mode&bit == 0 {
			return
		}
		if s[idx] == 'x' {
			s[idx] = set
		} else {
			s[idx] = setNoX
		}
	}
	special(3, ModeSetuid, 's', 'S')
	special(6, ModeSetgid, 's', 'S')
	special(9, ModeSticky, 't', 'T')
	return string(s)
}

// Approved is a baseline entry with its approval: when, and by whom.
type Approved struct {
	Entry
	ApprovedNS int64  `json:"approved_ns"`
	ApprovedBy string `json:"approved_by"`
}
