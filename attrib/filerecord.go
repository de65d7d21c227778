package attrib

import (
	"encoding/binary"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Call is the system call a file-feed record reports (enum call in bpf/file.c).
type Call uint32

// The traced calls, in the order of enum call.
var callNames = [...]string{"",
	"chmod", "fchmod", "fchmodat", "fchmodat2",
	"chown", "lchown", "fchown", "fchownat",
	"utime", "utimes", "utimensat", "futimesat",
	"open", "openat", "openat2", "creat",
	"truncate", "ftruncate",
	"mknod", "mknodat", "mkdir", "mkdirat",
	"unlink", "unlinkat", "rmdir",
	"rename", "renameat", "renameat2",
	"link", "linkat", "symlink", "symlinkat",
	"setxattr", "lsetxattr", "fsetxattr", "setxattrat",
	"removexattr", "lremovexattr", "fremovexattr", "removexattrat",
	"mount", "move_mount",
}

// Calls by name.
const (
	CallChmod Call = iota + 1
	CallFchmod
	CallFchmodat
	CallFchmodat2
	CallChown
	CallLchown
	CallFchown
	CallFchownat
	CallUtime
	CallUtimes
	CallUtimensat
	CallFutimesat
	CallOpen
	CallOpenat
	CallOpenat2
	CallCreat
	CallTruncate
	CallFtruncate
	CallMknod
	CallMknodat
	CallMkdir
	CallMkdirat
	CallUnlink
	CallUnlinkat
	CallRmdir
	CallRename
	CallRenameat
	CallRenameat2
	CallLink
	CallLinkat
	CallSymlink
	CallSymlinkat
	CallSetxattr
	CallLsetxattr
	CallFsetxattr
	CallSetxattrat
	CallRemovexattr
	CallLremovexattr
	CallFremovexattr
	CallRemovexattrat
	CallMount
	CallMoveMount
	callEnd
)

func (c Call) String() string {
	if c > 0 && c < callEnd {
		return callNames[c]
	}
	return fmt.Sprintf("call%d", uint32(c))
}

// Record flags (F_* in bpf/file.c).
const (
	fileFlagCwd      = 1
	fileFlagBase     = 2
	fileFlagPath1Cut = 4
	fileFlagPath2Cut = 8
	fileFlagFD       = 16
	fileFlagExtra    = 32
)

// Layout of struct change in bpf/file.c.
const (
	filePathLen  = 256
	fileCompMax  = 24
	fileCompLen  = 64
	fileExtraLen = 32
	fileOffArgs  = 64
	fileOffExtra = fileOffArgs + 6*8
	fileOffPath1 = 184
	fileOffPath2 = fileOffPath1 + filePathLen
	// walked: the working directory's components, then the base's; a record ends after the
	// last one used.
	fileOffWalked = fileOffPath2 + filePathLen
	fileRecordLen = fileOffWalked // the shortest record: no component
)

// DevIno names a file or directory: the device (as stat's st_dev) and the inode.
type DevIno struct {
	Dev uint64
	Ino uint64
}

// FileChange is one call that asked the kernel to change a file in (or below) a watched
// directory, as the calling task made it, at the call's entry. The call may still fail: callers
// match records with what they observe and never take a record for an observation.
type FileChange struct {
	Call           Call
	PID, TID, PPID int32 // PID is the thread group (the process)
	UID, GID       uint32
	EUID, EGID     uint32
	BootNS         uint64 // CLOCK_BOOTTIME, the clock of Now and of exec records
	Comm           string
	Args           [6]uint64 // the raw arguments
	Extra          []byte    // what Args points at for utime*, openat2; nil when not read

	// ByFD: the call named its file by descriptor; File, FileMode and Parent are that file's,
	// and Base its path.
	ByFD     bool
	File     DevIno
	FileMode uint32
	Parent   DevIno
	// Base is the path of the descriptor's file (ByFD) or of the directory a relative first
	// path is resolved from when that is a dirfd; "" when there is none or it could not be read.
	Base string
	// Path1 and Path2 are the path arguments as the caller gave them (cut at 255 bytes:
	// Path1Cut, Path2Cut).
	Path1, Path2       string
	Path1Cut, Path2Cut bool
	// Cwd is the task's working directory when it made the call, relative to its root; "" when
	// it could not be read completely (too deep, a name longer than 63 bytes).
	Cwd string
}

// parseFileChange decodes a ring-buffer record. Lengths are checked: a short record is an error,
// not a panic.
func parseFileChange(b []byte) (FileChange, error) {
	var c FileChange
	if len(b) < fileRecordLen {
		return c, fmt.Errorf("%w: file record of %d bytes, need %d", errRecord, len(b), fileRecordLen)
	}
	le := binary.LittleEndian
	u := func(off int) uint32 { return le.Uint32(b[off:]) }
	q := func(off int) uint64 { return le.Uint64(b[off:]) }
	c.Call = Call(u(0))
	if c.Call == 0 || c.Call >= callEnd {
		return c, fmt.Errorf("%w: call %d", errRecord, c.Call)
	}
	c.PID, c.TID = int32(u(4)), int32(u(8))
	c.UID, c.GID, c.EUID, c.EGID = u(12), u(16), u(20), u(24)
	c.PPID = int32(u(28))
	flags := u(32)
	c.BootNS = q(40)
	c.Comm = cstring(b[48:64])
	for i := range c.Args {
		c.Args[i] = q(fileOffArgs + 8*i)
	}
	if flags&fileFlagExtra != 0 {
		c.Extra = append([]byte(nil), b[fileOffExtra:fileOffExtra+fileExtraLen]...)
	}
	c.ByFD = flags&fileFlagFD != 0
	if c.ByFD {
		c.File = DevIno{Dev: UserDev(u(144)), Ino: q(152)}
		c.FileMode = u(148)
		c.Parent = DevIno{Dev: UserDev(u(160)), Ino: q(168)}
	}
	c.Path1 = cstring(b[fileOffPath1 : fileOffPath1+filePathLen])
	c.Path2 = cstring(b[fileOffPath2 : fileOffPath2+filePathLen])
	c.Path1Cut, c.Path2Cut = flags&fileFlagPath1Cut != 0, flags&fileFlagPath2Cut != 0
	var cwdN, baseN uint32
	if flags&fileFlagCwd != 0 {
		cwdN = u(176)
	}
	if flags&fileFlagBase != 0 {
		baseN = u(164)
	}
	if cwdN > fileCompMax || baseN > fileCompMax {
		return c, fmt.Errorf("%w: %d and %d path components", errRecord, cwdN, baseN)
	}
	if need := fileOffWalked + int(cwdN+baseN)*fileCompLen; len(b) < need {
		return c, fmt.Errorf("%w: file record of %d bytes, its components need %d", errRecord, len(b), need)
	}
	var err error
	if flags&fileFlagCwd != 0 {
		if c.Cwd, err = walked(b[fileOffWalked:], cwdN); err != nil {
			return c, err
		}
	}
	if flags&fileFlagBase != 0 {
		if c.Base, err = walked(b[fileOffWalked+int(cwdN)*fileCompLen:], baseN); err != nil {
			return c, err
		}
	}
	return c, nil
}

// walked joins n components written leaf first into an absolute path.
func walked(b []byte, n uint32) (string, error) {
	if n > fileCompMax {
		return "", fmt.Errorf("%w: %d path components", errRecord, n)
	}
	parts := make([]string, n)
	for i := 0; i < int(n); i++ {
		name := cstring(b[i*fileCompLen : (i+1)*fileCompLen])
		if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
			return "", fmt.Errorf("%w: path component %q", errRecord, name)
		}
		parts[int(n)-1-i] = name
	}
	return "/" + strings.Join(parts, "/"), nil
}

