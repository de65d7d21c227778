package watch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	id     int
	point  string // where it is mounted (a host path)
	root   string // what of its filesystem it shows ("/" unless a bind mount of a part)
	fstype string
	source string
}

// mountChange is a mount that appeared, went or moved between two readings of the table.
type mountChange struct {
	op  string // "mounted", "unmounted" or "moved"
	m   mount
	was string // the old mount point of a move
	at  uint64 // attrib.Now when the change was read
	pid int32  // the process that made it, from a fanotify mount event; 0 when unknown
}

// what describes the mount for a finding's reason.
func (c mountChange) what() string {
	src := c.m.source
	if c.m.root != "/" && c.m.root != "" {
		src += ":" + c.m.root // a bind mount of a part of that filesystem
	}
	switch c.op {
	case "moved":
		return fmt.Sprintf("%s mount of %s moved from %s", c.m.fstype, quoteMount(src), quoteMount(c.was))
	case "unmounted":
		return fmt.Sprintf("%s mount of %s unmounted", c.m.fstype, quoteMount(src))
	}
	return fmt.Sprintf("%s mount of %s", c.m.fstype, quoteMount(src))
}

func quoteMount(s string) string { return strconv.Quote(s) }

// parseMountInfo reads /proc/self/mountinfo ("36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3
// /dev/root rw"): mount id, parent id, device, root, mount point, options, optional fields up to
// "-", then the filesystem type and the source. Paths are octal-escaped (\040 for a space).
func parseMountInfo(b []byte) (map[int]mount, error) {
	out := map[int]mount{}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) < 7 {
			return nil, fmt.Errorf("mountinfo: short line %q", line)
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("mountinfo: mount id in %q", line)
		}
		m := mount{id: id, root: unescapeMount(f[3]), point: unescapeMount(f[4])}
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				if i+1 < len(f) {
					m.fstype = f[i+1]
				}
				if i+2 < len(f) {
					m.source = unescapeMount(f[i+2])
				}
				break
			}
		}
		out[id] = m
	}
	return out, nil
}

// unescapeMount undoes the kernel's octal escapes of space, tab, newline and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// diffMounts returns what changed from old to cur, in mount-point order.
func diffMounts(old, cur map[int]mount, at uint64) []mountChange {
	var out []mountChange
	for id, m := range cur {
		o, ok := old[id]
		switch {
		case !ok:
			out = append(out, mountChange{op: "mounted", m: m, at: at})
		case o.point != m.point:
			out = append(out, mountChange{op: "moved", m: m, was: o.point, at: at})
		}
	}
	for id, m := range old {
		if _, ok := cur[id]; !ok {
			out = append(out, mountChange{op: "unmounted", m: m, at: at})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].m.point != out[j].m.point {
			return out[i].m.point < out[j].m.point
		}
		return out[i].m.id < out[j].m.id
	})
	return out
}

// mountTable watches the mount table: poll(2) on an open /proc/self/mountinfo reports
// POLLPRI|POLLERR after every mount, unmount or move in the namespace, whatever made it.
type mountTable struct {
	name string
	fd   int // the open mountinfo, read from its start each time
	wake int // an eventfd: close() writes it to end the poll
	// fan is a fanotify group reporting mounts and unmounts in this namespace with the pid
	// that made them (FAN_REPORT_MNT, 6.15+); -1 without, and fanErr says why.
	fan    int
	fanErr error
	oldOf  map[uint64]int // unique mount id -> mountinfo id, learned from mount events
	last   map[int]mount
	out    chan []mountChange
	err    error         // why the watch ended, once out carried nil
	done   chan struct{} // closed by close: a blocked send gives up
	wg     sync.WaitGroup
	once   sync.Once
}

// openMountTable opens the table and reads it once; start begins watching it.
func openMountTable(name string) (*mountTable, error) {
	if name == "" {
		name = "/proc/self/mountinfo"
	}
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	t := &mountTable{name: name, fd: fd, wake: wake, out: make(chan []mountChange, 16), done: make(chan struct{}), oldOf: map[uint64]int{}}
	t.fan, t.fanErr = openMountGroup()
	if t.last, err = t.read(); err != nil {
		t.closeFDs()
		return nil, err
	}
	return t, nil
}

