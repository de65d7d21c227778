// Package watch is tripline's daemon: kernel backends (fanotify through golang.org/x/sys/unix,
// inotify through fsnotify) that yield Events for the directories of the policy's locations, and
// the loop that turns each Event into an observation — stat the path, diff it against the last
// observation, judge it with the policy, record it, emit it — with reconciliation on start, after
// a lost event and on a timer, so that no change is ever missed silently.
//
// # Linux notes
//
//   - fanotify needs CAP_SYS_ADMIN and Linux 5.9 (FAN_REPORT_DFID_NAME: events name the directory
//     by file handle and the child by name); 5.15 adds FAN_REPORT_PIDFD. Marks are inode marks on
//     each watched directory (FAN_EVENT_ON_CHILD). A directory is known by the handle
//     name_to_handle_at gives with AT_HANDLE_FID (6.5+): the non-decodable handle fanotify itself
//     reports, which overlayfs has although it has no decodable handles; tmpfs has handles from
//     6.6. Each event carries the pid of the process that made the change, resolved to a process
//     through package attrib's exec cache.
//   - Coverage is per directory: where fanotify cannot mark a directory (no file handles before
//     6.5 on overlayfs, FUSE, NFS and other filesystems without an fsid), that directory goes to
//     inotify while the rest stays on fanotify, in the same loop; where inotify cannot either, it
//     is rescanned every DefaultPollEvery, and a gap row stays open for it, since a change undone
//     between two rescans is not seen. Each such directory is a warning that names it; the ready
//     line counts directories by coverage.
//   - Mounts change what is visible without a file event (a bind mount over an init script). The
//     mount table is watched: poll(2) on /proc/self/mountinfo reports every mount, unmount and
//     move of the namespace (POLLPRI|POLLERR), and a fanotify group marked on the mount namespace
//     (FAN_REPORT_MNT, FAN_MNT_ATTACH/DETACH, 6.15+) names the process that made it; statmount(2)
//     (6.8+) maps its mount id to mountinfo's. One that covers a location, a directory in one or
//     a file in one is a mount-over alert; the directories are marked again (what is visible
//     after the mount is what is watched) and everything is reconciled. A file bind-mounted over a
//     location's file has its inode's parent elsewhere, so no mark sees it change: the directory
//     it is visible in is rescanned every DefaultPollEvery too, with a gap open for it.
//   - The kernel queues 16,384 events per group by default; past that it drops events and queues
//     one FAN_Q_OVERFLOW. tripline records a gap, reconciles every location and closes the gap.
//   - inotify (the fallback: no CAP_SYS_ADMIN, an older kernel, --backend inotify) cannot tell who
//     made a change: events carry no pid. With an exec-cache feed running, a process that exec'd
//     in the last 2 s and whose arguments name the path is offered as the actor, marked
//     "heuristic"; otherwise the attribution is "none". Each watched directory takes one watch out
//     of fs.inotify.max_user_watches (8192 or more by default); the queue holds
//     fs.inotify.max_queued_events (16,384) before it overflows. ENOSPC from inotify_add_watch
//     means max_user_watches is exhausted: raise it with sysctl.
package watch

import (
	"context"
	"errors"
	"strings"
)

// Op is what happened to a path, as the kernel reported it.
type Op uint32

// Ops. An Event may carry several.
const (
	OpCreate Op = 1 << iota
	OpDelete
	OpAttrib
	OpWrite // closed after writing
	OpMovedFrom
	OpMovedTo
	OpSelfGone // the watched directory itself was deleted or moved away
	OpOverflow // the kernel lost events: everything may have changed
	OpIsDir    // the child is a directory
)

var opNames = []struct {
	op   Op
	name string
}{
	{OpCreate, "create"}, {OpDelete, "delete"}, {OpAttrib, "attrib"}, {OpWrite, "write"},
	{OpMovedFrom, "moved-from"}, {OpMovedTo, "moved-to"}, {OpSelfGone, "self-gone"},
	{OpOverflow, "overflow"}, {OpIsDir, "dir"},
}

func (o Op) String() string {
	var parts []string
	for _, n := range opNames {
		if o&n.op != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "|")
}

// Event is one kernel notification, mapped back to the host path of the directory it concerns.
type Event struct {
	Dir  string // host path of the watched directory
	Name string // the child's name; "" when the event is about Dir itself
	Op   Op
	PID  int32 // the acting process; 0 when the backend cannot know (inotify)
	// PIDFD is a pidfd for PID, owned by the receiver, who releases it with ReleasePIDFD; -1
	// when none (asked for only with /proc-only attribution; see Caps.PIDFDs).
	PIDFD int
	// At is CLOCK_BOOTTIME (attrib.Now) when the event was read: it happened before.
	At uint64
}

// Caps says what a backend can tell.
type Caps struct {
	PIDs   bool // events carry the acting pid
	PIDFDs bool // events carry a pidfd, which proves the pid was not reused
	// PIDFDSupport says the kernel could give pidfds (FAN_REPORT_PIDFD, 5.15+).
	PIDFDSupport bool
}

// Backend is a source of Events for a set of directories.
type Backend interface {
	// Name is "fanotify" or "inotify".
	Name() string
	Caps() Caps
	// Add starts watching a directory (a host path) for changes to its entries and to itself.
	// Adding a directory twice is harmless.
	Add(dir string) error
	// Remove stops watching a directory; an unknown one is ignored.
	Remove(dir string) error
	// Run reads events and sends them to out until ctx is done or Close is called, then returns
	// nil. It sends an Event with OpOverflow when the kernel lost events.
	Run(ctx context.Context, out chan<- Event) error
	// Close releases the kernel object and makes Run return.
	Close() error
}

// ErrNotSupported means the kernel lacks what a backend needs.
var ErrNotSupported = errors.New("not supported by this kernel")

// ErrPermission means the process lacks the privilege a backend needs.
var ErrPermission = errors.New("permission denied")
