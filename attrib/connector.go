package attrib

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/tripline/tripline/proc"
	"golang.org/x/sys/unix"
)

// The netlink process connector (linux/cn_proc.h, linux/connector.h).
const (
	cnIdxProc         = 1
	cnValProc         = 1
	procCnMcastListen = 1
	procCnMcastIgnore = 2

	procEventNone = 0x00000000
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000

	nlmsgHdrLen = 16
	cnMsgLen    = 20
	// proc_event: what, cpu, timestamp_ns, then the union.
	procEventHead = 16
)

// connEvent is one decoded process-connector event.
type connEvent struct {
	What        uint32
	TimestampNS uint64 // CLOCK_MONOTONIC
	// fork: parent and child; exec: the process; exit: the process and its parent.
	PID, TGID             int32
	ParentPID, ParentTGID int32
	ExitCode              uint32
	Err                   uint32 // the answer to a listen request (procEventNone)
}

var errConnector = errors.New("malformed process connector message")

// parseConnector decodes a datagram from the connector socket: one or more netlink messages,
// each carrying a cn_msg with a proc_event. Messages for other connectors are skipped.
func parseConnector(b []byte) ([]connEvent, error) {
	le := binary.LittleEndian
	var out []connEvent
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, fmt.Errorf("%w: %d bytes left, less than a netlink header", errConnector, len(b))
		}
		n := int(le.Uint32(b))
		typ := le.Uint16(b[4:])
		if n < nlmsgHdrLen || n > len(b) {
			return out, fmt.Errorf("%w: netlink length %d of %d bytes", errConnector, n, len(b))
		}
		msg := b[nlmsgHdrLen:n]
		// Messages are aligned to 4 bytes.
		adv := (n + 3) &^ 3
		if adv > len(b) {
			adv = len(b)
		}
		b = b[adv:]
		switch typ {
		case unix.NLMSG_NOOP:
			continue
		case unix.NLMSG_ERROR:
			return out, fmt.Errorf("%w: netlink error message", errConnector)
		case unix.NLMSG_OVERRUN:
			return out, fmt.Errorf("%w: netlink overrun", errConnector)
		}
		if len(msg) < cnMsgLen {
			return out, fmt.Errorf("%w: cn_msg of %d bytes", errConnector, len(msg))
		}
		idx, val, dlen := le.Uint32(msg), le.Uint32(msg[4:]), int(le.Uint16(msg[16:]))
		data := msg[cnMsgLen:]
		if idx != cnIdxProc || val != cnValProc {
			continue
		}
		if dlen > len(data) {
			return out, fmt.Errorf("%w: cn_msg says %d bytes, %d present", errConnector, dlen, len(data))
		}
		data = data[:dlen]
		if len(data) < procEventHead {
			return out, fmt.Errorf("%w: proc_event of %d bytes", errConnector, len(data))
		}
		ev := connEvent{What: le.Uint32(data), TimestampNS: le.Uint64(data[8:])}
		u := data[procEventHead:]
		need := map[uint32]int{procEventNone: 4, procEventFork: 16, procEventExec: 8, procEventExit: 24}[ev.What]
		if len(u) < need {
			return out, fmt.Errorf("%w: event %#x with %d bytes of data", errConnector, ev.What, len(u))
		}
		i32 := func(i int) int32 { return int32(le.Uint32(u[4*i:])) }
		switch ev.What {
		case procEventNone:
			ev.Err = le.Uint32(u)
		case procEventFork:
			ev.ParentPID, ev.ParentTGID, ev.PID, ev.TGID = i32(0), i32(1), i32(2), i32(3)
		case procEventExec:
			ev.PID, ev.TGID = i32(0), i32(1)
		case procEventExit:
			ev.PID, ev.TGID, ev.ExitCode = i32(0), i32(1), le.Uint32(u[8:])
			ev.ParentPID, ev.ParentTGID = i32(4), i32(5)
		default:
			continue // uid, gid, sid, ptrace, comm, coredump: not used
		}
		out = append(out, ev)
	}
	return out, nil
}

