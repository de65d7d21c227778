package baseline

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Users maps uids and gids to names, read from a root's /etc/passwd and /etc/group (so a scan of a
// disk image names owners as that image does). The zero value knows no names.
type Users struct {
	users  map[uint32]string
	groups map[uint32]string
}

// maxAccountFile bounds how much of /etc/passwd or /etc/group is read.
const maxAccountFile = 16 << 20

// LoadUsers reads root's /etc/passwd and /etc/group. Missing or unreadable files leave the names
// unknown; they are never an error, since ids are always reported too.
func LoadUsers(root string) *Users {
	u := &Users{}
	if b, err := readSmall(root, "/etc/passwd"); err == nil {
		u.users = ParseAccounts(bytes.NewReader(b))
	}
	if b, err := readSmall(root, "/etc/group"); err == nil {
		u.groups = ParseAccounts(bytes.NewReader(b))
	}
	return u
}

// User returns the name of uid, or "".
func (u *Users) User(uid uint32) string {
	if u == nil {
		return ""
	}
	return u.users[uid]
}

// UIDOf returns the uid of a user name (the lowest, if several share it).
func (u *Users) UIDOf(name string) (uint32, bool) {
	if u == nil || name == "" {
		return 0, false
	}
	var found bool
	var best uint32
	for id, n := range u.users {
		if n == name && (!found || id < best) {
			best, found = id, true
		}
	}
	return best, found
}

// Group returns the name of gid, or "".
func (u *Users) Group(gid uint32) string {
	if u == nil {
		return ""
	}
	return u.groups[gid]
}

// ParseAccounts reads passwd(5) or group(5) lines ("name:x:id:..."), keeping the first name of
// each id. Malformed lines are skipped: these files are read for display only.
func ParseAccounts(r io.Reader) map[uint32]string {
	out := map[uint32]string{}
	// A bufio.Scanner would stop for good at an over-long line; a Reader skips it and goes on.
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull { // an over-long line: drop it to its end
			_, err = br.ReadSlice('\n')
			raw = nil
		}
		if len(raw) == 0 && err != nil {
			break
		}
		line := strings.TrimRight(string(raw), "\r\n")
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 || f[0] == "" {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := out[uint32(id)]; !dup {
			out[uint32(id)] = f[0]
		}
	}
	return out
}

// readSmall reads a regular file at logical path p under root, never following a symlink in any
// component, up to maxAccountFile bytes.
func readSmall(root, p string) ([]byte, error) {
	dirfd, name, err := openParent(root, p)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dirfd)
	e, err := statAt(dirfd, name)
	if err != nil {
		return nil, err
	}
	if e.Type != TypeFile {
		return nil, unix.EINVAL
	}
	fd, err := openNoFollow(dirfd, name)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var buf bytes.Buffer
	chunk := make([]byte, 64<<10)
	for buf.Len() < maxAccountFile {
		n, err := unix.Read(fd, chunk)
		if n > 0 {
			buf.Write(chunk[:n])
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
	}
	return buf.Bytes(), nil
}
