package baseline

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"

	"golang.org/x/sys/unix"
)

// ReadContent reads the regular file at logical path p under root that e describes (same inode
// and device, never through a symlink, never blocking), and returns its bytes only if they are
// exactly what e recorded: e.Size bytes whose sha256 is e.SHA256. A file that changed since it
// was hashed is ErrChanged; one replaced, ErrReplaced. max bounds what is read.
func ReadContent(root, p string, e *Entry, max int64) ([]byte, error) {
	if e.Type != TypeFile || e.HashState != HashOK {
		return nil, fmt.Errorf("read %s: not a hashed regular file", QuotePath(p))
	}
	if e.Size > max {
		return nil, fmt.Errorf("read %s: %d bytes, over the %d-byte cap", QuotePath(p), e.Size, max)
	}
	dirfd, name, err := openParent(root, path.Clean(p))
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	var st unix.Stat_t
	fd, err := openRegular(dirfd, name, e, &st)
	if err != nil {
		return nil, &PathError{Path: p, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, e.Size+1)
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, &PathError{Path: p, Err: err}
		}
		if m == 0 {
			break
		}
		n += m
	}
	sum := sha256.Sum256(buf[:n])
	if int64(n) != e.Size || hex.EncodeToString(sum[:]) != e.SHA256 {
		return nil, &PathError{Path: p, Err: ErrChanged}
	}
	return buf[:n], nil
}

// RestorePlan says what Restore changes (or would change, in a dry run).
type RestorePlan struct {
	Mode, Owner, Content bool // what differs from the baseline and is put back
	// ContentMissing: the content differs but the baseline's is not available; only the mode and
	// owner are put back.
	ContentMissing bool
	Create         bool // the file is gone and is created again from the baseline content
}

// Changes lists the plan in words.
func (r RestorePlan) Changes(cur, want *Entry) []string {
	var out []string
	if r.Create {
		out = append(out, fmt.Sprintf("re-created from the baseline content (%d bytes, sha256 %.12s)", want.Size, want.SHA256))
		return out
	}
	if r.Content {
		out = append(out, fmt.Sprintf("content %d bytes (sha256 %.12s) -> baseline %d bytes (sha256 %.12s)", cur.Size, cur.SHA256, want.Size, want.SHA256))
	}
	if r.Mode {
		out = append(out, fmt.Sprintf("mode %s -> %s", ModeString(cur.Mode), ModeString(want.Mode)))
	}
	if r.Owner {
		out = append(out, fmt.Sprintf("owner %d:%d -> %d:%d", cur.UID, cur.GID, want.UID, want.GID))
	}
	if r.ContentMissing {
		out = append(out, "content differs from the baseline, whose content is not stored: NOT restored")
	}
	return out
}

// ErrNotRestorable is wrapped when a path cannot be put back safely.
var ErrNotRestorable = errors.New("cannot be restored safely")

