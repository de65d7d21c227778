package baseline

import (
	"sync"
)

// LiveUsers names users and groups from a root's /etc/passwd and /etc/group as they are when
// asked: a daemon that started before a user was added names that user all the same. Each call
// to Users checks the two files (a stat each, never following a symlink) and reloads them when
// either changed. Its methods are safe for concurrent use.
type LiveUsers struct {
	root string

	mu    sync.Mutex
	stamp [2]Entry // what the files were when last read (Dev, Inode, Size, MtimeNS, CtimeNS)
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
	var now [2]Entry
	var have [2]bool
	for i, p := range accountFiles {
		if e, err := Stat(l.root, p, -1); err == nil {
			now[i], have[i] = e, true
		}
	}
	if l.cur != nil && have == l.have && sameStamp(&now[0], &l.stamp[0]) && sameStamp(&now[1], &l.stamp[1]) {
		return l.cur
	}
	l.cur, l.stamp, l.have = LoadUsers(l.root), now, have
	return l.cur
}

func sameStamp(a, b *Entry) bool {
	return a.Dev == b.Dev && a.Inode == b.Inode && a.Size == b.Size && a.MtimeNS == b.MtimeNS && a.CtimeNS == b.CtimeNS
}
