package watch

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

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
	last map[int]mount
	out  chan []mountChange
	wg   sync.WaitGroup
	once sync.Once
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
	t := &mountTable{name: name, fd: fd, wake: wake, out: make(chan []mountChange, 16)}
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
// goroutine that close waits for. A table that cannot be read any more ends the watch with one
// last change list holding nil, which the loop reports.
func (t *mountTable) start() error {
	cur, err := t.read()
	if err != nil {
		return err
	}
	t.last = cur
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for {
			fds := []unix.PollFd{{Fd: int32(t.fd), Events: unix.POLLPRI}, {Fd: int32(t.wake), Events: unix.POLLIN}}
			if _, err := unix.Poll(fds, -1); err != nil {
				if errors.Is(err, unix.EINTR) {
					continue
				}
				return
			}
			if fds[1].Revents != 0 {
				return
			}
			if fds[0].Revents&(unix.POLLPRI|unix.POLLERR) == 0 {
				continue
			}
			at := attrib.Now()
			cur, err := t.read()
			if err != nil {
				return
			}
			chs := diffMounts(t.last, cur, at)
			t.last = cur
			if len(chs) == 0 {
				continue
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
				t.out <- chs
			}
		}
	}()
	return nil
}

func (t *mountTable) closeFDs() {
	unix.Close(t.fd)
	unix.Close(t.wake)
}

// close ends the watch and waits for its goroutine.
func (t *mountTable) close() {
	t.once.Do(func() {
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
