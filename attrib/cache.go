// Package attrib says who made a change: it keeps an exec cache of the processes on the host, fed
// by the kernel (eBPF programs on stable tracepoints), by the netlink process connector, or by
// /proc alone, and resolves a fanotify event's pid to the process that made it, its ancestors up to
// pid 1, and how the answer was obtained (the attribution).
//
// A chmod lives for about a millisecond; by the time its event is read it is gone from /proc. The
// kernel feed records its executable and arguments in its own context at execve, before it could
// possibly make the change, so the record is in the cache when the event is resolved. The
// connector feed learns of the exec from the kernel too, but reads /proc afterwards, racing the
// process's exit; /proc alone reads at event time and names only what is still running.
//
// Memory is bounded: at most MaxBytes of process records (about 200 bytes each plus their
// arguments, so 16 MiB holds some 40,000 typical processes), exited processes are kept for Grace
// after their exit and then dropped, and pending exec records are bounded by maxPending.
package attrib

import (
	"io/fs"
	"os"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/tripline/tripline/proc"
	"golang.org/x/sys/unix"
)

// Attribution values: how a finding's actor was obtained (see proc.Attribution).
const (
	Kernel     = proc.AttrKernel
	ExecCache  = proc.AttrExecCache
	Live       = proc.AttrLive
	ParentOnly = proc.AttrParentOnly
	PIDOnly    = proc.AttrPIDOnly
	None       = proc.AttrNone
	Heuristic  = proc.AttrHeuristic
)

// FeedName names the feed that fills the exec cache.
type FeedName string

// Feed names. They are stable: the ready line's attribution and --attribution.
const (
	FeedKernel    FeedName = "kernel"    // eBPF on the exec tracepoints
	FeedConnector FeedName = "connector" // the netlink process connector
	FeedProc      FeedName = "proc"      // no feed: /proc alone, read when an event is handled
)

// Sources of a cache entry.
const (
	srcKernel    = "kernel"    // exec record from the kernel feed
	srcConnector = "connector" // /proc read right after the connector's exec event
	srcProc      = "proc"      // /proc read at start or at resolution
)

// Defaults for Cache bounds.
const (
	DefaultMaxBytes = 16 << 20
	DefaultGrace    = 30 * time.Second
	maxPending      = 4096
	maxGenerations  = 4
	maxHeuristicAge = 2 * time.Second
)

// entry is one process (one generation of a pid) in the cache.
type entry struct {
	p       proc.Process
	source  string
	startNS uint64    // CLOCK_BOOTTIME at fork or exec; 0 when unknown (there before the feed)
	exitNS  uint64    // 0 while it runs
	forked  bool      // seen forked, not (yet) exec'd: it runs its parent's image
	readAt  time.Time // srcProc: when /proc was read
	size    int
	gone    bool // removed from the map
}

// Stats counts what the cache saw.
type Stats struct {
	Execs, Forks, Exits uint64
	Drops               uint64 // records the kernel feed had no room for (from the feed)
	Malformed           uint64 // records that could not be decoded
	Evicted             uint64 // entries dropped for the memory bound
	Entries             int
	Bytes               int
}

// Cache is the exec cache. Its methods are safe for concurrent use.
type Cache struct {
	procFS   fs.FS
	MaxBytes int
	Grace    time.Duration

	mu      sync.Mutex
	procs   map[int32][]*entry
	pending map[int32]*record // exec-enter records by tid, until the exec succeeds
	order   []*entry          // insertion order, for the memory bound
	exitQ   []*entry          // exit order, for the grace period
	bytes   int
	live    int // entries in procs
	stats   Stats
	feed    Feed
	clock   func() uint64 // the boot clock (Now); unit tests give the cache a clock of their own
}

// NewCache returns an empty cache reading /proc from procFS (os.DirFS("/proc") on a host).
func NewCache(procFS fs.FS) *Cache {
	if procFS == nil {
		procFS = os.DirFS("/proc")
	}
	return &Cache{procFS: procFS, MaxBytes: DefaultMaxBytes, Grace: DefaultGrace,
		procs: map[int32][]*entry{}, pending: map[int32]*record{}, clock: Now}
}

// Now returns CLOCK_BOOTTIME in nanoseconds, the clock of kernel records and of event stamps.
func Now() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}

// Feed is the name of the feed in use.
func (c *Cache) Feed() FeedName {
	if c.feed == nil {
		return FeedProc
	}
	return c.feed.Name()
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := c.stats
	s.Entries, s.Bytes = len(c.procs), c.bytes
	f := c.feed
	c.mu.Unlock()
	if f != nil {
		s.Drops = f.Drops()
	}
	return s
}