// KernelDev converts st_dev to the kernel's encoding (MKDEV: major << 20 | minor), the one the
// programs read from a super_block.
func KernelDev(dev uint64) uint32 {
	return uint32(unix.Major(dev))<<20 | uint32(unix.Minor(dev))&0xfffff
}

// UserDev converts the kernel's encoding back to st_dev.
func UserDev(k uint32) uint64 {
	return unix.Mkdev(k>>20, k&0xfffff)
}

// What a call asks for, by kind.
const (
	WantMode   = 1 << iota // a new mode (chmod family; an ACL through the xattr calls)
	WantOwner              // chown family
	WantTimes              // times given by the caller (touch -d), not "now"
	WantTouch              // times set to now
	WantWrite              // opened for writing, truncated
	WantCreate             // an entry made (O_CREAT, creat, mknod, mkdir, link, symlink, a rename's target)
	WantRemove             // an entry removed (unlink, rmdir, a rename's source)
	WantXattr              // an extended attribute set or removed
	WantMount              // a mount on the entry
)

// Touch is one path a call names and what it asks of it.
type Touch struct {
	Path string // host path, cleaned
	Want int    // Want* bits
	// Mode is the mode asked for (WantMode, and WantCreate when the call gives one), with its
	// file type bits for mknod and mkdir.
	Mode     uint32
	HaveMode bool
	UID, GID uint32 // WantOwner; ^0 for "unchanged"
	MtimeNS  int64  // WantTimes: the modification time asked for (UTIME_OMIT: 0)
}

