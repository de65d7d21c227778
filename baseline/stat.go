package baseline

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// DefaultMaxHashBytes is the size cap above which regular files are recorded but not hashed.
const DefaultMaxHashBytes = 64 << 20

// Errors a hash can end with. They are wrapped with the path; test them with errors.Is.
var (
	ErrVanished = errors.New("vanished while being read")
	ErrChanged  = errors.New("changed while being read")
	ErrReplaced = errors.New("replaced between stat and open")
)

// statAt runs statx on name relative to dirfd without following a final symlink and returns an
// Entry with every field but Path, Location, Target and the hash.
func statAt(dirfd int, name string) (Entry, error) {
	var st unix.Statx_t
	err := unix.Statx(dirfd, name, unix.AT_SYMLINK_NOFOLLOW|unix.AT_NO_AUTOMOUNT,
		unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st)
	if err != nil {
		return Entry{}, err
	}
	return entryFromStatx(&st), nil
}

func entryFromStatx(st *unix.Statx_t) Entry {
	e := Entry{
		Type:      typeOf(uint32(st.Mode)),
		Mode:      uint32(st.Mode) & ModePerm,
		UID:       st.Uid,
		GID:       st.Gid,
		Size:      int64(st.Size),
		Inode:     st.Ino,
		Dev:       unix.Mkdev(st.Dev_major, st.Dev_minor),
		Nlink:     st.Nlink,
		MtimeNS:   st.Mtime.Sec*1e9 + int64(st.Mtime.Nsec),
		CtimeNS:   st.Ctime.Sec*1e9 + int64(st.Ctime.Nsec),
		HashState: HashNotComputed,
	}
	if st.Mask&unix.STATX_BTIME != 0 {
		e.BtimeNS = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	if e.Type != TypeFile {
		e.HashState = HashNotRegular
	}
	return e
}

func typeOf(mode uint32) Type {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return TypeFile
	case unix.S_IFDIR:
		return TypeDir
	case unix.S_IFLNK:
		return TypeSymlink
	case unix.S_IFIFO:
		return TypeFIFO
	case unix.S_IFSOCK:
		return TypeSocket
	case unix.S_IFCHR:
		return TypeChar
	case unix.S_IFBLK:
		return TypeBlock
	}
	return TypeUnknown
}

// readlinkAt returns a symlink's target, growing the buffer for long targets.
func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > 1<<16 {
			return string(buf[:n]), nil
		}
	}
}

// openNoFollow opens name under dirfd for reading without following a symlink, without blocking
// on a FIFO and, where the kernel allows it, without updating the access time.
func openNoFollow(dirfd int, name string) (int, error) {
	return openRead(dirfd, name, unix.O_NOFOLLOW)
}