// connectorFeed reads the process connector on a dedicated OS thread at raised priority, and
// reads /proc at each exec, racing the process's exit.
type connectorFeed struct {
	c      *Cache
	fd     int
	wake   int // eventfd that stops the reader
	done   chan struct{}
	idle   atomic.Bool
	drops  atomic.Uint64
	monoTo int64 // CLOCK_BOOTTIME - CLOCK_MONOTONIC at start
	note   string
}

func openConnector(c *Cache) (*connectorFeed, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w", err)
	}
	fail := func(what string, err error) (*connectorFeed, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("process connector: %s: %w", what, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return fail("bind", err)
	}
	// A burst of execs must not overflow the socket: ask for 8 MiB (root may exceed rmem_max).
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}
	if err := connectorListen(fd, procCnMcastListen); err != nil {
		return fail("subscribe", err)
	}
	// The kernel acknowledges the subscription with a PROC_EVENT_NONE; a kernel without
	// CONFIG_PROC_EVENTS sends nothing, so wait for it briefly.
	if err := connectorAck(fd); err != nil {
		return fail("no answer to the subscription (is CONFIG_PROC_EVENTS set?)", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fail("eventfd", err)
	}
	var boot, mono unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	f := &connectorFeed{c: c, fd: fd, wake: wake, done: make(chan struct{}), monoTo: boot.Nano() - mono.Nano()}
	f.idle.Store(true)
	ready := make(chan string)
	go f.run(ready)
	f.note = <-ready
	return f, nil
}

func connectorListen(fd int, op uint32) error {
	b := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	le := binary.LittleEndian
	le.PutUint32(b, uint32(len(b)))
	le.PutUint16(b[4:], unix.NLMSG_DONE)
	le.PutUint32(b[12:], uint32(unix.Getpid()))
	m := b[nlmsgHdrLen:]
	le.PutUint32(m, cnIdxProc)
	le.PutUint32(m[4:], cnValProc)
	le.PutUint16(m[16:], 4)
	le.PutUint32(m[cnMsgLen:], op)
	return unix.Sendto(fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

func connectorAck(fd int) error {
	buf := make([]byte, 4096)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, 100); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return err
		}
		evs, _ := parseConnector(buf[:n])
		for _, ev := range evs {
			if ev.What == procEventNone {
				if ev.Err != 0 {
					return unix.Errno(ev.Err)
				}
				return nil
			}
		}
		// Process events before the acknowledgement mean the subscription works.
		if len(evs) > 0 {
			return nil
		}
	}
	return errors.New("timed out")
}

func (f *connectorFeed) Name() FeedName { return FeedConnector }

// run is the reader: on its own locked OS thread at raised priority, so the /proc read at exec
// wins the race against short-lived processes as often as user space can.
func (f *connectorFeed) run(ready chan<- string) {
	defer close(f.done)
	runtime.LockOSThread()
	tid := unix.Gettid()
	note := "process connector reader at SCHED_FIFO priority 1"
	if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
		note = "process connector reader at nice -20 (SCHED_FIFO refused: " + err.Error() + ")"
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, -20); err != nil {
			note = "process connector reader at normal priority (raising it was refused: " + err.Error() + ")"
		}
	}
	ready <- note
	buf := make([]byte, 64<<10)
	for {
		pfd := []unix.PollFd{{Fd: int32(f.fd), Events: unix.POLLIN}, {Fd: int32(f.wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, -1); err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if pfd[1].Revents != 0 {
			return
		}
		f.idle.Store(false)
		for {
			n, _, err := unix.Recvfrom(f.fd, buf, 0)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if errors.Is(err, unix.ENOBUFS) {
				// The socket overflowed: events were lost.
				f.drops.Add(1)
				continue
			}
			if err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				break
			}
			evs, err := parseConnector(buf[:n])
			if err != nil {
				f.c.mu.Lock()
				f.c.stats.Malformed++
				f.c.mu.Unlock()
			}
			f.handleBatch(evs)
		}
		f.idle.Store(true)
	}
}

