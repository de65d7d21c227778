package attrib

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// ErrFileFeed wraps every reason the file-change feed cannot run: no BTF, a tracepoint missing,
// a verifier that refuses the programs, a self-test that saw nothing.
var ErrFileFeed = errors.New("file-change feed unavailable")

// HooksSyscalls names how the file-change feed is attached: the syscalls:sys_enter_* tracepoints.
// (fentry and BPF-LSM programs would see the resolved inode; the kernel tripline is developed on
// refuses to load both, with EPERM, and has no kprobes.)
const HooksSyscalls = "syscall-tracepoints"

// WatchedDir is a directory the file-change feed reports changes in: its entries', and, when
// Below > 0, those up to Below directories beneath it (a directory created below it a moment
// before the write is covered).
type WatchedDir struct {
	Path  string // host path
	Below uint32
	// Live: a backend reports changes to its entries, and the daemon syncs the feed when it
	// handles them; their records do not wake the reader. Every other record does at once.
	Live bool
}

// MaxBelow is the deepest Below the kernel's ancestor walk honours.
const MaxBelow = 7

// FileFeed is the eBPF file-change feed. Its methods are safe for concurrent use; Run is called
// once.
type FileFeed struct {
	coll    *ebpf.Collection
	maps    fileMaps
	links   []link.Link
	rd      *ringbuf.Reader
	release func() // gives back tracefs

	mu       sync.Mutex
	dirs     map[fileKey]uint32
	prefixes map[string]uint32

	sync     flushSync
	done     chan struct{}
	running  atomic.Bool
	received atomic.Uint64
	bad      atomic.Uint64
	// finalDrops is Drops once Close has freed the map (Close and Drops are not concurrent).
	finalDrops uint64
}

// dirs values (DIR_* in bpf/file.c).
const (
	dirBelowMask = 0xff
	dirAncestor  = 0x100
	dirLive      = 0x200
	prefixLive   = 1 << 24
)

// noneWatched is config[0] when nothing is watched: the programs return at once.
const noneWatched = 0xffffffff

// OpenFileFeed loads the file-change programs and attaches them. A change made in a private
// directory must come back through the ring buffer before it returns (the self-test). notes
// says what it did to the host (mounting tracefs while the feed runs).
func OpenFileFeed() (f *FileFeed, notes []string, err error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, fmt.Errorf("%w: raising RLIMIT_MEMLOCK: %v", ErrFileFeed, err)
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, nil, fmt.Errorf("%w: the kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)", ErrFileFeed)
	}
	// Another process that mounted tracefs may unmount it while this one reads it: then mount
	// it again and start over, once (as the exec feed does).
	for attempt := 0; ; attempt++ {
		release, note, err := acquireTracefs()
		if err != nil {
			return nil, notes, fmt.Errorf("%w: %v", ErrFileFeed, err)
		}
		if note != "" {
			notes = append(notes, note)
		}
		f, err = attachFile()
		if err == nil {
			f.release = release
			if err = f.selfTest(); err == nil {
				return f, notes, nil
			}
			f.Close()
			return nil, notes, fmt.Errorf("%w: %v", ErrFileFeed, err)
		}
		release()
		if attempt > 0 || tracefsPresent() {
			return nil, notes, fmt.Errorf("%w: %v", ErrFileFeed, err)
		}
	}
}