// openRead opens for reading, non-blocking, without a controlling tty and, where allowed, without
// updating the access time; extra adds flags.
func openRead(dirfd int, name string, extra int) (int, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC | unix.O_NOCTTY | extra
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		// O_NOATIME is refused on files the caller does not own unless it has CAP_FOWNER.
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	for errors.Is(err, unix.EINTR) {
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	return fd, err
}

// openRegular opens for reading the regular file name under dirfd that e describes: with
// O_NOFOLLOW (a symlink swapped in is refused with ELOOP), O_NONBLOCK (a FIFO swapped in never
// blocks) and O_NOATIME, then checks with fstat that it is the same regular file the stat saw.
// Nothing but that file is ever read. A device node swapped in between the stat and the open
// would have its driver's open called (never a read); closing that window costs an O_PATH open
// and a reopen through /proc per file, measured at about a fifth of the hashing CPU, for a race
// that only someone who can already write to a persistence location (root) can run.
func openRegular(dirfd int, name string, e *Entry, st *unix.Stat_t) (int, error) {
	fd, err := openNoFollow(dirfd, name)
	if err != nil {
		return -1, err
	}
	if err := unix.Fstat(fd, st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Ino != e.Inode || st.Dev != e.Dev {
		unix.Close(fd)
		return -1, ErrReplaced
	}
	return fd, nil
}

// hashAt reads the regular file name under dirfd that e describes and sets e.SHA256 and
// e.HashState. It opens without following symlinks and without blocking, checks with fstat that it
// opened the same regular file the stat saw, and checks afterwards that the file did not change or
// vanish while being read. The returned error names what went wrong; e.HashState says it too.
func hashAt(dirfd int, name string, e *Entry, maxBytes int64, buf []byte) error {
	_, err := hashKeepAt(dirfd, name, e, maxBytes, buf, -1)
	return err
}

// hashKeepAt is hashAt that also returns the bytes it hashed when the file is at most keepMax
// bytes long (keepMax < 0: never), so that a caller who stores contents reads each file once.
// The bytes come back only with HashOK, and are then exactly those e.SHA256 is the hash of.
func hashKeepAt(dirfd int, name string, e *Entry, maxBytes int64, buf []byte, keepMax int64) ([]byte, error) {
	if e.Type != TypeFile {
		e.HashState = HashNotRegular
		return nil, nil
	}
	if maxBytes > 0 && e.Size > maxBytes {
		e.HashState = HashTooLarge
		return nil, nil
	}
	var before unix.Stat_t
	fd, err := openRegular(dirfd, name, e, &before)
	if err != nil {
		if errors.Is(err, ErrReplaced) {
			e.HashState = HashReplaced
			return nil, ErrReplaced
		}
		if errors.Is(err, unix.ENOENT) {
			e.HashState = HashVanished
			return nil, ErrVanished
		}
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENXIO) {
			// The name is now a symlink, or a FIFO/socket: something swapped it since the stat.
			e.HashState = HashReplaced
			return nil, ErrReplaced
		}
		e.HashState = HashUnreadable
		return nil, err
	}
	defer unix.Close(fd)
	testHookAfterOpen(name)
	var kept []byte
	keep := keepMax >= 0 && e.Size <= keepMax
	if keep {
		// One byte more than the size: a file that grew fills it, and a read that stops short of
		// it says the end was reached.
		kept = make([]byte, 0, e.Size+1)
	}
	h := sha256.New()
	var total int64
	for {
		// A kept file is read straight into kept, and hashed from there.
		into := buf
		if keep && len(kept) < cap(kept) {
			into = kept[len(kept):cap(kept)]
		}
		n, err := unix.Read(fd, into)
		if n > 0 {
			h.Write(into[:n])
			total += int64(n)
			if keep {
				switch {
				case int64(len(kept)+n) > keepMax:
					keep, kept = false, nil // it grew while being read: the fstat below says so
				case &into[0] == &buf[0]:
					kept = append(kept, into[:n]...)
				default:
					kept = kept[:len(kept)+n]
				}
			}
		}
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			e.HashState = HashUnreadable
			return nil, err
		}
		if n == 0 {
			break
		}
		if n < len(into) && total == before.Size && total > 0 {
			// A short read that reached the size the file had when opened is its end: no read
			// for the end of file (one system call of five per small file). Had the file grown
			// or been written since, the fstat below sees another size or mtime, as it would
			// after reading to the end.
			break
		}
	}
	var after unix.Stat_t
	if err := unix.Fstat(fd, &after); err != nil {
		e.HashState = HashUnreadable
		return nil, err
	}
	if after.Nlink == 0 {
		e.HashState = HashVanished
		return nil, ErrVanished
	}
	if after.Size != before.Size || after.Mtim != before.Mtim || after.Ctim != before.Ctim ||
		after.Size != e.Size {
		e.HashState = HashChanged
		return nil, ErrChanged
	}
	e.SHA256 = hex.EncodeToString(h.Sum(nil))
	e.HashState = HashOK
	if int64(len(kept)) != e.Size {
		kept = nil
	}
	return kept, nil
}

// testHookAfterOpen lets tests act on a file between open and read (delete it, say).
var testHookAfterOpen = func(name string) {}

// Stat observes the logical path p (absolute, e.g. "/etc/rc.local") under root ("" or "/" for the
// host). It resolves every directory component without following symlinks (so a symlinked
// component can never lead outside root), stats the final name with statx, reads a symlink's
// target and hashes a regular file up to maxBytes (0 means DefaultMaxHashBytes; negative means do
// not hash). A hash problem is returned as an error with e.HashState saying what happened; the
// Entry is still valid then.
func Stat(root, p string, maxBytes int64) (Entry, error) {
	if !path.IsAbs(p) {
		return Entry{}, fmt.Errorf("stat %q: not an absolute path", p)
	}
	p = path.Clean(p)
	if maxBytes == 0 {
		maxBytes = DefaultMaxHashBytes
	}
	dirfd, name, err := openParent(root, p)
	if err != nil {
		return Entry{}, err
	}
	defer unix.Close(dirfd)
	e, err := statAt(dirfd, name)
	if err != nil {
		return Entry{}, &PathError{Path: p, Err: err}
	}
	e.Path = p
	if e.Type == TypeSymlink {
		if e.Target, err = readlinkAt(dirfd, name); err != nil {
			return e, &PathError{Path: p, Err: err}
		}
	}
	if maxBytes > 0 && e.Type == TypeFile {
		bp := hashBufs.Get().(*[]byte)
		defer hashBufs.Put(bp)
		if err := hashAt(dirfd, name, &e, maxBytes, *bp); err != nil {
			return e, &PathError{Path: p, Err: err}
		}
	}
	return e, nil
}

const hashBufSize = 256 << 10