// Sync waits (boundedly) until the feed has applied every record the kernel produced before the
// call: an event's exec record is produced before the event itself, so after Sync the cache has
// it.
func (c *Cache) Sync() {
	if c.feed != nil {
		c.feed.Sync()
	}
}

// Close stops the feed.
func (c *Cache) Close() error {
	if c.feed != nil {
		return c.feed.Close()
	}
	return nil
}

func entrySize(p *proc.Process) int {
	n := 200 + len(p.Name) + len(p.Exe) + len(p.Cwd) + len(p.Cgroup)
	for _, a := range p.Args {
		n += 16 + len(a)
	}
	return n
}

// put adds e as the newest generation of its pid. c.mu is held.
func (c *Cache) put(e *entry) {
	e.size = entrySize(&e.p)
	gens := append(c.procs[e.p.PID], e)
	if len(gens) > maxGenerations {
		for _, old := range gens[:len(gens)-maxGenerations] {
			old.gone = true
			c.bytes -= old.size
			c.live--
		}
		gens = append([]*entry(nil), gens[len(gens)-maxGenerations:]...)
	}
	c.procs[e.p.PID] = gens
	c.order = append(c.order, e)
	c.bytes += e.size
	c.live++
	c.evict()
}

// remove drops e from the map. c.mu is held.
func (c *Cache) remove(e *entry) {
	if e.gone {
		return
	}
	e.gone = true
	c.bytes -= e.size
	c.live--
	gens := c.procs[e.p.PID]
	for i, g := range gens {
		if g == e {
			gens = append(gens[:i:i], gens[i+1:]...)
			break
		}
	}
	if len(gens) == 0 {
		delete(c.procs, e.p.PID)
	} else {
		c.procs[e.p.PID] = gens
	}
}

// evict applies the grace period and the memory bound. c.mu is held.
func (c *Cache) evict() {
	if now := c.clock(); now > 0 {
		grace := uint64(c.Grace)
		n := 0
		for n < len(c.exitQ) && c.exitQ[n].exitNS+grace < now {
			c.remove(c.exitQ[n])
			n++
		}
		if n > 0 {
			c.exitQ = append(c.exitQ[:0:0], c.exitQ[n:]...)
		}
	}
	n := 0
	for n < len(c.order) && (c.order[n].gone || c.bytes > c.MaxBytes) {
		if !c.order[n].gone {
			c.remove(c.order[n])
			c.stats.Evicted++
		}
		n++
	}
	c.order = c.order[n:]
	// Entries removed behind a long-lived one stay in order until compacted: keep it within
	// twice the live entries, so removed ones (and their arguments) are released.
	if len(c.order) > 2*c.live+64 {
		kept := make([]*entry, 0, c.live)
		for _, e := range c.order {
			if !e.gone {
				kept = append(kept, e)
			}
		}
		c.order = kept
	}
	if len(c.exitQ) > 2*c.live+64 {
		kept := c.exitQ[:0:0]
		for _, e := range c.exitQ {
			if !e.gone {
				kept = append(kept, e)
			}
		}
		c.exitQ = kept
	}
}

// current returns the generation of pid that was running at boot time at (0: the newest).
// c.mu is held.
func (c *Cache) current(pid int32, at uint64) *entry {
	gens := c.procs[pid]
	for i := len(gens) - 1; i >= 0; i-- {
		if at == 0 || gens[i].startNS <= at {
			return gens[i]
		}
	}
	return nil
}