// attachFile checks the tracepoints' formats, loads the programs and attaches them.
func attachFile() (*FileFeed, error) {
	spec, err := loadFile()
	if err != nil {
		return nil, err
	}
	dir := tracefsDir()
	for _, p := range spec.Programs {
		group, name, ok := strings.Cut(strings.TrimPrefix(p.SectionName, "tracepoint/"), "/")
		if !ok {
			return nil, fmt.Errorf("program %s: section %q", p.Name, p.SectionName)
		}
		if err := syscallArgsAt16(dir, group, name); err != nil {
			return nil, err
		}
	}
	f := &FileFeed{dirs: map[fileKey]uint32{}, prefixes: map[string]uint32{}, sync: newFlushSync(), done: make(chan struct{})}
	coll, err := loadParallel(spec)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel's verifier refused the programs: %+v", ve)
		}
		return nil, fmt.Errorf("loading the programs: %w", err)
	}
	f.coll = coll
	f.maps = fileMaps{Changes: coll.Maps["changes"], Config: coll.Maps["config"], Dirs: coll.Maps["dirs"],
		Drops: coll.Maps["drops"], Prefixes: coll.Maps["prefixes"], Scratch: coll.Maps["scratch"]}
	if err := f.maps.Config.Put(uint32(0), uint32(noneWatched)); err != nil {
		f.Close()
		return nil, err
	}
	for _, p := range spec.Programs {
		group, name, _ := strings.Cut(strings.TrimPrefix(p.SectionName, "tracepoint/"), "/")
		prog := f.coll.Programs[p.Name]
		if prog == nil {
			f.Close()
			return nil, fmt.Errorf("program %s was not loaded", p.Name)
		}
		l, err := link.Tracepoint(group, name, prog, nil)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("attaching to tracepoint %s:%s: %w", group, name, err)
		}
		f.links = append(f.links, l)
	}
	if f.rd, err = ringbuf.NewReader(f.maps.Changes); err != nil {
		f.Close()
		return nil, fmt.Errorf("opening the ring buffer: %w", err)
	}
	return f, nil
}

// loadParallel loads the collection's maps, then its programs in a few goroutines: each of the
// 42 programs is verified on its own, and one after the other they take seconds on a busy host.
func loadParallel(spec *ebpf.CollectionSpec) (*ebpf.Collection, error) {
	maps, err := ebpf.NewCollection(&ebpf.CollectionSpec{Maps: spec.Maps, Types: spec.Types, ByteOrder: spec.ByteOrder})
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(spec.Programs))
	for name := range spec.Programs {
		names = append(names, name)
	}
	const workers = 4
	type part struct {
		coll *ebpf.Collection
		err  error
	}
	parts := make([]part, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sub := spec.Copy()
			sub.Programs = map[string]*ebpf.ProgramSpec{}
			for i := w; i < len(names); i += workers {
				sub.Programs[names[i]] = spec.Programs[names[i]].Copy()
			}
			parts[w].coll, parts[w].err = ebpf.NewCollectionWithOptions(sub, ebpf.CollectionOptions{MapReplacements: maps.Maps})
		}()
	}
	wg.Wait()
	out := &ebpf.Collection{Maps: maps.Maps, Programs: map[string]*ebpf.Program{}}
	var errs []error
	for _, p := range parts {
		if p.err != nil {
			errs = append(errs, p.err)
			continue
		}
		for name, prog := range p.coll.Programs {
			out.Programs[name] = prog
		}
		for _, m := range p.coll.Maps {
			m.Close() // the replacements' duplicates; maps.Maps keeps them
		}
	}
	if len(errs) > 0 {
		out.Close()
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// syscallArgsAt16 checks that a syscall tracepoint lays its arguments out as the programs read
// them: 8 bytes each from offset 16.
func syscallArgsAt16(dir, group, name string) error {
	p := filepath.Join(dir, "events", group, name, "format")
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("tracepoint %s:%s: %w", group, name, err)
	}
	fields, err := parseFormat(b)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if f, ok := fields["__syscall_nr"]; !ok || f.Offset != 8 {
		return fmt.Errorf("%s: __syscall_nr is not at offset 8", p)
	}
	n := 0
	for fname, f := range fields {
		if strings.HasPrefix(fname, "common_") || fname == "__syscall_nr" {
			continue
		}
		if f.Size != 8 || f.Offset < 16 || (f.Offset-16)%8 != 0 || f.Offset >= 16+6*8 {
			return fmt.Errorf("%s: argument %s at offset %d, size %d (want 8 bytes from 16)", p, fname, f.Offset, f.Size)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s: no arguments", p)
	}
	return nil
}

// selfTest watches a private directory, changes a file's mode there and waits for the record.
func (f *FileFeed) selfTest() error {
	dir, err := os.MkdirTemp("", "tripline-filefeed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := f.SetDirs([]WatchedDir{{Path: dir}}); err != nil {
		return err
	}
	defer f.SetDirs(nil)
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return err
	}
	if err := os.Chmod(probe, 0o640); err != nil {
		return err
	}

	// The programs do not wake the reader per record: a flush makes it return what the ring
	// holds, then ErrFlushed.
	if err := f.rd.Flush(); err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Second)
	defer f.rd.SetDeadline(time.Time{}) // Run reads with none: it is woken, never timed out
	var rec ringbuf.Record
	found := false
	for {
		f.rd.SetDeadline(deadline)
		err := f.rd.ReadInto(&rec)
		if err != nil {
			if errors.Is(err, ringbuf.ErrFlushed) && found {
				return nil
			}
			break
		}
		c, err := parseFileChange(rec.RawSample)
		if err != nil || c.PID != int32(os.Getpid()) || c.Call != CallFchmodat {
			continue
		}
		for _, t := range c.Touches() {
			if t.Path == probe && t.Want&WantMode != 0 && t.Mode == 0o640 {
				found = true // read on to the flush, so Run starts on an empty ring
			}
		}
	}
	return errors.New("self-test: a chmod in a watched directory was not reported")
}