// Special tv_nsec values of utimensat.
const (
	utimeNow  = (1 << 30) - 1
	utimeOmit = (1 << 30) - 2
	atFDCWD   = -100
	atEmpty   = 0x1000 // AT_EMPTY_PATH
)

// resolve makes a path argument absolute: against base (a dirfd's path) or the working
// directory. ok is false when that base is unknown, or the argument was cut.
func (c *FileChange) resolve(p string, cut bool, dirfd int64, useDirfd bool) (string, bool) {
	if cut || p == "" {
		return "", false
	}
	if p[0] == '/' {
		return path.Clean(p), true
	}
	base := c.Cwd
	if useDirfd && dirfd != atFDCWD {
		base = c.Base
	}
	if base == "" {
		return "", false
	}
	return path.Join(base, p), true
}

func (c *FileChange) arg(i int) int64 { return int64(int32(c.Args[i])) }

// Touches returns what the call asks of each path it names that can be resolved.
func (c *FileChange) Touches() []Touch {
	var out []Touch
	add := func(p string, ok bool, t Touch) {
		if ok {
			t.Path = p
			out = append(out, t)
		}
	}
	// first resolves the call's first path: by descriptor, or Path1 against dirfd argument d
	// (-1: the working directory).
	first := func(d int) (string, bool) {
		if c.ByFD {
			return c.Base, c.Base != ""
		}
		if d < 0 {
			return c.resolve(c.Path1, c.Path1Cut, atFDCWD, false)
		}
		return c.resolve(c.Path1, c.Path1Cut, c.arg(d), true)
	}
	second := func(d int) (string, bool) {
		dirfd := int64(atFDCWD)
		if d >= 0 {
			dirfd = c.arg(d)
		}
		if dirfd != atFDCWD && c.Path2 != "" && c.Path2[0] != '/' {
			// The second dirfd's path is read only when it is the first's.
			if d < 1 || c.arg(0) != dirfd || c.ByFD {
				return "", false
			}
			return c.resolve(c.Path2, c.Path2Cut, dirfd, true)
		}
		return c.resolve(c.Path2, c.Path2Cut, atFDCWD, false)
	}
	mode := func(i int) Touch { return Touch{Want: WantMode, Mode: uint32(c.Args[i]) & 0o7777, HaveMode: true} }
	owner := func(u, g int) Touch { return Touch{Want: WantOwner, UID: uint32(c.Args[u]), GID: uint32(c.Args[g])} }
	switch c.Call {
	case CallChmod:
		p, ok := first(-1)
		add(p, ok, mode(1))
	case CallFchmod:
		p, ok := first(-1)
		add(p, ok, mode(1))
	case CallFchmodat, CallFchmodat2:
		p, ok := first(0)
		add(p, ok, mode(2))
	case CallChown, CallLchown:
		p, ok := first(-1)
		add(p, ok, owner(1, 2))
	case CallFchown:
		p, ok := first(-1)
		add(p, ok, owner(1, 2))
	case CallFchownat:
		p, ok := first(0)
		add(p, ok, owner(2, 3))
	case CallUtime, CallUtimes, CallUtimensat, CallFutimesat:
		d := -1
		if c.Call == CallUtimensat || c.Call == CallFutimesat {
			d = 0
		}
		p, ok := first(d)
		add(p, ok, c.times())
	case CallOpen, CallOpenat, CallOpenat2, CallCreat:
		var fl, m uint64
		d := -1
		switch c.Call {
		case CallOpen:
			fl, m = c.Args[1], c.Args[2]
		case CallOpenat:
			fl, m, d = c.Args[2], c.Args[3], 0
		case CallOpenat2:
			d = 0
			if len(c.Extra) >= 16 {
				fl, m = binary.LittleEndian.Uint64(c.Extra), binary.LittleEndian.Uint64(c.Extra[8:])
			}
		case CallCreat:
			fl, m = unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, c.Args[1]
		}
		t := Touch{}
		if fl&(unix.O_WRONLY|unix.O_RDWR|unix.O_TRUNC) != 0 {
			t.Want |= WantWrite
		}
		if fl&unix.O_CREAT != 0 {
			t.Want |= WantCreate
			t.Mode, t.HaveMode = uint32(m)&0o7777|unix.S_IFREG, true
		}
		p, ok := first(d)
		add(p, ok, t)
	case CallTruncate, CallFtruncate:
		p, ok := first(-1)
		add(p, ok, Touch{Want: WantWrite})
	case CallMknod, CallMkdir:
		p, ok := first(-1)
		add(p, ok, Touch{Want: WantCreate, Mode: madeMode(c.Args[1], c.Call == CallMkdir), HaveMode: true})
	case CallMknodat, CallMkdirat:
		p, ok := first(0)
		add(p, ok, Touch{Want: WantCreate, Mode: madeMode(c.Args[2], c.Call == CallMkdirat), HaveMode: true})
	case CallUnlink, CallRmdir:
		p, ok := first(-1)
		add(p, ok, Touch{Want: WantRemove})
	case CallUnlinkat:
		p, ok := first(0)
		add(p, ok, Touch{Want: WantRemove})
	case CallRename, CallRenameat, CallRenameat2:
		d1, d2 := -1, -1
		if c.Call != CallRename {
			d1, d2 = 0, 2
		}
		p, ok := first(d1)
		add(p, ok, Touch{Want: WantRemove})
		q, ok := second(d2)
		add(q, ok, Touch{Want: WantCreate | WantWrite})
	case CallLink, CallLinkat:
		d2 := -1
		if c.Call == CallLinkat {
			d2 = 2
		}
		q, ok := second(d2)
		add(q, ok, Touch{Want: WantCreate})
	case CallSymlink, CallSymlinkat:
		d2 := -1
		if c.Call == CallSymlinkat {
			d2 = 1
		}
		q, ok := second(d2)
		add(q, ok, Touch{Want: WantCreate, Mode: unix.S_IFLNK | 0o777, HaveMode: true})
	case CallSetxattr, CallLsetxattr, CallFsetxattr, CallRemovexattr, CallLremovexattr, CallFremovexattr:
		p, ok := first(-1)
		add(p, ok, Touch{Want: WantXattr | WantMode}) // a POSIX ACL changes the mode's group bits
	case CallSetxattrat, CallRemovexattrat:
		p, ok := first(0)
		add(p, ok, Touch{Want: WantXattr | WantMode})
	case CallMount:
		q, ok := second(-1)
		add(q, ok, Touch{Want: WantMount})
	case CallMoveMount:
		q, ok := second(2)
		add(q, ok, Touch{Want: WantMount})
	}
	return out
}

