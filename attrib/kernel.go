package attrib

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
)

// Feed keeps a Cache current.
type Feed interface {
	Name() FeedName
	// Sync returns once records produced before the call are applied, or after a bound.
	Sync()
	// Drops counts records the feed lost (the kernel had no room for them).
	Drops() uint64
	Close() error
}

// syncTimeout bounds Sync: a feed that falls this far behind loses attribution for the batch,
// not the daemon's liveness.
const syncTimeout = 250 * time.Millisecond

type kernelFeed struct {
	c     *Cache
	objs  execObjects
	links []link.Link
	rd    *ringbuf.Reader
	done  chan struct{}

	sync    flushSync
	release func() // gives back tracefs
}

// taskOffsets reads the offsets the programs need in struct task_struct and struct cred from the
// kernel's BTF. ok is false when there is no BTF (the programs then skip those fields).
func taskOffsets() (map[string]uint32, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, err
	}
	var task, cred *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		return nil, err
	}
	if err := spec.TypeByName("cred", &cred); err != nil {
		return nil, err
	}
	out := map[string]uint32{}
	for _, m := range []struct {
		s           *btf.Struct
		field, name string
	}{
		{task, "real_parent", "task_real_parent_off"},
		{task, "tgid", "task_tgid_off"},
		{task, "cred", "task_cred_off"},
		{cred, "euid", "cred_euid_off"},
		{cred, "egid", "cred_egid_off"},
		{task, "loginuid", "task_loginuid_off"},
		{task, "sessionid", "task_sessionid_off"},
	} {
		off, ok := memberOffset(m.s, m.field)
		if !ok {
			continue
		}
		out[m.name] = off
	}
	for _, need := range []string{"task_real_parent_off", "task_tgid_off", "task_cred_off", "cred_euid_off", "cred_egid_off"} {
		if _, ok := out[need]; !ok {
			return nil, fmt.Errorf("BTF has no %s", need)
		}
	}
	if _, ok := out["task_sessionid_off"]; !ok {
		delete(out, "task_loginuid_off") // loginuid and sessionid go together (CONFIG_AUDIT)
	}
	return out, nil
}

// memberOffset finds a member by name, looking into anonymous structs and unions (task_struct
// keeps many of its fields in randomizable anonymous groups).
func memberOffset(s btf.Type, name string) (uint32, bool) {
	var members []btf.Member
	switch t := s.(type) {
	case *btf.Struct:
		members = t.Members
	case *btf.Union:
		members = t.Members
	default:
		return 0, false
	}
	for _, m := range members {
		if m.Name == name {
			return uint32(m.Offset.Bytes()), true
		}
		if m.Name == "" {
			if off, ok := memberOffset(btf.UnderlyingType(m.Type), name); ok {
				return uint32(m.Offset.Bytes()) + off, true
			}
		}
	}
	return 0, false
}

// openKernel loads and attaches the kernel feed's programs. notes says what it did to the host
// (mounting tracefs, for as long as the feed runs) or could not do (no BTF).
func openKernel(c *Cache) (f *kernelFeed, notes []string, err error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, nil, fmt.Errorf("raising RLIMIT_MEMLOCK: %w", err)
	}
	// Another process that mounted tracefs may unmount it while this one reads it: then mount
	// it again and start over, once.
	for attempt := 0; ; attempt++ {
		release, note, err := acquireTracefs()
		if err != nil {
			return nil, notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		f, more, err := attachKernel(c)
		notes = append(notes, more...)
		if err == nil {
			f.release = release
			return f, notes, nil
		}
		release()
		if attempt > 0 || tracefsPresent() {
			return nil, notes, err
		}
	}
}