// SetDirs makes dirs the set the programs report changes in, replacing the previous set. A
// directory that cannot be stat'ed is left out (the daemon's own marks report why).
func (f *FileFeed) SetDirs(dirs []WatchedDir) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	want := map[fileKey]uint32{}
	prefixes := map[string]uint32{}
	var max uint32
	for _, d := range dirs {
		p := filepath.Clean(d.Path)
		var st unix.Stat_t
		if !filepath.IsAbs(p) || unix.Stat(p, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		below := min(d.Below, MaxBelow)
		k := fileKey{Dev: KernelDev(st.Dev), Ino: st.Ino}
		if v := want[k]; v&dirBelowMask < below+1 {
			want[k] = v&^dirBelowMask | (below + 1)
		}
		if d.Live {
			want[k] |= dirLive
		}
		max = maxU32(max, below)
		pre := p + "/"
		if p == "/" {
			pre = "/"
		}
		v, ok := prefixes[pre]
		if !ok || v&dirBelowMask < below {
			v = v&prefixLive | below | uint32(strings.Count(pre, "/"))<<8
		}
		if d.Live {
			v |= prefixLive
		}
		prefixes[pre] = v
		// Its ancestors: a relative path from one of them may reach it.
		for a := filepath.Dir(p); ; a = filepath.Dir(a) {
			if unix.Stat(a, &st) == nil {
				k := fileKey{Dev: KernelDev(st.Dev), Ino: st.Ino}
				want[k] |= dirAncestor
			}
			if a == "/" {
				break
			}
		}
	}
	// The walk bound goes down first and up last, so the programs never walk a level the map
	// does not cover. Entries change one at a time: a change made meanwhile is reported by the
	// old set or the new one.
	if err := f.maps.Config.Put(uint32(0), min(max, f.currentMax())); err != nil {
		return err
	}
	for k, v := range want {
		if old, ok := f.dirs[k]; ok && old == v {
			continue
		}
		if err := f.maps.Dirs.Put(k, v); err != nil {
			return fmt.Errorf("file-change feed map: %w", err)
		}
		f.dirs[k] = v
	}
	for k := range f.dirs {
		if _, ok := want[k]; !ok {
			if err := f.maps.Dirs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("file-change feed map: %w", err)
			}
			delete(f.dirs, k)
		}
	}
	for p, v := range prefixes {
		if old, ok := f.prefixes[p]; ok && old == v {
			continue
		}
		if err := f.maps.Prefixes.Put(prefixKey(p), v); err != nil {
			return fmt.Errorf("file-change feed prefixes (%d bytes): %w", len(p), err)
		}
		f.prefixes[p] = v
	}
	for p := range f.prefixes {
		if _, ok := prefixes[p]; !ok {
			if err := f.maps.Prefixes.Delete(prefixKey(p)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
				return fmt.Errorf("file-change feed prefixes: %w", err)
			}
			delete(f.prefixes, p)
		}
	}
	cfg := max
	if len(want) == 0 {
		cfg = noneWatched
	}
	return f.maps.Config.Put(uint32(0), cfg)
}