// read returns the table as it is now.
func (t *mountTable) read() (map[int]mount, error) {
	if _, err := unix.Seek(t.fd, 0, 0); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.name, err)
	}
	var buf bytes.Buffer
	chunk := make([]byte, 64<<10)
	for {
		n, err := unix.Read(t.fd, chunk)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.name, err)
		}
		if n == 0 {
			break
		}
		buf.Write(chunk[:n])
	}
	return parseMountInfo(buf.Bytes())
}

// start reads the table again (the one what follows is compared with) and watches it in a
// goroutine that close waits for. A table that cannot be read or polled any more ends the watch
// with a nil change list, after which err says why.
func (t *mountTable) start() error {
	cur, err := t.read()
	if err != nil {
		return err
	}
	t.last = cur
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		fail := func(err error) {
			t.err = err
			select {
			case t.out <- nil:
			case <-t.done:
			}
		}
		for {
			fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLPRI}, {Fd: int32(t.wake), Events: unix.POLLIN}}
			if t.fan >= 0 {
				fds = append(fds, unix.PollFd{Fd: int32(t.fan), Events: unix.POLLIN})
			}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				fail(fmt.Errorf("poll %s: %w", t.name, err))
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			changed := fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0
			var notes []mountNote
			if t.fan >= 0 && fds[2].Revents != 0 {
				notes = t.readMountGroup()
			}
			if changed && t.fan >= 0 && len(notes) == 0 {
				// The kernel queues the mount event when the mount is complete, just after it
				// changed the table: wait for it a little, so the change comes with its pid.
				wait := []unix.PollFd{{Fd: int32(t.fan), Events: unix.POLLIN}, {Fd: int32(t.wake), Events: unix.POLLIN}}
				if n, _ := unix.Poll(wait, 250); n > 0 && wait[0].Revents != 0 {
					notes = t.readMountGroup()
				}
			}
			if !changed && len(notes) == 0 {
				continue
			}
			at := attrib.Now()
			cur, err := t.read()
			if err != nil {
				fail(err)
				return
			}
			chs := diffMounts(t.last, cur, at)
			t.last = cur
			if len(chs) == 0 {
				continue
			}
			if len(notes) > 0 {
				t.attribute(chs, notes)
			}
			select {
			case t.out <- chs:
			default:
				// The loop is behind by 16 rounds: merge into one reading it will see.
				select {
				case prev := <-t.out:
					chs = append(prev, chs...)
				default:
				}
				select {
				case t.out <- chs:
				case <-t.done:
					return
				}
			}
		}
	}()
	return nil
}

func (t *mountTable) closeFDs() {
	unix.Close(t.fd)
	unix.Close(t.wake)
	if t.fan >= 0 {
		unix.Close(t.fan)
	}
}

// how says how changes are seen, for the ready line.
func (t *mountTable) how() string {
	if t.fan >= 0 {
		return "fanotify+mountinfo"
	}
	return "mountinfo"
}

// openMountGroup opens a fanotify group for the mount events of this process's namespace.
func openMountGroup() (int, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_NOTIF|unix.FAN_REPORT_MNT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fanotify mount events (FAN_REPORT_MNT, Linux 6.15): %w", err)
	}
	ns, err := unix.Open("/proc/self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fanotify mount events: open /proc/self/ns/mnt: %w", err)
	}
	defer unix.Close(ns)
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD|unix.FAN_MARK_MNTNS, unix.FAN_MNT_ATTACH|unix.FAN_MNT_DETACH, ns, ""); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("fanotify mount events: mark the mount namespace: %w", err)
	}
	return fd, nil
}

// mountNote is one fanotify mount event.
type mountNote struct {
	detach bool
	pid    int32
	unique uint64 // the mount's unique id (statmount's, not mountinfo's)
}

// readMountGroup reads the queued mount events (the group is non-blocking).
func (t *mountTable) readMountGroup() []mountNote {
	var out []mountNote
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.Read(t.fan, buf)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			return out
		}
		out = append(out, parseMountEvents(buf[:n])...)
	}
}

