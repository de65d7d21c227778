package attrib

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// TracefsPath is where tracefs is looked for, and mounted when it is not.
const TracefsPath = "/sys/kernel/tracing"

// tracefs, when tripline has to mount it, is shared by every tripline process that uses it and
// unmounted by the last one to let go: tripline leaves no mount behind, and never takes one away
// from another tripline that is still attaching its programs (found when a test's daemon and a
// feed test ran at once: the first to finish unmounted it under the other). Processes agree
// through two lock files: tracefsLockPath, held exclusively while one mounts or unmounts, and
// tracefsUsersPath, held shared by each process using tracefs; an exclusive lock that can be
// taken on it means nobody else does. Within a process, tracefsRefs counts its feeds.
var tracefsMu sync.Mutex
var (
	tracefsRefs  int      // kernel feeds of this process using tracefs
	tracefsUsers *os.File // shared-locked while tracefsRefs > 0; nil when no lock file could be made
	tracefsOwn   bool     // without lock files: this process mounted it
)

var (
	tracefsLockPath  = "/run/tripline-tracefs.lock"
	tracefsUsersPath = "/run/tripline-tracefs.users"
)

// tracefsSource is the source tripline mounts tracefs with: "tripline-PID", so that one left
// behind by a daemon killed before it could unmount it (SIGKILL, OOM) is recognised in
// /proc/self/mountinfo, and one a running tripline mounted (a second daemon for another --root)
// is not taken from it.
var tracefsSource = "tripline-" + strconv.Itoa(os.Getpid())

// mountinfoPath is read to recognise a left tracefs; tests of the parser point it at a fixture.
var mountinfoPath = "/proc/self/mountinfo"

// tracefsPresent reports whether tracefs is mounted where the feed looks for it.
func tracefsPresent() bool {
	var st unix.Statfs_t
	if err := unix.Statfs(TracefsPath, &st); err == nil && st.Type == unix.TRACEFS_MAGIC {
		return true
	}
	if err := unix.Statfs("/sys/kernel/debug/tracing", &st); err == nil && (st.Type == unix.TRACEFS_MAGIC || st.Type == unix.DEBUGFS_MAGIC) {
		if _, err := os.Stat("/sys/kernel/debug/tracing/events"); err == nil {
			return true
		}
	}
	return false
}

// leftTracefs reports whether the tracefs visible at TracefsPath (the topmost mount there) is one
// a tripline that is no longer running mounted.
func leftTracefs() bool {
	b, err := os.ReadFile(mountinfoPath)
	if err != nil {
		return false
	}
	return leftBy(topMountSource(b, TracefsPath), processAlive)
}

// leftBy decides from a tracefs mount's "fstype source" whether a tripline left it: mounted as
// "tripline-PID" by a process that is gone, or as "tripline" by a version before the pid was in
// the source. A live tripline's tracefs is its own to unmount.
func leftBy(src string, alive func(pid int) bool) bool {
	rest, ok := strings.CutPrefix(src, "tracefs tripline")
	switch {
	case !ok:
		return false
	case rest == "":
		return true
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(rest, "-"))
	if err != nil || !strings.HasPrefix(rest, "-") || pid <= 0 {
		return false
	}
	return !alive(pid)
}

// processAlive reports whether pid names a running process (signal 0: EPERM still means it runs).
func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// topMountSource returns "fstype source" of the last mount at point in a mountinfo text (the
// one visible there), or "".
func topMountSource(mountinfo []byte, point string) string {
	var out string
	for _, line := range bytes.Split(mountinfo, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) < 10 || f[4] != point {
			continue
		}
		for i := 6; i+2 < len(f); i++ {
			if f[i] == "-" {
				out = f[i+1] + " " + f[i+2]
				break
			}
		}
	}
	return out
}

// acquireTracefs makes tracefs available at TracefsPath, mounting it when it is absent. note
// says what it did to the host ("" when nothing). release gives it back: the last tripline
// process to release a tracefs a tripline mounted unmounts it.
func acquireTracefs() (release func(), note string, err error) {
	tracefsMu.Lock()
	defer tracefsMu.Unlock()
	if tracefsRefs > 0 && tracefsPresent() {
		tracefsRefs++
		return releaseTracefs, "", nil
	}
	if tracefsRefs > 0 { // gone under this process (a tripline without the lock files)
		dropTracefsUsers()
	}
	unlock := lockTracefs()
	defer unlock()
	if users, err := os.OpenFile(tracefsUsersPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600); err == nil {
		if unix.Flock(int(users.Fd()), unix.LOCK_SH) == nil {
			tracefsUsers = users
		} else {
			users.Close()
		}
	}
	tracefsRefs, tracefsOwn = 1, false
	if tracefsPresent() {
		if leftTracefs() {
			return releaseTracefs, "reused the tracefs at " + TracefsPath + " that an earlier tripline left mounted (killed before it could unmount it); it is unmounted when no tripline uses it", nil
		}
		return releaseTracefs, "", nil // the system's, or another running tripline's
	}
	if err := unix.Mount(tracefsSource, TracefsPath, "tracefs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		dropTracefsUsers()
		return nil, "", fmt.Errorf("tracefs is not mounted and mounting it at %s failed: %w", TracefsPath, err)
	}
	tracefsOwn = true
	return releaseTracefs, "mounted tracefs at " + TracefsPath + " while the feed runs (it was not mounted)", nil
}

