package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/attrib"
)

// markMask is what a watched directory reports: changes to its entries (created, deleted, moved in
// or out, attributes changed, written, closed after writing) and to itself.
const markMask = unix.FAN_ATTRIB | unix.FAN_CREATE | unix.FAN_DELETE | unix.FAN_MOVED_FROM | unix.FAN_MOVED_TO |
	unix.FAN_CLOSE_WRITE | unix.FAN_MODIFY | unix.FAN_DELETE_SELF | unix.FAN_MOVE_SELF | unix.FAN_EVENT_ON_CHILD | unix.FAN_ONDIR

// fanotify is the fanotify backend. Events name the directory by file handle (mapped back to the
// path that was marked) and the child by name.
type fanotify struct {
	file  *os.File // owns the fd; non-blocking, read through the runtime poller
	fd    int      // the same descriptor, for fanotify_mark; never passed to Fd()
	pidfd bool     // the kernel could give pidfds (5.15+)
	// pidfds says events carry them: asked for with the /proc-only attribution feed, to prove a
	// read describes the acting process. At most maxPIDFDs are held at once.
	pidfds bool

	done chan struct{} // closed by Close: a Run blocked sending returns

	mu      sync.Mutex
	closed  bool
	byKey   map[string]string // handle key -> directory
	byDir   map[string]string // directory -> handle key
	dropped int               // events about directories no longer watched
}

// maxPIDFDs bounds the pidfds held for queued events: the kernel installs one per event read,
// thousands per read in a burst, and holding them all would starve every other open of
// descriptors. Past the bound an event carries its pid alone.
const maxPIDFDs = 256

// heldPIDFDs counts pidfds handed to receivers and not yet released with ReleasePIDFD.
var heldPIDFDs atomic.Int32

// ReleasePIDFD closes an Event's pidfd (a no-op for -1).
func ReleasePIDFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
		heldPIDFDs.Add(-1)
	}
}

// newFanotify opens a notification group, with pidfds in its events when wantPIDFDs and the
// kernel has them. It returns an error wrapping ErrPermission without CAP_SYS_ADMIN and
// ErrNotSupported on kernels without FAN_REPORT_DFID_NAME (before 5.9).
func newFanotify(wantPIDFDs bool) (*fanotify, error) {
	base := uint(unix.FAN_CLASS_NOTIF | unix.FAN_CLOEXEC | unix.FAN_NONBLOCK | unix.FAN_REPORT_DFID_NAME)
	const eventFlags = unix.O_RDONLY | unix.O_LARGEFILE | unix.O_CLOEXEC
	// FAN_REPORT_PIDFD (5.15+) is probed, and used only when asked for: the exec cache's feeds
	// do not need it.
	pidfd := false
	probe, err := unix.FanotifyInit(base|unix.FAN_REPORT_PIDFD, eventFlags)
	switch {
	case err == nil:
		unix.Close(probe)
		pidfd = true
	case errors.Is(err, unix.EPERM):
		// Unprivileged fanotify (5.13+) would open, but without the pids of other processes;
		// tripline needs those, so it asks for CAP_SYS_ADMIN like before 5.13.
		return nil, fmt.Errorf("fanotify needs CAP_SYS_ADMIN (run as root, or use --backend inotify): %w", ErrPermission)
	}
	if wantPIDFDs && pidfd {
		base |= unix.FAN_REPORT_PIDFD
	}
	fd, err := unix.FanotifyInit(base, eventFlags)
	switch {
	case errors.Is(err, unix.EPERM):
		return nil, fmt.Errorf("fanotify needs CAP_SYS_ADMIN (run as root, or use --backend inotify): %w", ErrPermission)
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
		return nil, fmt.Errorf("fanotify with FAN_REPORT_DFID_NAME needs Linux 5.9 (use --backend inotify): %w", ErrNotSupported)
	case err != nil:
		return nil, fmt.Errorf("fanotify_init: %w", err)
	}
	return &fanotify{file: os.NewFile(uintptr(fd), "fanotify"), fd: fd, pidfd: pidfd, pidfds: wantPIDFDs && pidfd, done: make(chan struct{}),
		byKey: map[string]string{}, byDir: map[string]string{}}, nil
}

func (f *fanotify) Name() string { return "fanotify" }
func (f *fanotify) Caps() Caps   { return Caps{PIDs: true, PIDFDs: f.pidfds, PIDFDSupport: f.pidfd} }