func (f *FileFeed) currentMax() uint32 {
	var v uint32
	if f.maps.Config.Lookup(uint32(0), &v) != nil {
		return 0
	}
	return v
}

// prefixKey is an LPM key for a path prefix: its length in bits, and its bytes. A path longer
// than the kernel's buffer is cut there, which only widens what matches.
func prefixKey(p string) filePrefix {
	var k filePrefix
	n := min(len(p), len(k.Path)-1)
	for i := 0; i < n; i++ {
		k.Path[i] = int8(p[i])
	}
	k.Prefixlen = uint32(n * 8)
	return k
}

func maxU32(a, b uint32) uint32 {
	if a > b {
		return a
	}
	return b
}

// Run reads records and hands each to apply, in the order the kernel produced them on each CPU,
// until Close. It returns nil then.
func (f *FileFeed) Run(apply func(*FileChange)) error {
	if !f.running.CompareAndSwap(false, true) {
		return errors.New("file-change feed: Run called twice")
	}
	defer close(f.done)
	var rec ringbuf.Record
	for {
		// Woken by a record no live backend reports (the programs force the wake-up: a polled
		// or not yet marked directory's change becomes an event at once), by a Sync, or when
		// the ring is a quarter full; never by a timer, so an idle daemon is not woken.
		g := f.sync.begin()
		err := f.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
			f.sync.answered(g)
			continue
		case errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed):
			return nil
		case err != nil:
			return fmt.Errorf("file-change feed: %w", err)
		}
		c, err := parseFileChange(rec.RawSample)
		if err != nil {
			f.bad.Add(1)
			continue
		}
		f.received.Add(1)
		apply(&c)
	}
}

// Sync returns once every record the kernel produced before the call has been applied by Run, or
// after a bound (syncTimeout), or once Run has returned. It waits for a Run that has not begun
// yet (its goroutine not scheduled). Safe for concurrent use.
func (f *FileFeed) Sync() {
	if f.rd == nil {
		return
	}
	f.sync.wait(f.rd.Flush, f.done)
}

// Drops counts records the ring buffer had no room for; after Close, those counted until then.
func (f *FileFeed) Drops() uint64 {
	if f.coll == nil {
		return f.finalDrops
	}
	var per []uint64
	if f.maps.Drops == nil || f.maps.Drops.Lookup(uint32(0), &per) != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// Received counts records decoded; Malformed those that could not be.
func (f *FileFeed) Received() uint64  { return f.received.Load() }
func (f *FileFeed) Malformed() uint64 { return f.bad.Load() }

// Close detaches the programs and makes Run return (after applying nothing more).
func (f *FileFeed) Close() error {
	// Each detach from a syscall tracepoint waits for an RCU grace period (the tracepoints may
	// fault): one after the other, 42 of them take seconds; together, about one.
	var wg sync.WaitGroup
	for _, l := range f.links {
		wg.Add(1)
		go func() { defer wg.Done(); l.Close() }()
	}
	wg.Wait()
	f.links = nil
	if f.rd != nil {
		f.rd.Close()
		if f.running.Load() {
			<-f.done
		}
		f.rd = nil
	}
	var err error
	if f.coll != nil {
		f.finalDrops = f.Drops() // the programs are detached: the count is final
		f.coll.Close()
		f.coll = nil
	}
	if f.release != nil {
		f.release()
		f.release = nil
	}
	return err
}

// RunTime sums what the kernel counted for the feed's programs: the time they ran and how many
// times. Both are zero unless the kernel's BPF statistics are on (ebpf.EnableStats, or the
// kernel.bpf_stats_enabled sysctl): the feed's own cost in the kernel, for benchmarks.
func (f *FileFeed) RunTime() (time.Duration, uint64) {
	var d time.Duration
	var n uint64
	if f.coll == nil {
		return 0, 0
	}
	for _, p := range f.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			continue
		}
		d += st.Runtime
		n += st.RunCount
	}
	return d, n
}
