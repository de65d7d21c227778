package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// Coverage says how a directory is watched: live by fanotify (with pids) or inotify (without),
// or rescanned on a timer ("poll") when no kernel backend can watch it.
type Coverage string

// Coverages, best first.
const (
	CoverFanotify Coverage = "fanotify"
	CoverInotify  Coverage = "inotify"
	CoverPoll     Coverage = "poll"
)

// Counts is how many directories each coverage watches.
type Counts struct {
	Fanotify, Inotify, Polled int
}

// dirSet is the set of directories the daemon watches, each with the backend that watches it.
// A directory goes to the daemon's backend (fanotify as root); where that cannot mark it (a
// filesystem without file handles, FUSE, NFS) to inotify, opened on first need; where inotify
// cannot either, to the poller. Its methods are called from the loop's goroutine only.
type dirSet struct {
	primary Backend
	poll    *poller
	// force puts a host directory on a coverage below the primary one: an option of the
	// watcher (Options.Coverage) for tests and for directories known to be remote.
	force map[string]Coverage
	// start runs a backend's reader into the loop's channel; newInotify opens the fallback.
	start      func(Backend)
	newInotify func() (Backend, error)
	log        *slog.Logger
	logical    func(host string) string

	inotify    Backend // the fallback, once opened; the primary itself when it is inotify
	inotifyErr error   // why the fallback could not be opened

	dirs map[string]Backend // host path -> the backend watching it
	why  map[string]string  // host path -> why it is not on the primary backend
}

func newDirSet(primary Backend, pollEvery time.Duration, force map[string]Coverage, start func(Backend), log *slog.Logger, logical func(string) string) *dirSet {
	s := &dirSet{primary: primary, poll: newPoller(pollEvery), force: force, start: start, log: log, logical: logical,
		newInotify: func() (Backend, error) { return newInotify() },
		dirs:       map[string]Backend{}, why: map[string]string{}}
	if primary.Name() == "inotify" {
		s.inotify = primary
	}
	start(s.poll)
	return s
}

// chain returns the coverages to try for dir, best first.
func (s *dirSet) chain(dir string) []Coverage {
	switch s.force[dir] {
	case CoverPoll:
		return []Coverage{CoverPoll}
	case CoverInotify:
		return []Coverage{CoverInotify, CoverPoll}
	}
	if s.primary.Name() == "inotify" {
		return []Coverage{CoverInotify, CoverPoll}
	}
	return []Coverage{CoverFanotify, CoverInotify, CoverPoll}
}

// backendFor returns the backend of a coverage; nil when inotify cannot be opened.
func (s *dirSet) backendFor(c Coverage) Backend {
	switch c {
	case CoverFanotify:
		return s.primary
	case CoverInotify:
		return s.fallback()
	}
	return s.poll
}

// fallback returns the inotify backend, opening and starting it on first need; nil when it
// cannot be opened.
func (s *dirSet) fallback() Backend {
	if s.inotify == nil && s.inotifyErr == nil {
		b, err := s.newInotify()
		if err != nil {
			s.inotifyErr = err
			s.log.Warn("cannot open inotify for the directories fanotify cannot watch; they are polled", "err", err)
			return nil
		}
		s.inotify = b
		s.start(b)
	}
	return s.inotify
}

// sync brings the set in line with want (host paths): each directory is added again even when
// already watched, since the path may name a new directory now, whose inode has no mark yet.
// It returns how many directories could not be watched at all (each logged).
func (s *dirSet) sync(want map[string]bool) (failed int) {
	dirs := make([]string, 0, len(want))
	for d := range want {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if !s.add(d) {
			failed++
		}
	}
	for d, b := range s.dirs {
		if !want[d] {
			b.Remove(d)
			delete(s.dirs, d)
			delete(s.why, d)
		}
	}
	return failed
}

// add watches one directory with the best backend that can, and logs a change of coverage.
func (s *dirSet) add(d string) bool {
	var errs []error
	for _, c := range s.chain(d) {
		b := s.backendFor(c)
		if b == nil {
			errs = append(errs, s.inotifyErr)
			continue
		}
		err := b.Add(d)
		if err == nil {
			s.settle(d, b, errors.Join(errs...))
			return true
		}
		errs = append(errs, err)
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			break // gone meanwhile: the event of its removal re-marks
		}
	}
	if old, ok := s.dirs[d]; ok {
		old.Remove(d)
		delete(s.dirs, d)
	}
	delete(s.why, d)
	s.log.Warn("cannot watch directory", "path", baseline.QuotePath(s.logical(d)), "backend", s.primary.Name(), "err", errors.Join(errs...))
	return false
}