// handleKey identifies a directory the way fanotify events do: filesystem id, handle type and
// handle bytes.
func handleKey(fsid [8]byte, htype int32, handle []byte) string {
	b := make([]byte, 0, 12+len(handle))
	b = append(b, fsid[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(htype))
	return string(append(b, handle...))
}

// atHandleFID asks name_to_handle_at for the handle fanotify reports, which need not be
// decodable (Linux 6.5+): overlayfs, and filesystems that cannot be exported, have one. x/sys
// does not name it yet; the value is AT_REMOVEDIR's, as in the kernel's uapi.
const atHandleFID = 0x200

// handleFID says whether name_to_handle_at took AT_HANDLE_FID; cleared the first time a kernel
// refuses it (EINVAL, before 6.5), so the probe happens once.
var handleFID atomic.Bool

func init() { handleFID.Store(true) }

// nameToHandle returns the handle fanotify names the directory at fd by: the non-decodable FID
// handle where the kernel has AT_HANDLE_FID (the same bytes fanotify reports, decodable or not),
// else the export handle.
func nameToHandle(fd int) (unix.FileHandle, error) {
	if handleFID.Load() {
		h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH|atHandleFID)
		if !errors.Is(err, unix.EINVAL) {
			return h, err
		}
		handleFID.Store(false)
	}
	h, _, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	return h, err
}

// dirKey returns the handle key of the directory open at fd and its fsid.
func dirKey(fd int, dir string) (string, [8]byte, error) {
	var fsid [8]byte
	h, err := nameToHandle(fd)
	if err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) {
			return "", fsid, fmt.Errorf("%s: its filesystem has no file handles, which fanotify needs to name directories: %w", dir, ErrNotSupported)
		}
		return "", fsid, fmt.Errorf("name_to_handle_at %s: %w", dir, err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return "", fsid, fmt.Errorf("statfs %s: %w", dir, err)
	}
	// The kernel writes the fsid into events in its own byte order.
	binary.NativeEndian.PutUint32(fsid[0:], uint32(st.Fsid.Val[0]))
	binary.NativeEndian.PutUint32(fsid[4:], uint32(st.Fsid.Val[1]))
	return handleKey(fsid, h.Type(), h.Bytes()), fsid, nil
}

func (f *fanotify) Add(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return os.ErrClosed
	}
	// One descriptor for both the handle and the mark, so they name the same directory even if
	// the path is swapped in between.
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0) // fanotify_mark refuses O_PATH
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd) // never kept: an open descriptor would keep a removed directory alive
	key, _, err := dirKey(fd, dir)
	if err != nil {
		return err
	}
	if err := unix.FanotifyMark(f.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_ONLYDIR, markMask, fd, ""); err != nil {
		if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EOPNOTSUPP) {
			// A filesystem fanotify cannot report by fid (FUSE, NFS and others without an
			// fsid or with handles the kernel refuses): the watcher gives it to inotify.
			return fmt.Errorf("fanotify_mark %s: %w (%w)", dir, err, ErrNotSupported)
		}
		return fmt.Errorf("fanotify_mark %s: %w", dir, err)
	}
	if old, ok := f.byDir[dir]; ok && old != key {
		delete(f.byKey, old) // the path now names another directory
	}
	f.byKey[key], f.byDir[dir] = dir, key
	return nil
}

func (f *fanotify) Remove(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, ok := f.byDir[dir]
	if !ok || f.closed {
		return nil
	}
	delete(f.byDir, dir)
	delete(f.byKey, key)
	err := unix.FanotifyMark(f.fd, unix.FAN_MARK_REMOVE|unix.FAN_MARK_ONLYDIR|unix.FAN_MARK_DONT_FOLLOW, markMask, unix.AT_FDCWD, dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // gone, and its mark with it
	}
	return err
}

func (f *fanotify) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	close(f.done)
	return f.file.Close() // wakes a Read blocked in Run
}

func (f *fanotify) Run(ctx context.Context, out chan<- Event) error {
	stop := context.AfterFunc(ctx, func() { f.Close() })
	defer stop()
	buf := make([]byte, 256<<10)
	for {
		n, err := f.file.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read fanotify: %w", err)
		}
		// The moment of the read: every event in the buffer happened before it.
		at := attrib.Now()
		var evs []Event
		raws, perr := parseEvents(buf[:n])
		for _, r := range raws {
			if r.fd >= 0 {
				unix.Close(int(r.fd)) // FID mode reports no fd; never keep one we did not ask for
			}
			if e, ok := f.event(r); ok {
				e.At = at
				evs = append(evs, e)
			}
		}
		for i, e := range evs {
			select {
			case out <- e:
			case <-ctx.Done():
				closeEvents(evs[i:]) // the sent ones belong to the receiver
				return nil
			case <-f.done:
				closeEvents(evs[i:])
				return nil
			}
		}
		if perr != nil {
			return perr
		}
	}
}

