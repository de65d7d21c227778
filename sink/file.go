package sink

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
)

// File appends events to a file opened O_APPEND, one write per event, so lines from concurrent
// writers never interleave; Reopen follows logrotate. Named "-", it writes to stdout.
type File struct {
	mu   sync.Mutex
	name string
	w    io.Writer
	f    *os.File
	buf  []byte
	note string // what the last open changed about the file (its mode tightened), for the log
}

// OpenFile opens name for appending, creating it 0640 (see openAppend).
func OpenFile(name string) (*File, error) {
	f := &File{name: name}
	return f, f.Reopen()
}

// Reopen opens the file by name again and closes the old descriptor: after logrotate moved the
// file away, events go to the new one.
func (o *File) Reopen() error {
	if o.name == "-" {
		return nil
	}
	f, note, err := openAppend(o.name)
	if err != nil {
		return err
	}
	o.mu.Lock()
	old := o.f
	o.f, o.w, o.note = f, f, note
	o.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Write appends the message and a newline in one write.
func (o *File) Write(r Record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.w == nil {
		return fmt.Errorf("output %s: closed", o.name)
	}
	o.buf = append(append(o.buf[:0], r.Message...), '\n')
	if _, err := o.w.Write(o.buf); err != nil {
		return fmt.Errorf("output %s: %w", o.name, err)
	}
	return nil
}

// Close closes the file (not stdout).
func (o *File) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w = nil
	if o.f != nil {
		err := o.f.Close()
		o.f = nil
		return err
	}
	return nil
}

// Note says what the last open changed about the file ("" when nothing): the daemon logs it.
func (o *File) Note() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.note
}

func (o *File) String() string {
	if o.name == "-" {
		return "stdout"
	}
	return "file " + o.name
}

// openAppend opens the daemon's output file for appending. It never follows a symlink at name
// (someone who can plant one would have tripline, as root, append to a file of their choosing), it
// creates the file 0640 whatever the umask, and it does not append to a regular file that others
// can write (they could rewrite the findings): it refuses one another user owns, takes the group
// and world write bits away and says so in note, or refuses when it cannot. FIFOs and character devices are written as they are.
func openAppend(name string) (f *os.File, note string, err error) {
	q := baseline.QuotePath(name)
	fd, err := unix.Open(name, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o640)
	created := err == nil
	if errors.Is(err, unix.EEXIST) {
		fd, err = unix.Open(name, unix.O_WRONLY|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	}
	if errors.Is(err, unix.ELOOP) {
		return nil, "", fmt.Errorf("output %s: is a symbolic link, which tripline never writes through: name the file itself", q)
	}
	if err != nil {
		return nil, "", fmt.Errorf("output %s: %w", q, err)
	}
	f = os.NewFile(uintptr(fd), name)
	fail := func(err error) (*os.File, string, error) {
		f.Close()
		return nil, "", err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fail(fmt.Errorf("output %s: %w", q, err))
	}
	mode := st.Mode & 0o7777
	switch {
	case created:
		// The umask may have taken bits the mode asked for; never more than 0640.
		if err := unix.Fchmod(fd, 0o640); err != nil {
			return fail(fmt.Errorf("output %s: %w", q, err))
		}
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		// A FIFO or a device: its mode says who may open it, not who may rewrite what was written.
	case int(st.Uid) != os.Geteuid():
		// Its owner may rewrite it whatever its mode, and may hold a descriptor open for writing
		// that no chown or chmod of ours would take back: refused, not taken over.
		return fail(fmt.Errorf("output %s: is owned by %s, who could rewrite the findings, not by %s that tripline runs as: remove it or choose another file", q, uidName(int(st.Uid)), uidName(os.Geteuid())))
	case mode&0o022 != 0:
		tight := mode &^ 0o022
		if err := unix.Fchmod(fd, tight); err != nil {
			return fail(fmt.Errorf("output %s: is writable by others (mode %04o) and cannot be tightened (%v): fix its mode or choose another file", q, mode, err))
		}
		note = fmt.Sprintf("output %s was writable by others (mode %04o): tightened to %04o", q, mode, tight)
	}
	// Unless this was checked through the descriptor now open, a swap after the check could win.
	if err := unix.Fstat(fd, &st); err != nil || (st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o022 != 0) {
		return fail(fmt.Errorf("output %s: its mode changed while it was opened: try again", q))
	}
	return f, note, nil
}

// uidName is "uid 65534 (nobody)", or "uid 65534" when the passwd database does not name it.
func uidName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return "uid " + id + " (" + baseline.QuoteLine(u.Username) + ")"
	}
	return "uid " + id
}