func releaseTracefs() {
	tracefsMu.Lock()
	defer tracefsMu.Unlock()
	if tracefsRefs == 0 {
		return
	}
	if tracefsRefs--; tracefsRefs > 0 {
		return
	}
	unlock := lockTracefs()
	defer unlock()
	last := tracefsOwn // without the lock files, as far as this process knows
	if tracefsUsers != nil {
		fd := int(tracefsUsers.Fd())
		unix.Flock(fd, unix.LOCK_UN)
		last = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil
	}
	if last && trackedTracefs() {
		// Lazily: a reader elsewhere keeps what it opened.
		unix.Unmount(TracefsPath, unix.MNT_DETACH)
	}
	dropTracefsUsers()
}

// dropTracefsUsers lets go of this process's use of tracefs. tracefsMu is held.
func dropTracefsUsers() {
	if tracefsUsers != nil {
		tracefsUsers.Close() // and its lock
		tracefsUsers = nil
	}
	tracefsRefs, tracefsOwn = 0, false
}

// trackedTracefs reports whether the tracefs visible at TracefsPath is one a tripline mounted
// (never the system's).
func trackedTracefs() bool {
	b, err := os.ReadFile(mountinfoPath)
	if err != nil {
		return false
	}
	return strings.HasPrefix(topMountSource(b, TracefsPath), "tracefs tripline")
}

// lockTracefs takes the lock under which tripline processes mount and unmount tracefs, and
// returns its release. Without the lock file (no writable /run) it does nothing.
func lockTracefs() func() {
	f, err := os.OpenFile(tracefsLockPath, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return func() {}
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() { f.Close() }
}

// tracefsDir returns the directory holding events/, as acquireTracefs left it.
func tracefsDir() string {
	var st unix.Statfs_t
	if err := unix.Statfs(TracefsPath, &st); err == nil && st.Type == unix.TRACEFS_MAGIC {
		return TracefsPath
	}
	return "/sys/kernel/debug/tracing"
}

// field is one field of a tracepoint's format.
type field struct {
	Offset, Size int
}

var errFormat = errors.New("malformed tracepoint format")

// parseFormat reads a tracefs format file ("\tfield:pid_t child_pid;\toffset:20;\tsize:4;...")
// into field name -> offset and size.
func parseFormat(b []byte) (map[string]field, error) {
	out := map[string]field{}
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		line = bytes.TrimSpace(line)
		rest, ok := bytes.CutPrefix(line, []byte("field:"))
		if !ok {
			continue
		}
		parts := strings.Split(string(rest), ";")
		if len(parts) < 3 {
			return nil, fmt.Errorf("%w: %q", errFormat, line)
		}
		decl := strings.TrimSpace(parts[0])
		// The name is the declaration's last word, less any array suffix: "char comm[16]".
		name := decl
		if i := strings.LastIndexAny(decl, " *"); i >= 0 {
			name = decl[i+1:]
		}
		if i := strings.IndexByte(name, '['); i >= 0 {
			name = name[:i]
		}
		if name == "" {
			return nil, fmt.Errorf("%w: no field name in %q", errFormat, line)
		}
		var f field
		var haveOff, haveSize bool
		for _, kv := range parts[1:] {
			k, v, ok := strings.Cut(strings.TrimSpace(kv), ":")
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1<<16 {
				return nil, fmt.Errorf("%w: %s of %s: %q", errFormat, k, name, v)
			}
			switch k {
			case "offset":
				f.Offset, haveOff = n, true
			case "size":
				f.Size, haveSize = n, true
			}
		}
		if !haveOff || !haveSize {
			return nil, fmt.Errorf("%w: %s has no offset or size", errFormat, name)
		}
		out[name] = f
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no fields", errFormat)
	}
	return out, nil
}

// tracepointField returns the offset of a field of tracepoint group/name, checking its size.
func tracepointField(dir, group, name, fieldName string, size int) (uint32, error) {
	p := filepath.Join(dir, "events", group, name, "format")
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("tracepoint %s:%s: %w", group, name, err)
	}
	fields, err := parseFormat(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	f, ok := fields[fieldName]
	if !ok {
		return 0, fmt.Errorf("%s: no field %s", p, fieldName)
	}
	if f.Size != size {
		return 0, fmt.Errorf("%s: field %s has size %d, want %d", p, fieldName, f.Size, size)
	}
	return uint32(f.Offset), nil
}