// hashBufs keeps read buffers for Stat, which a daemon calls for every event.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, hashBufSize); return &b }}

// openParent opens the directory that holds the clean absolute logical path p under root, one
// component at a time and never through a symlink, and returns it with p's last name ("." for
// the root itself). The caller closes the descriptor.
func openParent(root, p string) (int, string, error) {
	dirfd, err := openRoot(root)
	if err != nil {
		return -1, "", err
	}
	if p == "/" {
		return dirfd, ".", nil
	}
	parts := strings.Split(p[1:], "/")
	for _, part := range parts[:len(parts)-1] {
		fd, err := openDirAt(dirfd, part)
		unix.Close(dirfd)
		if err != nil {
			return -1, "", &PathError{Path: p, Err: err}
		}
		dirfd = fd
	}
	return dirfd, parts[len(parts)-1], nil
}

func openRoot(root string) (int, error) {
	if root == "" {
		root = "/"
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &PathError{Path: root, Err: err}
	}
	return fd, nil
}

// openDirAt opens a directory under dirfd for listing and for *at calls, refusing symlinks.
func openDirAt(dirfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// openDirPath opens the directory at logical path p under root without following symlinks.
func openDirPath(root, p string) (int, error) {
	dirfd, name, err := openParent(root, p)
	if err != nil {
		return -1, err
	}
	if name == "." {
		return dirfd, nil
	}
	defer unix.Close(dirfd)
	return openDirAt(dirfd, name)
}

// PathError is an error about one logical path. Its message names the path in a form that is safe
// to print on one line, whatever bytes the name contains.
type PathError struct {
	Path string
	Err  error
}

func (e *PathError) Error() string { return QuotePath(e.Path) + ": " + errText(e.Err) }
func (e *PathError) Unwrap() error { return e.Err }

func errText(err error) string {
	var errno unix.Errno
	if errors.As(err, &errno) {
		switch errno {
		case unix.ENOTDIR:
			return "a path component is not a directory (or is a symlink, which is never followed)"
		case unix.ELOOP:
			return "is a symlink where a directory was expected (symlinks are never followed)"
		}
	}
	return err.Error()
}

// ErrLinkLoop means following a symlink chain under a root did not end within MaxLinkHops.
var ErrLinkLoop = errors.New("symlink loop")

// MaxLinkHops bounds FollowLink, as the kernel's MAXSYMLINKS does.
const MaxLinkHops = 40

// FollowLink resolves the symlink at logical path p under root, lexically and without opening
// anything but directories: each hop's target is joined to the link's directory, and the chain
// ends at the first path that is not a symlink (or does not exist). It returns the final logical
// path, ErrLinkLoop when the chain loops, or the error that stopped it. Symlinks in directory
// components are not followed (Stat refuses them), so the chain never leaves root.
func FollowLink(root, p string) (string, error) {
	seen := map[string]bool{}
	cur := path.Clean(p)
	for hop := 0; hop <= MaxLinkHops; hop++ {
		if seen[cur] {
			return cur, ErrLinkLoop
		}
		seen[cur] = true
		e, err := Stat(root, cur, -1)
		if err != nil {
			return cur, err
		}
		if e.Type != TypeSymlink {
			return cur, nil
		}
		if path.IsAbs(e.Target) {
			cur = path.Clean(e.Target)
		} else {
			cur = path.Join(path.Dir(cur), e.Target)
		}
	}
	return cur, ErrLinkLoop
}

// Glob expands the wildcards (path.Match syntax, within one segment) of an absolute logical
// pattern under root and returns the entries that exist, in order. Directory components are never
// followed through symlinks. A "**" segment is not expanded: Glob stops before it.
func Glob(root, pattern string) ([]Entry, error) {
	pattern = path.Clean(pattern)
	if !path.IsAbs(pattern) {
		return nil, fmt.Errorf("glob %q: not absolute", pattern)
	}
	cands := []string{"/"}
	if pattern != "/" {
		for _, seg := range strings.Split(pattern[1:], "/") {
			if seg == "**" {
				break
			}
			var next []string
			for _, c := range cands {
				if !strings.ContainsAny(seg, "*?[\\") {
					next = append(next, path.Join(c, seg))
					continue
				}
				dirfd, err := openDirPath(root, c)
				if err != nil {
					continue // no such directory here: nothing matches below it
				}
				names, err := readNames(dirfd, c)
				unix.Close(dirfd)
				if err != nil {
					continue
				}
				sort.Strings(names)
				for _, n := range names {
					if ok, _ := path.Match(seg, n); ok {
						next = append(next, path.Join(c, n))
					}
				}
			}
			cands = next
		}
	}
	var out []Entry
	for _, c := range cands {
		e, err := Stat(root, c, -1)
		if err != nil {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}