// times says what a utime* call asks: explicit times (touch -d) or now.
func (c *FileChange) times() Touch {
	if c.Extra == nil {
		return Touch{Want: WantTouch} // NULL times: now
	}
	le := binary.LittleEndian
	switch c.Call {
	case CallUtime: // struct utimbuf { actime, modtime }
		return Touch{Want: WantTimes, MtimeNS: int64(le.Uint64(c.Extra[8:])) * 1e9}
	case CallUtimes, CallFutimesat: // struct timeval[2]
		return Touch{Want: WantTimes, MtimeNS: int64(le.Uint64(c.Extra[16:]))*1e9 + int64(le.Uint64(c.Extra[24:]))*1e3}
	}
	// utimensat: struct timespec[2]
	mns := int64(le.Uint64(c.Extra[24:]))
	ans := int64(le.Uint64(c.Extra[8:]))
	switch {
	case mns == utimeOmit && (ans == utimeOmit || ans == utimeNow):
		return Touch{Want: WantTouch}
	case mns == utimeNow:
		return Touch{Want: WantTouch}
	case mns == utimeOmit:
		return Touch{Want: WantTimes}
	}
	return Touch{Want: WantTimes, MtimeNS: int64(le.Uint64(c.Extra[16:]))*1e9 + mns}
}

// madeMode is the mode, with its type, of what mkdir (dir) or mknod was asked to make: mknod's
// mode without a type makes a regular file.
func madeMode(arg uint64, dir bool) uint32 {
	m := uint32(arg)
	if dir {
		return m&0o7777 | unix.S_IFDIR
	}
	if m&unix.S_IFMT == 0 {
		m |= unix.S_IFREG
	}
	return m
}