func closeEvents(evs []Event) {
	for _, e := range evs {
		ReleasePIDFD(e.PIDFD)
	}
}

// event maps a parsed record to an Event; false when it concerns no watched directory.
func (f *fanotify) event(r rawEvent) (Event, bool) {
	e := Event{PID: r.pid, PIDFD: -1}
	if r.pidfd >= 0 {
		if f.pidfds && heldPIDFDs.Add(1) <= maxPIDFDs {
			e.PIDFD = int(r.pidfd)
		} else {
			if f.pidfds {
				heldPIDFDs.Add(-1)
			}
			unix.Close(int(r.pidfd))
		}
	}
	if r.mask&unix.FAN_Q_OVERFLOW != 0 {
		e.Op = OpOverflow
		return e, true
	}
	f.mu.Lock()
	dir, ok := f.byKey[r.dirKey]
	name := r.name
	if !ok && r.name == "." {
		// An attribute change of a subdirectory that is not itself watched: the kernel names it by
		// its own handle. Resolve the handle and report it as an entry of its watched parent.
		if p := f.resolve(r.dirKey); p != "" {
			if _, watched := f.byDir[filepath.Dir(p)]; watched {
				dir, name, ok = filepath.Dir(p), filepath.Base(p), true
			}
		}
	}
	if !ok {
		f.dropped++
	}
	f.mu.Unlock()
	if !ok {
		ReleasePIDFD(e.PIDFD)
		return Event{}, false
	}
	e.Dir = dir
	if name != "." {
		e.Name = name
	}
	m := r.mask
	for _, b := range maskOps {
		if m&b.mask != 0 {
			e.Op |= b.op
		}
	}
	if m&(unix.FAN_DELETE_SELF|unix.FAN_MOVE_SELF) != 0 {
		e.Op |= OpSelfGone
		e.Name = ""
	}
	return e, true
}

// resolve returns the path of the directory a handle key names, or "" (f.mu held). It opens a
// watched directory of the same filesystem as the mount reference open_by_handle_at needs; this
// happens only for attribute changes of unwatched subdirectories.
func (f *fanotify) resolve(key string) string {
	if len(key) < 12 {
		return ""
	}
	var ref string
	for k, d := range f.byKey {
		if k[:8] == key[:8] {
			ref = d
			break
		}
	}
	if ref == "" {
		return ""
	}
	mfd, err := unix.Open(ref, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0) // not O_PATH: refused as a mount reference
	if err != nil {
		return ""
	}
	defer unix.Close(mfd)
	h := unix.NewFileHandle(int32(binary.LittleEndian.Uint32([]byte(key[8:12]))), []byte(key[12:]))
	fd, err := unix.OpenByHandleAt(mfd, h, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		// A handle that cannot be decoded (overlayfs, and any FID-only filesystem): look for
		// it among the subdirectories of the watched directories of that filesystem.
		return f.findSubdir(key)
	}
	defer unix.Close(fd)
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return ""
	}
	return p
}

// maskOps maps fanotify mask bits to Ops. MODIFY counts as a write too: truncate(2) by path,
// and a writer that keeps the file open, raise no CLOSE_WRITE; the loop merges bursts per path.
var maskOps = []struct {
	mask uint64
	op   Op
}{
	{unix.FAN_CREATE, OpCreate}, {unix.FAN_DELETE, OpDelete}, {unix.FAN_ATTRIB, OpAttrib},
	{unix.FAN_CLOSE_WRITE | unix.FAN_MODIFY, OpWrite}, {unix.FAN_MOVED_FROM, OpMovedFrom},
	{unix.FAN_MOVED_TO, OpMovedTo}, {unix.FAN_ONDIR, OpIsDir},
}

// rawEvent is one fanotify event as parsed from the kernel's buffer.
type rawEvent struct {
	mask   uint64
	fd     int32 // FAN_NOFD (-1) in FID mode
	pid    int32
	dirKey string // handleKey of the directory (DFID_NAME or DFID record)
	name   string // the child's name; "." for the directory itself
	pidfd  int32  // -1 when absent or when the kernel could not make one
}

const metadataLen = 24 // sizeof(struct fanotify_event_metadata)