// parseMountEvents parses fanotify mount events: metadata, then a FAN_EVENT_INFO_TYPE_MNT
// record (header, padding, the 64-bit unique mount id). Malformed events end the parse.
func parseMountEvents(b []byte) []mountNote {
	var out []mountNote
	for len(b) >= metadataLen {
		evLen := int(binary.NativeEndian.Uint32(b[0:]))
		metaLen := int(binary.NativeEndian.Uint16(b[6:]))
		if evLen < metadataLen || evLen > len(b) || metaLen < metadataLen || metaLen > evLen {
			return out
		}
		mask := binary.NativeEndian.Uint64(b[8:])
		nt := mountNote{detach: mask&unix.FAN_MNT_DETACH != 0, pid: int32(binary.NativeEndian.Uint32(b[20:]))}
		for info := b[metaLen:evLen]; len(info) >= 4; {
			n := int(binary.NativeEndian.Uint16(info[2:]))
			if n < 4 || n > len(info) {
				break
			}
			if info[0] == unix.FAN_EVENT_INFO_TYPE_MNT && n >= 16 {
				nt.unique = binary.NativeEndian.Uint64(info[n-8:])
			}
			info = info[n:]
		}
		if nt.unique != 0 && mask&(unix.FAN_MNT_ATTACH|unix.FAN_MNT_DETACH) != 0 {
			out = append(out, nt)
		}
		b = b[evLen:]
	}
	return out
}

// statmountOldID returns the mountinfo id of a mount named by its unique id (statmount(2),
// Linux 6.8); false when it is not mounted any more.
func statmountOldID(unique uint64) (int, bool) {
	req := struct {
		size, spare uint32
		id, param   uint64
	}{24, 0, unique, 0x2} // MNT_ID_REQ_SIZE_VER0, STATMOUNT_MNT_BASIC
	var buf [512]byte
	_, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return 0, false
	}
	// struct statmount: ... __u64 mnt_id at 40, __u64 mnt_parent_id at 48, __u32 mnt_id_old at 56.
	if binary.NativeEndian.Uint64(buf[40:]) != unique {
		return 0, false
	}
	return int(binary.NativeEndian.Uint32(buf[56:])), true
}

// attribute gives each change the pid of the mount event about its mount: mounts through
// statmount (the event's unique id to mountinfo's), unmounts through the ids learned when they
// were mounted, or, for an unmount of a mount older than the daemon, when it is the only one.
func (t *mountTable) attribute(chs []mountChange, notes []mountNote) {
	pidOf := map[int]int32{}
	var unknownDetach []int32
	for _, nt := range notes {
		if !nt.detach {
			if old, ok := statmountOldID(nt.unique); ok {
				t.oldOf[nt.unique] = old
				pidOf[old] = nt.pid
			}
			continue
		}
		if old, ok := t.oldOf[nt.unique]; ok {
			if _, also := pidOf[old]; !also { // a move is a detach and an attach: the attach has it
				pidOf[old] = nt.pid
			}
			delete(t.oldOf, nt.unique)
			continue
		}
		unknownDetach = append(unknownDetach, nt.pid)
	}
	var unattributed []int
	for i := range chs {
		if pid, ok := pidOf[chs[i].m.id]; ok {
			chs[i].pid = pid
		} else if chs[i].op == "unmounted" {
			unattributed = append(unattributed, i)
		}
	}
	if len(unattributed) == 1 && len(unknownDetach) == 1 {
		chs[unattributed[0]].pid = unknownDetach[0]
	}
}

// close ends the watch and waits for its goroutine.
func (t *mountTable) close() {
	t.once.Do(func() {
		close(t.done)
		var one [8]byte
		one[0] = 1
		unix.Write(t.wake, one[:])
		t.wg.Wait()
		t.closeFDs()
	})
}

// mountsC is the channel of a table's changes; nil (never ready) when there is no table.
func mountsC(t *mountTable) <-chan []mountChange {
	if t == nil {
		return nil
	}
	return t.out
}