// apply folds one kernel record into the cache.
func (c *Cache) apply(r *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch r.Kind {
	case kindExecEnter:
		if len(c.pending) >= maxPending {
			clear(c.pending)
		}
		c.pending[r.TID] = r
	case kindExec:
		c.stats.Execs++
		enter := c.pending[r.TID]
		delete(c.pending, r.TID)
		if r.TID != r.PID {
			delete(c.pending, r.PID)
		}
		prev := c.current(r.PID, 0)
		e := &entry{source: srcKernel, startNS: r.BootNS}
		e.p = c.identity(r, prev)
		if enter != nil {
			e.p.Exe = enter.Filename
			e.p.Args = enter.Args
			e.p.ArgsTruncated = enter.Flags&(flagArgsTruncated|flagArgsFault|flagFilenameTruncated) != 0
			if len(e.p.Exe) > 0 && e.p.Exe[0] != '/' {
				// A relative name ("./x"): the kernel has the resolved path in /proc while
				// the process runs.
				if exe, err := fs.ReadLink(c.procFS, strconv.Itoa(int(r.PID))+"/exe"); err == nil {
					e.p.Exe = exe
				}
			}
		} else {
			// The enter record was lost (a drop, or the exec began before the feed): read what
			// /proc still shows.
			e.source = srcConnector
			if p, err := proc.Read(c.procFS, r.PID); err == nil {
				e.p.Exe, e.p.Args, e.p.Cwd = p.Exe, p.Args, p.Cwd
			}
		}
		c.put(e)
	case kindFork:
		c.stats.Forks++
		parent := c.current(r.PID, 0)
		e := &entry{source: srcKernel, startNS: r.BootNS, forked: true}
		e.p = c.identity(r, parent)
		e.p.PID, e.p.PPID = r.Other, r.PID
		// The child's own start time, not its parent's (identity copies prev's): the record's
		// boot-clock time in /proc's clock ticks. The record is made a few microseconds after
		// the kernel stamps the task, so at a tick's edge this is one tick later than /proc's.
		e.p.StartTime = r.BootNS / (1e9 / userHZ)
		if parent != nil {
			// A forked child runs its parent's image until it execs.
			e.p.Name, e.p.Exe, e.p.Args, e.p.Cwd = parent.p.Name, parent.p.Exe, parent.p.Args, parent.p.Cwd
			e.p.ArgsTruncated = parent.p.ArgsTruncated
			e.source = parent.source
			if r.UID == noUID { // the connector does not say: a child has its parent's ids
				e.p.UID, e.p.EUID, e.p.GID, e.p.EGID = parent.p.UID, parent.p.EUID, parent.p.GID, parent.p.EGID
			}
		}
		c.put(e)
	case kindExit:
		// A thread's exit (the kernel feed reports them so that the entries its clone made go
		// away) concerns only the entry of its own tid.
		id := r.PID
		if r.TID != 0 && r.TID != r.PID {
			id = r.TID
		} else {
			c.stats.Exits++
		}
		// Every generation still running is this process: its fork and its exec(s).
		for _, e := range c.procs[id] {
			if e.exitNS == 0 {
				e.exitNS = r.BootNS
				c.exitQ = append(c.exitQ, e)
			}
		}
		delete(c.pending, id)
		c.evict()
	}
}

// userHZ is the clock tick of /proc/PID/stat's start time (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// identity fills the ids of a process from a kernel record; what the record lacks (no BTF: no
// ppid, euid, loginuid) comes from prev, the same process before this record, or its parent:
// loginuid and session id are inherited.
func (c *Cache) identity(r *record, prev *entry) proc.Process {
	p := proc.Process{PID: r.PID, Name: r.Comm, UID: int32(r.UID), GID: int32(r.GID),
		EUID: -1, EGID: -1, LoginUID: -1, SessionID: -1}
	if prev != nil {
		p.PPID, p.LoginUID, p.SessionID, p.Cgroup, p.ContainerID = prev.p.PPID, prev.p.LoginUID, prev.p.SessionID, prev.p.Cgroup, prev.p.ContainerID
		p.StartTime = prev.p.StartTime
	}
	if r.Flags&flagTask != 0 {
		p.PPID, p.EUID, p.EGID = r.PPID, int32(r.EUID), int32(r.EGID)
	}
	if r.Flags&flagLoginUID != 0 {
		p.LoginUID, p.SessionID = -1, -1
		if r.LoginUID != noLoginUID {
			p.LoginUID = int32(r.LoginUID)
		}
		if r.SessionID != noLoginUID {
			p.SessionID = int64(r.SessionID)
		}
	} else if prev == nil || prev.p.LoginUID < 0 {
		if parent := c.current(p.PPID, 0); parent != nil {
			p.LoginUID, p.SessionID = parent.p.LoginUID, parent.p.SessionID
		}
	}
	return p
}

// procTTL is how long, without a feed, a process read from /proc is reused for later events of
// the same pid, and only while proc.Unchanged says it still runs the same executable with the
// same arguments: without a feed nothing reports its exec or its exit.
const procTTL = 500 * time.Millisecond

// lookup returns the cached generation of pid running at at, or nil. Without a feed, an entry
// read from /proc is returned only while it is fresh.
func (c *Cache) lookup(pid int32, at uint64) *entry {
	c.mu.Lock()
	e := c.current(pid, at)
	stale := e != nil && c.feed == nil && e.source == srcProc && (time.Since(e.readAt) > procTTL || !proc.Unchanged(c.procFS, &e.p))
	if stale {
		c.remove(e)
		e = nil
	}
	c.mu.Unlock()
	return e
}

// learn reads pid from /proc and adds it to the cache; nil when it is gone.
func (c *Cache) learn(pid int32) *entry {
	p, err := proc.Read(c.procFS, pid)
	if err != nil {
		return nil
	}
	e := &entry{p: p, source: srcProc, readAt: time.Now()}
	c.mu.Lock()
	c.put(e)
	c.mu.Unlock()
	return e
}