// parseEvents walks a buffer read from a fanotify descriptor (FAN_REPORT_DFID_NAME, optionally
// FAN_REPORT_PIDFD) and returns its events. It stops at the first malformed event and returns the
// events before it with an error describing it. It has no side effects: the caller owns (and
// closes) the descriptors the records carry.
func parseEvents(buf []byte) ([]rawEvent, error) {
	var out []rawEvent
	for off := 0; off < len(buf); {
		rest := buf[off:]
		if len(rest) < metadataLen {
			return out, fmt.Errorf("fanotify: %d trailing bytes, shorter than an event header", len(rest))
		}
		evLen := int(binary.NativeEndian.Uint32(rest[0:]))
		vers := rest[4]
		metaLen := int(binary.NativeEndian.Uint16(rest[6:]))
		if vers != unix.FANOTIFY_METADATA_VERSION {
			return out, fmt.Errorf("fanotify: metadata version %d, this tripline reads %d", vers, unix.FANOTIFY_METADATA_VERSION)
		}
		if evLen < metadataLen || evLen > len(rest) || metaLen < metadataLen || metaLen > evLen {
			return out, fmt.Errorf("fanotify: event length %d (metadata %d) does not fit the %d bytes left", evLen, metaLen, len(rest))
		}
		r := rawEvent{
			mask:  binary.NativeEndian.Uint64(rest[8:]),
			fd:    int32(binary.NativeEndian.Uint32(rest[16:])),
			pid:   int32(binary.NativeEndian.Uint32(rest[20:])),
			pidfd: -1,
		}
		if err := parseInfo(rest[metaLen:evLen], &r); err != nil {
			return out, err
		}
		out = append(out, r)
		off += evLen
	}
	return out, nil
}

// parseInfo reads the information records that follow an event's metadata.
func parseInfo(info []byte, r *rawEvent) error {
	for len(info) > 0 {
		if len(info) < 4 {
			return fmt.Errorf("fanotify: %d bytes left, shorter than an info header", len(info))
		}
		typ := info[0]
		n := int(binary.NativeEndian.Uint16(info[2:]))
		if n < 4 || n > len(info) {
			return fmt.Errorf("fanotify: info record of type %d claims %d bytes, %d left", typ, n, len(info))
		}
		rec := info[:n]
		switch typ {
		case unix.FAN_EVENT_INFO_TYPE_DFID_NAME, unix.FAN_EVENT_INFO_TYPE_DFID, unix.FAN_EVENT_INFO_TYPE_FID:
			// header(4) fsid(8) handle_bytes(4) handle_type(4) f_handle[handle_bytes] [name\0]
			if len(rec) < 20 {
				return fmt.Errorf("fanotify: fid record of %d bytes", len(rec))
			}
			hb := int(binary.NativeEndian.Uint32(rec[12:]))
			if hb > len(rec)-20 {
				return fmt.Errorf("fanotify: file handle of %d bytes in a %d-byte record", hb, len(rec))
			}
			var fsid [8]byte
			copy(fsid[:], rec[4:12])
			key := handleKey(fsid, int32(binary.NativeEndian.Uint32(rec[16:])), rec[20:20+hb])
			if typ == unix.FAN_EVENT_INFO_TYPE_FID {
				break // the child's own fid: the directory record names where it is
			}
			r.dirKey = key
			if typ == unix.FAN_EVENT_INFO_TYPE_DFID_NAME {
				name := rec[20+hb:]
				end := 0
				for end < len(name) && name[end] != 0 {
					end++
				}
				if end == len(name) {
					return fmt.Errorf("fanotify: name without its terminating NUL")
				}
				r.name = string(name[:end])
			} else {
				r.name = "."
			}
		case unix.FAN_EVENT_INFO_TYPE_PIDFD:
			if len(rec) < 8 {
				return fmt.Errorf("fanotify: pidfd record of %d bytes", len(rec))
			}
			if fd := int32(binary.NativeEndian.Uint32(rec[4:])); fd >= 0 {
				r.pidfd = fd
			}
		}
		info = info[n:]
	}
	if r.mask&unix.FAN_Q_OVERFLOW == 0 && r.dirKey == "" {
		return fmt.Errorf("fanotify: event (mask %#x) without a directory record", r.mask)
	}
	return nil
}

// findSubdir returns the path of the subdirectory of a watched directory whose handle key is
// key, or "" (f.mu held). It lists the watched directories of key's filesystem, so it is for
// the rare events resolve cannot decode.
func (f *fanotify) findSubdir(key string) string {
	for k, dir := range f.byKey {
		if k[:8] != key[:8] {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			p := filepath.Join(dir, e.Name())
			flags := 0
			if handleFID.Load() {
				flags = atHandleFID
			}
			h, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, flags)
			if err != nil {
				continue
			}
			var fsid [8]byte
			copy(fsid[:], key[:8])
			if handleKey(fsid, h.Type(), h.Bytes()) == key {
				return p
			}
		}
	}
	return ""
}