// attachKernel reads the tracepoint formats, loads the programs and attaches them.
func attachKernel(c *Cache) (f *kernelFeed, notes []string, err error) {
	spec, err := loadExec()
	if err != nil {
		return nil, notes, err
	}
	dir := tracefsDir()
	consts := map[string]uint32{}
	for _, x := range []struct {
		group, name, field, constant string
		size                         int
	}{
		{"syscalls", "sys_enter_execve", "filename", "enter_execve_filename_off", 8},
		{"syscalls", "sys_enter_execve", "argv", "enter_execve_argv_off", 8},
		{"syscalls", "sys_enter_execveat", "filename", "enter_execveat_filename_off", 8},
		{"syscalls", "sys_enter_execveat", "argv", "enter_execveat_argv_off", 8},
		{"sched", "sched_process_exec", "old_pid", "exec_old_pid_off", 4},
		{"sched", "sched_process_fork", "child_pid", "fork_child_pid_off", 4},
	} {
		off, err := tracepointField(dir, x.group, x.name, x.field, x.size)
		if err != nil {
			return nil, notes, err
		}
		consts[x.constant] = off
	}
	if offs, err := taskOffsets(); err != nil {
		notes = append(notes, "no kernel BTF ("+err.Error()+"): ppid, euid and loginuid come from the parent's record and /proc")
	} else {
		for k, v := range offs {
			consts[k] = v
		}
		if _, ok := offs["task_loginuid_off"]; !ok {
			notes = append(notes, "the kernel has no audit loginuid")
		}
	}
	for name, v := range consts {
		vs, ok := spec.Variables[name]
		if !ok {
			return nil, notes, fmt.Errorf("the eBPF object has no constant %s", name)
		}
		if err := vs.Set(v); err != nil {
			return nil, notes, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	f = &kernelFeed{c: c, done: make(chan struct{}), sync: newFlushSync()}
	if err := spec.LoadAndAssign(&f.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, notes, fmt.Errorf("the kernel's verifier refused the programs: %v", ve)
		}
		return nil, notes, fmt.Errorf("loading the eBPF programs: %w", err)
	}
	for _, a := range []struct {
		group, name string
		prog        *ebpf.Program
	}{
		{"sched", "sched_process_fork", f.objs.SchedFork},
		{"sched", "sched_process_exit", f.objs.SchedExit},
		{"sched", "sched_process_exec", f.objs.SchedExec},
		{"syscalls", "sys_enter_execve", f.objs.EnterExecve},
		{"syscalls", "sys_enter_execveat", f.objs.EnterExecveat},
	} {
		l, err := link.Tracepoint(a.group, a.name, a.prog, nil)
		if err != nil {
			f.Close()
			return nil, notes, fmt.Errorf("attaching to tracepoint %s:%s: %w", a.group, a.name, err)
		}
		f.links = append(f.links, l)
	}
	if f.rd, err = ringbuf.NewReader(f.objs.Events); err != nil {
		f.Close()
		return nil, notes, fmt.Errorf("opening the ring buffer: %w", err)
	}
	go f.run()
	return f, notes, nil
}

func (f *kernelFeed) Name() FeedName { return FeedKernel }

func (f *kernelFeed) run() {
	defer close(f.done)
	var rec ringbuf.Record
	for {
		// The programs do not wake this reader per record (see wakeup() in bpf/exec.c): it
		// drains the ring on a flush (Sync, before every batch of file events is resolved) or
		// when the ring is a quarter full. Nothing else wakes it: an idle daemon sleeps.
		g := f.sync.begin()
		err := f.rd.ReadInto(&rec)
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
			f.sync.answered(g)
			continue
		case errors.Is(err, os.ErrClosed) || errors.Is(err, ringbuf.ErrClosed):
			return
		case err != nil:
			continue
		}
		r, err := parseRecord(rec.RawSample)
		if err != nil {
			f.c.mu.Lock()
			f.c.stats.Malformed++
			f.c.mu.Unlock()
			continue
		}
		f.c.apply(&r)
	}
}

// Sync flushes the ring buffer and waits until the reader has applied what it held (flushSync).
func (f *kernelFeed) Sync() { f.sync.wait(f.rd.Flush, f.done) }

func (f *kernelFeed) Drops() uint64 {
	var per []uint64
	if f.objs.Drops == nil || f.objs.Drops.Lookup(uint32(0), &per) != nil {
		return 0
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

func (f *kernelFeed) Close() error {
	for _, l := range f.links {
		l.Close()
	}
	f.links = nil
	if f.rd != nil {
		f.rd.Close()
		<-f.done
		f.rd = nil
	}
	err := f.objs.Close()
	if f.release != nil {
		f.release()
		f.release = nil
	}
	return err
}