// Snapshot adds every process in /proc to the cache: the parents of what will run later. A
// feed calls it once its programs are attached, so no process falls between the two.
func (c *Cache) Snapshot() int {
	ents, err := fs.ReadDir(c.procFS, ".")
	if err != nil {
		return 0
	}
	n := 0
	for _, d := range ents {
		pid, ok := atoi(d.Name())
		if !ok {
			continue
		}
		c.mu.Lock()
		known := c.current(pid, 0) != nil
		c.mu.Unlock()
		if !known && c.learn(pid) != nil {
			n++
		}
	}
	return n
}

// Resolve names the process pid that acted at boot time at (the event's stamp; 0: now): the
// exec cache's record of that pid, else the live process, else what is known of its parent.
// pidfd, when >= 0, is the kernel's handle on the acting process (FAN_REPORT_PIDFD): a /proc
// read is trusted only if the process is still the one the handle names after it.
func (c *Cache) Resolve(pid int32, at uint64, pidfd int) proc.Actor {
	res := proc.Actor{PID: pid, Attribution: None}
	if pid <= 0 {
		return res
	}
	e := c.lookup(pid, at)
	if e != nil && e.p.Exe == "" && e.p.Args == nil && e.exitNS == 0 {
		// Known only by a fork whose parent was unknown: /proc may say more.
		if l := c.learn(pid); l != nil {
			e = l
		}
	}
	if e == nil {
		e = c.learn(pid)
		if e != nil && pidfd >= 0 && unix.PidfdSendSignal(pidfd, 0, nil, 0) != nil {
			// The process exited during the read: the pid may name another one now.
			c.mu.Lock()
			c.remove(e)
			c.mu.Unlock()
			e = nil
		}
	}
	if e == nil {
		res.Attribution, res.Why = PIDOnly, "the process had exited before it was read and no feed recorded it"
		return res
	}
	p := e.p
	res.Process = &p
	switch {
	case p.Exited || (p.Exe == "" && p.Args == nil && !p.Kernel):
		res.Attribution, res.Why = ParentOnly, "the process had exited; its name and parent were read"
	case e.source == srcKernel:
		res.Attribution = Kernel
	case e.source == srcConnector:
		res.Attribution = ExecCache
	default:
		res.Attribution = Live
	}
	res.Ancestors = c.ancestors(p, at)
	return res
}

// ancestors walks the parents of p through the cache, reading /proc for those it lacks.
func (c *Cache) ancestors(p proc.Process, at uint64) []proc.Process {
	var out []proc.Process
	seen := map[int32]bool{p.PID: true}
	for ppid := p.PPID; ppid > 0 && len(out) < proc.MaxAncestors && !seen[ppid]; {
		seen[ppid] = true
		e := c.lookup(ppid, at)
		if e == nil {
			if e = c.learn(ppid); e == nil {
				break
			}
		}
		out = append(out, e.p)
		ppid = e.p.PPID
	}
	return out
}

// Guess names a recent process whose arguments name path (see argsName), for backends that
// report no pid (inotify). Its attribution is
// Heuristic; nil when no process qualifies.
func (c *Cache) Guess(path string, at uint64) *proc.Actor {
	c.mu.Lock()
	var best *entry
	for _, gens := range c.procs {
		e := gens[len(gens)-1]
		if e.forked || e.startNS == 0 || e.startNS > at || at-e.startNS > uint64(maxHeuristicAge) {
			continue
		}
		if !argsName(e.p.Args, e.p.Cwd, path) {
			continue
		}
		if best == nil || e.startNS > best.startNS {
			best = e
		}
	}
	c.mu.Unlock()
	if best == nil {
		return nil
	}
	p := best.p
	return &proc.Actor{Attribution: Heuristic, PID: p.PID, Process: &p, Ancestors: c.ancestors(p, at),
		Why: "inotify reports no pid: this recent process's arguments name the path"}
}

// argsName reports whether the arguments (after argv[0]) name path: as itself, relative to cwd
// ("./job", "../cron.daily/job"), or as a directory argument plus an argument with the path's base
// name ("cp svc /etc/init.d/", "cp -t /etc/sudoers.d rule").
func argsName(args []string, cwd, p string) bool {
	dir, base := path.Dir(p), path.Base(p)
	var dirNamed, baseNamed bool
	for i, a := range args {
		if i == 0 || a == "" {
			continue
		}
		abs := a
		if a[0] != '/' {
			if cwd == "" {
				abs = ""
			} else {
				abs = path.Join(cwd, a)
			}
		} else {
			abs = path.Clean(a)
		}
		if abs == p {
			return true
		}
		if abs == dir {
			dirNamed = true
		}
		if path.Base(a) == base {
			baseNamed = true
		}
	}
	return dirNamed && baseNamed
}

func atoi(s string) (int32, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	if n <= 0 || n > 1<<22 {
		return 0, false
	}
	return int32(n), true
}