// handleBatch applies the events of one datagram, as soon as it is received (draining the socket
// first and reading afterwards was measured worse: 75% against 88% with 4 parallel loops). The
// executables and argv of its execs are read before anything else: those are what vanish when a
// short-lived process exits.
func (f *connectorFeed) handleBatch(evs []connEvent) {
	images := make([]proc.Process, len(evs))
	for i := range evs {
		if evs[i].What == procEventExec {
			images[i] = proc.ReadImage(f.c.procFS, evs[i].TGID)
		}
	}
	for i := range evs {
		f.handle(&evs[i], &images[i])
	}
}

func (f *connectorFeed) handle(ev *connEvent, image *proc.Process) {
	boot := uint64(int64(ev.TimestampNS) + f.monoTo)
	switch ev.What {
	case procEventFork:
		if ev.PID != ev.TGID {
			return // a thread
		}
		f.c.apply(&record{Kind: kindFork, PID: ev.ParentTGID, Other: ev.TGID, BootNS: boot, UID: noUID, GID: noUID})
	case procEventExec:
		c := f.c
		p := *image
		err := proc.FillAtExec(c.procFS, &p)
		e := &entry{source: srcConnector, startNS: boot}
		c.mu.Lock()
		prev := c.current(ev.TGID, 0)
		c.stats.Execs++
		if err == nil {
			e.p = p
			if prev != nil {
				if p.LoginUID < 0 {
					e.p.LoginUID, e.p.SessionID = prev.p.LoginUID, prev.p.SessionID
				}
				if p.Name == "" { // exited before its stat was read
					e.p.PPID = prev.p.PPID
				}
				if p.UID < 0 { // exec keeps the real ids
					e.p.UID, e.p.GID = prev.p.UID, prev.p.GID
				}
			}
		} else {
			// The race is lost: the process is gone. What the fork told is kept: its parent.
			e.p = proc.Process{PID: ev.TGID, UID: -1, EUID: -1, GID: -1, EGID: -1, LoginUID: -1, SessionID: -1}
			if prev != nil {
				e.p.PPID, e.p.LoginUID, e.p.SessionID = prev.p.PPID, prev.p.LoginUID, prev.p.SessionID
				// exec keeps the real uid and gid, which the fork inherited.
				e.p.UID, e.p.GID = prev.p.UID, prev.p.GID
				e.p.Name = prev.p.Name
				// loginuid and session id are inherited, and the parent usually still runs:
				// its current values beat a copy made when it was first seen.
				if l, s := proc.ReadLogin(c.procFS, prev.p.PPID); l >= 0 {
					e.p.LoginUID, e.p.SessionID = l, s
				}
			}
			e.p.Exited = true
		}
		c.put(e)
		c.mu.Unlock()
	case procEventExit:
		if ev.PID != ev.TGID {
			return
		}
		f.c.apply(&record{Kind: kindExit, PID: ev.TGID, BootNS: boot})
	}
}

// noUID marks ids a connector fork does not carry.
const noUID = 1<<32 - 1

// Sync waits until the socket is empty and what was received is applied.
func (f *connectorFeed) Sync() {
	deadline := time.Now().Add(syncTimeout)
	for time.Now().Before(deadline) {
		if f.idle.Load() {
			if n, err := unix.IoctlGetInt(f.fd, unix.SIOCINQ); err != nil || n == 0 {
				return
			}
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func (f *connectorFeed) Drops() uint64 { return f.drops.Load() }

func (f *connectorFeed) Close() error {
	var one [8]byte
	binary.LittleEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(f.wake, one[:])
	<-f.done
	_ = connectorListen(f.fd, procCnMcastIgnore)
	unix.Close(f.wake)
	return unix.Close(f.fd)
}
