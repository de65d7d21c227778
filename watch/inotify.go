package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/fsnotify/fsnotify"

	"github.com/tripline/tripline/attrib"
)

// inotify is the fallback backend, through fsnotify. Its events carry no pid: attribution is
// unavailable with it, and the output says so.
type inotify struct {
	w    *fsnotify.Watcher
	done chan struct{} // closed by Close: a Run blocked sending returns
	once sync.Once
	mu   sync.Mutex
	dirs map[string]bool
}

func newInotify() (*inotify, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		if errors.Is(err, syscall.EMFILE) {
			return nil, fmt.Errorf("inotify: too many instances (fs.inotify.max_user_instances): %w", err)
		}
		return nil, fmt.Errorf("inotify: %w", err)
	}
	return &inotify{w: w, done: make(chan struct{}), dirs: map[string]bool{}}, nil
}

func (n *inotify) Name() string { return "inotify" }
func (n *inotify) Caps() Caps   { return Caps{} }

func (n *inotify) Add(dir string) error {
	dir = filepath.Clean(dir) // fsnotify reports clean paths
	if err := n.w.Add(dir); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return fmt.Errorf("inotify watch on %s: fs.inotify.max_user_watches is exhausted (raise it with sysctl, or run as root for fanotify): %w", dir, err)
		}
		return fmt.Errorf("inotify watch on %s: %w", dir, err)
	}
	n.mu.Lock()
	n.dirs[dir] = true
	n.mu.Unlock()
	return nil
}

func (n *inotify) Remove(dir string) error {
	dir = filepath.Clean(dir)
	n.mu.Lock()
	known := n.dirs[dir]
	delete(n.dirs, dir)
	n.mu.Unlock()
	if !known {
		return nil
	}
	if err := n.w.Remove(dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		return err
	}
	return nil
}

func (n *inotify) Close() error {
	n.once.Do(func() { close(n.done) })
	return n.w.Close()
}

func (n *inotify) Run(ctx context.Context, out chan<- Event) error {
	stop := context.AfterFunc(ctx, func() { n.w.Close() })
	defer stop()
	for {
		var e Event
		select {
		case fe, ok := <-n.w.Events:
			if !ok {
				return nil
			}
			e = n.event(fe)
		case err, ok := <-n.w.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("inotify: %w", err)
			}
			e = Event{Op: OpOverflow, PIDFD: -1}
		}
		if e.Op == 0 {
			continue
		}
		select {
		case out <- e:
		case <-ctx.Done():
			return nil
		case <-n.done:
			return nil
		}
	}
}

// event maps an fsnotify event (a full path) to the watched directory and child name.
func (n *inotify) event(fe fsnotify.Event) Event {
	e := Event{PIDFD: -1, At: attrib.Now()}
	n.mu.Lock()
	self := n.dirs[fe.Name]
	n.mu.Unlock()
	if self && fe.Op&(fsnotify.Remove|fsnotify.Rename) != 0 {
		e.Dir, e.Op = fe.Name, OpSelfGone
		return e
	}
	e.Dir, e.Name = filepath.Dir(fe.Name), filepath.Base(fe.Name)
	if self {
		e.Dir, e.Name = fe.Name, "" // an attribute change of the directory itself
	}
	switch {
	case fe.Op.Has(fsnotify.Create):
		e.Op |= OpCreate
	case fe.Op.Has(fsnotify.Remove):
		e.Op |= OpDelete
	case fe.Op.Has(fsnotify.Rename):
		e.Op |= OpMovedFrom
	}
	if fe.Op.Has(fsnotify.Write) {
		e.Op |= OpWrite
	}
	if fe.Op.Has(fsnotify.Chmod) {
		e.Op |= OpAttrib
	}
	if e.Op&OpCreate != 0 && !strings.HasSuffix(fe.Name, "/") {
		if st, err := os.Lstat(fe.Name); err == nil && st.IsDir() {
			e.Op |= OpIsDir
		}
	}
	return e
}