// Restore puts the regular file at logical path p under root back to want (its baseline entry):
// mode and owner, and, unless modeOnly, its content (from content; nil when not stored). It never
// follows a symlink: every directory is opened without following, a symlink or anything but a
// regular file where the file should be is refused, the mode and owner are set on an open
// descriptor of the very file that was checked, and content is written to a new temporary file
// in the same directory that is renamed over the name (atomic: readers see the old file or the
// new one). cur is the file as observed now (nil: it is gone). dryRun plans without changing.
func Restore(root, p string, cur, want *Entry, content []byte, modeOnly, dryRun bool) (RestorePlan, error) {
	var plan RestorePlan
	if want.Type != TypeFile {
		return plan, fmt.Errorf("%s: the baseline has a %s here; only regular files are restored: %w", QuotePath(p), want.Type, ErrNotRestorable)
	}
	if cur != nil && cur.Type != TypeFile {
		return plan, fmt.Errorf("%s: is now a %s, not a regular file (remove it first; tripline never writes through it): %w", QuotePath(p), cur.Type, ErrNotRestorable)
	}
	haveContent := false
	if content != nil && int64(len(content)) == want.Size {
		sum := sha256.Sum256(content)
		haveContent = hex.EncodeToString(sum[:]) == want.SHA256
	}
	switch {
	case cur == nil:
		if modeOnly || !haveContent {
			return plan, fmt.Errorf("%s: is gone and its baseline content is not stored: %w", QuotePath(p), ErrNotRestorable)
		}
		plan.Create = true
	default:
		plan.Mode = cur.Mode != want.Mode
		plan.Owner = cur.UID != want.UID || cur.GID != want.GID
		if cur.SHA256 != want.SHA256 || cur.Size != want.Size {
			if modeOnly {
				break
			}
			if haveContent {
				plan.Content = true
			} else {
				plan.ContentMissing = true
			}
		}
	}
	if dryRun || !(plan.Create || plan.Content || plan.Mode || plan.Owner) {
		return plan, nil
	}
	dirfd, name, err := openParent(root, path.Clean(p))
	if err != nil {
		return plan, err
	}
	defer unix.Close(dirfd)
	if plan.Create || plan.Content {
		return plan, replaceContent(dirfd, name, p, want, content)
	}
	var st unix.Stat_t
	fd, err := openRegular(dirfd, name, cur, &st)
	if err != nil {
		return plan, &PathError{Path: p, Err: err}
	}
	defer unix.Close(fd)
	if err := ownInode(p, &st, want); err != nil {
		return plan, err
	}
	if plan.Owner {
		if err := unix.Fchown(fd, int(want.UID), int(want.GID)); err != nil {
			return plan, &PathError{Path: p, Err: err}
		}
	}
	// After the chown, which clears setuid and setgid bits.
	if err := unix.Fchmod(fd, want.Mode&ModePerm); err != nil {
		return plan, &PathError{Path: p, Err: err}
	}
	return plan, nil
}

// ownInode refuses to change an inode that is not only the file at p: a hard link to another
// file (~/.bashrc replaced by a link to /etc/shadow) would have that other file's mode and owner
// changed. An inode with more than one name is changed only when it is the very inode the
// baseline approved at p (a file that was hard-linked when it was approved).
func ownInode(p string, st *unix.Stat_t, want *Entry) error {
	if st.Nlink <= 1 || (st.Dev == want.Dev && st.Ino == want.Inode) {
		return nil
	}
	return fmt.Errorf("%s: is now a hard link (%d names) to inode %d on device %d, not the file the baseline approved (inode %d): changing its mode or owner would change every other name of that file too; remove the link and restore again: %w",
		QuotePath(p), st.Nlink, st.Ino, st.Dev, want.Inode, ErrNotRestorable)
}

// replaceContent writes content into a new file beside name and renames it over name.
func replaceContent(dirfd int, name, p string, want *Entry, content []byte) error {
	var tmp string
	var fd int
	var err error
	for i := 0; i < 100; i++ {
		var rnd [6]byte
		if _, err := io.ReadFull(rand.Reader, rnd[:]); err != nil {
			return err
		}
		tmp = fmt.Sprintf(".tripline-restore-%x", rnd)
		fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return &PathError{Path: p, Err: err}
	}
	ok := false
	defer func() {
		if !ok {
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	for off := 0; off < len(content); {
		n, err := unix.Write(fd, content[off:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			unix.Close(fd)
			return &PathError{Path: p, Err: err}
		}
		off += n
	}
	if err := unix.Fchown(fd, int(want.UID), int(want.GID)); err != nil {
		unix.Close(fd)
		return &PathError{Path: p, Err: err}
	}
	if err := unix.Fchmod(fd, want.Mode&ModePerm); err != nil {
		unix.Close(fd)
		return &PathError{Path: p, Err: err}
	}
	if err := unix.Fsync(fd); err != nil {
		unix.Close(fd)
		return &PathError{Path: p, Err: err}
	}
	if err := unix.Close(fd); err != nil {
		return &PathError{Path: p, Err: err}
	}
	// The baseline's modification time too, so the restored file matches it in all but its
	// inode and change time.
	mt := unix.NsecToTimespec(want.MtimeNS)
	if err := unix.UtimesNanoAt(dirfd, tmp, []unix.Timespec{mt, mt}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &PathError{Path: p, Err: err}
	}
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		return &PathError{Path: p, Err: err}
	}
	ok = true
	return unix.Fsync(dirfd)
}
