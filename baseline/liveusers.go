package baseline

import (
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// LiveUsers names users and groups from a root's /etc/passwd and /etc/group as they are when
// asked: a daemon that started before a user was added names that user all the same. Each call
// to Users checks the two files (an lstat each: the daemon asks for every line it writes, so the
// check is one system call per file, not Stat's open-and-verify) and reloads them, through
// LoadUsers, which never follows a symlink, when either changed. Its methods are safe for
// concurrent use.
type LiveUsers struct {
	root string

	mu    sync.Mutex
	stamp [2]stamp // what the files were when last read
	have  [2]bool
	cur   *Users
}

// NewLiveUsers loads root's accounts and keeps them current.
func NewLiveUsers(root string) *LiveUsers {
	l := &LiveUsers{root: root}
	l.Users()
	return l
}

var accountFiles = [2]string{"/etc/passwd", "/etc/group"}

// Users returns the names as the files say now. The result is not changed later: a reload makes
// a new one.
func (l *LiveUsers) Users() *Users {
	l.mu.Lock()
	defer l.mu.Unlock()
	var now [2]stamp
	var have [2]bool
	for i, p := range accountFiles {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(l.root, p), &st); err == nil {
			now[i] = stamp{st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano()}
			have[i] = true
		}
	}
	if l.cur != nil && have == l.have && now == l.stamp {
		return l.cur
	}
	l.cur, l.stamp, l.have = LoadUsers(l.root), now, have
	return l.cur
}

// stamp is what says a file changed: device, inode, size, mtime and ctime.
type stamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}
