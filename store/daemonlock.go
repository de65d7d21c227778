package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
)

// DaemonLock is the exclusive claim of one daemon on a database. Two daemons on one database
// would split the kernel's events between them, each seeing only some changes, so the second
// refuses to start. The lock is an flock(2) on a file beside the database (NAME.daemon.lock),
// which holds the pid of its holder; the kernel drops it when the holder exits however it exits,
// so a killed daemon never leaves a stale lock behind. One-shot commands (scan, history, accept)
// do not take it: they use SQLite's own locking and work beside the daemon.
type DaemonLock struct {
	f *os.File
}

// ErrDaemonRunning is wrapped when another daemon holds the database.
var ErrDaemonRunning = errors.New("another tripline watch uses this database")

// LockDaemon claims the database at dbPath for this process's daemon.
func LockDaemon(dbPath string) (*DaemonLock, error) {
	name := dbPath + ".daemon.lock"
	// The lock comes before the database is opened, which would create the directory.
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return nil, fmt.Errorf("database directory: %w", err)
	}
	fd, err := unix.Open(name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon lock %s: %w", baseline.QuotePath(name), err)
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			holder := "a process that did not write its pid"
			if b, err := os.ReadFile(name); err == nil {
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
					holder = "pid " + strconv.Itoa(pid)
				}
			}
			return nil, fmt.Errorf("database %s: %w (%s holds it): stop that one first, or give this one another --db",
				dbPath, ErrDaemonRunning, holder)
		}
		return nil, fmt.Errorf("daemon lock %s: %w", baseline.QuotePath(name), err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("daemon lock %s: %w", baseline.QuotePath(name), err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("daemon lock %s: %w", baseline.QuotePath(name), err)
	}
	return &DaemonLock{f: f}, nil
}

// Release gives the database up (the lock file stays, empty of meaning until the next claim).
func (l *DaemonLock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
