package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
)

// DefaultPollEvery is how often a directory that neither fanotify nor inotify can watch is
// rescanned.
const DefaultPollEvery = 5 * time.Second

// poller is the last resort for a directory no kernel backend can watch: it lists the directory
// every interval and reports each entry whose inode status changed, appeared or went, as an
// Event without a pid. A change undone between two rescans is not seen, which is why a polled
// directory keeps a gap open (see Watcher.reconcile).
type poller struct {
	every time.Duration
	done  chan struct{}
	once  sync.Once
	added chan struct{} // a directory was added: an idle Run starts ticking

	mu   sync.Mutex
	dirs map[string]*polled // host path -> last listing
}

// polled is one directory's last listing.
type polled struct {
	self    stamp // the directory itself: a new inode means it was replaced
	entries map[string]stamp
}

// stamp is what tells that an entry changed without reading it: ctime moves with every change
// of mode, owner, link count or content, and the inode with every replacement.
type stamp struct {
	ino, size       uint64
	mode, uid, gid  uint32
	ctimeNS, mtimNS int64
}

func stampOf(st *unix.Stat_t) stamp {
	return stamp{ino: st.Ino, size: uint64(st.Size), mode: st.Mode, uid: st.Uid, gid: st.Gid,
		ctimeNS: st.Ctim.Nano(), mtimNS: st.Mtim.Nano()}
}

func newPoller(every time.Duration) *poller {
	if every <= 0 {
		every = DefaultPollEvery
	}
	return &poller{every: every, done: make(chan struct{}), added: make(chan struct{}, 1), dirs: map[string]*polled{}}
}

func (p *poller) Name() string { return "poll" }
func (p *poller) Caps() Caps   { return Caps{} }

// list reads a directory's entries without following symlinks.
func list(dir string) (*polled, error) {
	var self unix.Stat_t
	if err := unix.Lstat(dir, &self); err != nil {
		return nil, fmt.Errorf("poll %s: %w", dir, err)
	}
	if self.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fmt.Errorf("poll %s: %w", dir, unix.ENOTDIR)
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("poll %s: %w", dir, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("poll %s: %w", dir, err)
	}
	l := &polled{self: stampOf(&self), entries: make(map[string]stamp, len(names))}
	for _, n := range names {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, n), &st); err != nil {
			continue // gone since the listing: the next rescan reports it if it was known
		}
		l.entries[n] = stampOf(&st)
	}
	return l, nil
}

// Add starts rescanning dir. Adding a directory already polled keeps its listing, so a change
// made since the last rescan is still reported, unless the path names another directory now.
func (p *poller) Add(dir string) error {
	dir = filepath.Clean(dir)
	l, err := list(dir)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old, ok := p.dirs[dir]; ok && old.self.ino == l.self.ino {
		return nil
	}
	p.dirs[dir] = l
	select {
	case p.added <- struct{}{}:
	default:
	}
	return nil
}

func (p *poller) Remove(dir string) error {
	p.mu.Lock()
	delete(p.dirs, filepath.Clean(dir))
	p.mu.Unlock()
	return nil
}

func (p *poller) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// Run rescans every directory each interval until ctx is done or Close is called. With no
// directory to poll it sleeps without a timer: an idle daemon has no periodic wakeup.
func (p *poller) Run(ctx context.Context, out chan<- Event) error {
	t := time.NewTimer(p.every)
	defer t.Stop()
	for {
		p.mu.Lock()
		idle := len(p.dirs) == 0
		p.mu.Unlock()
		tick := t.C
		if idle {
			t.Stop()
			tick = nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return nil
		case <-p.added:
			if idle {
				t.Reset(p.every)
			}
			continue
		case <-tick:
			t.Reset(p.every)
		}
		for _, e := range p.rescan() {
			select {
			case out <- e:
			case <-ctx.Done():
				return nil
			case <-p.done:
				return nil
			}
		}
	}
}

// rescan lists every polled directory again and returns what changed since the last listing.
func (p *poller) rescan() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var evs []Event
	at := attrib.Now()
	for dir, old := range p.dirs {
		cur, err := list(dir)
		if err != nil {
			// Gone, replaced by a file, or unreadable now: the loop re-marks and reconciles.
			evs = append(evs, Event{Dir: dir, Op: OpSelfGone, PIDFD: -1, At: at})
			delete(p.dirs, dir)
			continue
		}
		if cur.self.ino != old.self.ino {
			evs = append(evs, Event{Dir: dir, Op: OpSelfGone, PIDFD: -1, At: at})
		}
		for name, st := range cur.entries {
			was, ok := old.entries[name]
			switch {
			case !ok:
				op := OpCreate
				if st.mode&unix.S_IFMT == unix.S_IFDIR {
					op |= OpIsDir
				}
				evs = append(evs, Event{Dir: dir, Name: name, Op: op, PIDFD: -1, At: at})
			case was != st:
				evs = append(evs, Event{Dir: dir, Name: name, Op: OpAttrib | OpWrite, PIDFD: -1, At: at})
			}
		}
		for name, was := range old.entries {
			if _, ok := cur.entries[name]; !ok {
				op := OpDelete
				if was.mode&unix.S_IFMT == unix.S_IFDIR {
					op |= OpIsDir
				}
				evs = append(evs, Event{Dir: dir, Name: name, Op: op, PIDFD: -1, At: at})
			}
		}
		p.dirs[dir] = cur
	}
	return evs
}