// settle records that b watches d, removing the mark of the backend that watched it before.
func (s *dirSet) settle(d string, b Backend, why error) {
	old, had := s.dirs[d]
	if had && old != b {
		old.Remove(d)
	}
	s.dirs[d] = b
	if b == s.primary {
		delete(s.why, d)
		if had && old != b {
			s.log.Info("directory watched by "+b.Name()+" again", "path", baseline.QuotePath(s.logical(d)), "backend", b.Name())
		}
		return
	}
	reason := "forced by the watcher's options"
	if why != nil {
		reason = why.Error()
	}
	changed := !had || old != b
	s.why[d] = reason
	if !changed {
		return
	}
	switch b {
	case s.poll:
		s.log.Warn(fmt.Sprintf("directory not watched live: rescanned every %v, and a gap stays open for it", s.poll.every),
			"path", baseline.QuotePath(s.logical(d)), "backend", b.Name(), "err", reason)
	default:
		s.log.Warn("directory watched by "+b.Name()+", without pids, while the rest is on "+s.primary.Name(),
			"path", baseline.QuotePath(s.logical(d)), "backend", b.Name(), "err", reason)
	}
}

// backend names what watches host directory d ("" when nothing does).
func (s *dirSet) backend(d string) string {
	if b, ok := s.dirs[d]; ok {
		return b.Name()
	}
	return ""
}

// counts returns how many directories each coverage watches.
func (s *dirSet) counts() Counts {
	var c Counts
	for _, b := range s.dirs {
		switch b.Name() {
		case "fanotify":
			c.Fanotify++
		case "inotify":
			c.Inotify++
		default:
			c.Polled++
		}
	}
	return c
}

// unlive lists the polled directories (host paths, sorted).
func (s *dirSet) unlive() []string {
	var out []string
	for d, b := range s.dirs {
		if b == s.poll {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

func (s *dirSet) len() int { return len(s.dirs) }

// wantedDirs computes the host directories to watch under root for a policy: every existing directory a location lists
// (all directories below a ** location), the directory of every single-file location, and for
// what does not exist yet the nearest existing ancestor, so its creation is seen.
func wantedDirs(root string, pol *policy.Policy) map[string]bool {
	want := map[string]bool{}
	addDir := func(logical string) {
		want[hostPath(root, logical)] = true
	}
	for _, t := range pol.Targets() {
		dirPattern := t.Path
		if !t.Dir {
			dirPattern = path.Dir(t.Path)
		}
		found, _ := baseline.Glob(root, dirPattern)
		for _, e := range found {
			if e.Type != baseline.TypeDir {
				continue
			}
			addDir(e.Path)
			if t.Recursive {
				addSubdirs(root, e.Path, want)
			}
		}
		// The deepest existing directory on the pattern's literal prefix too, so a new match
		// (a new home directory for ~/.bashrc) is seen when it appears.
		addDir(nearestExisting(root, dirPattern))
	}
	return want
}

// addSubdirs adds every directory below logical dir, never through a symlink.
func addSubdirs(root, logical string, want map[string]bool) {
	filepath.WalkDir(hostPath(root, logical), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: reconcile reports it
		}
		if d.IsDir() {
			want[p] = true
		}
		return nil
	})
}

// nearestExisting returns the deepest existing directory on the literal prefix of a pattern.
func nearestExisting(root, pattern string) string {
	p := pattern
	if i := strings.IndexAny(p, "*?[\\"); i >= 0 {
		p = path.Dir(p[:i] + "x")
	}
	for p != "/" {
		if e, err := baseline.Stat(root, p, -1); err == nil && e.Type == baseline.TypeDir {
			return p
		}
		p = path.Dir(p)
	}
	return "/"
}

// readers runs the backends' Run methods, all into one channel, and owns their goroutines.
type readers struct {
	ctx    context.Context
	cancel context.CancelFunc
	events chan Event
	errs   chan error // the first reader that failed or stopped on its own

	mu       sync.Mutex
	backends []Backend
	wg       sync.WaitGroup
	once     sync.Once
}

func newReaders(events chan Event) *readers {
	ctx, cancel := context.WithCancel(context.Background())
	return &readers{ctx: ctx, cancel: cancel, events: events, errs: make(chan error, 1)}
}

// start runs b's reader until stop.
func (r *readers) start(b Backend) {
	r.mu.Lock()
	if r.ctx.Err() != nil {
		// Stopped (a remark while draining opened a fallback): nothing reads it any more.
		r.mu.Unlock()
		b.Close()
		return
	}
	r.backends = append(r.backends, b)
	r.wg.Add(1) // under mu: a stop that follows waits for it
	r.mu.Unlock()
	go func() {
		defer r.wg.Done()
		err := b.Run(r.ctx, r.events)
		if r.ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("the event reader stopped")
		}
		select {
		case r.errs <- fmt.Errorf("%s: %w", b.Name(), err):
		default:
		}
	}()
}

// stop makes every reader return, closes the backends and waits for the readers. What they
// sent before stays in the channel.
func (r *readers) stop() {
	r.once.Do(func() {
		r.mu.Lock()
		r.cancel()
		bs := r.backends
		r.mu.Unlock()
		for _, b := range bs {
			b.Close()
		}
		r.wg.Wait()
	})
}
