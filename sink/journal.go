package sink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// JournalSocket is journald's native protocol socket.
const JournalSocket = "/run/systemd/journal/socket"

// MessageID is the journal MESSAGE_ID of every tripline finding (journalctl MESSAGE_ID=...
// selects them; a catalog entry can describe it). It is a fixed random 128-bit id, as
// systemd-id128(1) new makes them.
const MessageID = "8f3b1c7e2a9d4e05b6c4d21f0e7a9c53"

// JournalOptions tune the entry. Zero values take the defaults.
type JournalOptions struct {
	Identifier string // SYSLOG_IDENTIFIER, default "tripline"
}

// Journal writes each event as one journal entry over the native protocol (systemd's
// "Native Journal Protocol"): MESSAGE is the rendered event, PRIORITY comes from the severity,
// and tripline's facts are fields of their own (TRIPLINE_RULE, TRIPLINE_PATH,
// TRIPLINE_SEVERITY, ...) that journalctl can match exactly: journalctl TRIPLINE_RULE=setuid-set.
// Values are binary-safe: one holding a newline is sent length-prefixed.
type Journal struct {
	mu     sync.Mutex
	path   string
	o      JournalOptions
	conn   *net.UnixConn
	addr   *net.UnixAddr
	buf    bytes.Buffer
	closed bool
}

// OpenJournal opens a datagram socket for the journal at path. It fails when nothing listens
// there, so a daemon started without journald says so at once.
func OpenJournal(path string, o JournalOptions) (*Journal, error) {
	if o.Identifier == "" {
		o.Identifier = "tripline"
	}
	j := &Journal{path: path, o: o, addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
	if err := j.dial(); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *Journal) dial() error {
	// An unbound datagram socket, each entry sent to the journal's address: the journal reads
	// the sender's credentials from it (_PID, _UID, _SYSTEMD_UNIT).
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("journal socket: %w", err)
	}
	// Probe: an empty datagram is ignored by journald, and tells whether anyone listens.
	if _, err := c.WriteToUnix(nil, j.addr); err != nil {
		c.Close()
		return fmt.Errorf("journal %s: %w (is systemd-journald running? else use --output syslog or a file)", j.path, err)
	}
	j.conn = c
	return nil
}

// Fields returns the journal fields of r, in order.
func (j *Journal) Fields(r Record) [][2]string {
	f := [][2]string{
		{"MESSAGE", string(r.Message)},
		{"MESSAGE_ID", MessageID},
		{"PRIORITY", strconv.Itoa(Priority(r.Severity))},
		{"SYSLOG_FACILITY", strconv.Itoa(FacilityAuth)},
		{"SYSLOG_IDENTIFIER", j.o.Identifier},
		{"TRIPLINE_SEVERITY", r.Severity.String()},
	}
	add := func(k, v string) {
		if v != "" {
			f = append(f, [2]string{k, v})
		}
	}
	add("TRIPLINE_RULE", r.Rule)
	add("TRIPLINE_PATH", r.Path)
	add("TRIPLINE_LOCATION", r.Location)
	add("TRIPLINE_KIND", r.Kind)
	add("TRIPLINE_VERDICT", r.Verdict)
	add("TRIPLINE_SOURCE", r.Source)
	if r.PID > 0 {
		add("TRIPLINE_PID", strconv.Itoa(r.PID))
	}
	add("TRIPLINE_EXE", r.Exe)
	add("TRIPLINE_PACKAGE", r.Package)
	add("TRIPLINE_PACKAGE_VERSION", r.PackageVersion)
	add("TRIPLINE_PACKAGE_TYPE", r.PackageType)
	add("TRIPLINE_PACKAGE_STATE", r.PackageState)
	if r.HistoryID > 0 {
		add("TRIPLINE_HISTORY_ID", strconv.FormatInt(r.HistoryID, 10))
	}
	if !r.Time.IsZero() {
		add("TRIPLINE_TIME_USEC", strconv.FormatInt(r.Time.UnixMicro(), 10))
	}
	return f
}

// AppendEntry appends the native-protocol serialization of fields to b: NAME=value\n, or for a
// value holding a newline NAME\n, its length as 64-bit little endian, the value and \n.
func AppendEntry(b []byte, fields [][2]string) []byte {
	for _, kv := range fields {
		b = append(b, kv[0]...)
		if bytes.IndexByte([]byte(kv[1]), '\n') < 0 {
			b = append(b, '=')
			b = append(b, kv[1]...)
		} else {
			b = append(b, '\n')
			b = binary.LittleEndian.AppendUint64(b, uint64(len(kv[1])))
			b = append(b, kv[1]...)
		}
		b = append(b, '\n')
	}
	return b
}

// ValidFieldName reports whether name is a field a client may send: upper-case ASCII letters,
// digits and '_', not starting with a digit or '_', at most 64 bytes.
func ValidFieldName(name string) bool {
	if name == "" || len(name) > 64 || name[0] == '_' || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Write sends one entry: a datagram, or when the entry is larger than a datagram may be, a
// sealed memfd holding it, passed with SCM_RIGHTS.
func (j *Journal) Write(r Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	entry := AppendEntry(j.buf.AvailableBuffer(), j.Fields(r))
	_, err := j.conn.WriteToUnix(entry, j.addr)
	if errors.Is(err, syscall.EMSGSIZE) || errors.Is(err, syscall.ENOBUFS) {
		err = j.sendMemfd(entry)
	}
	if err != nil {
		return fmt.Errorf("journal %s: %w", j.path, err)
	}
	return nil
}

// sendMemfd passes entry in a sealed memfd: journald reads the whole file as one entry.
func (j *Journal) sendMemfd(entry []byte) error {
	fd, err := unix.MemfdCreate("tripline-journal", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return fmt.Errorf("memfd for a %d-byte entry: %w", len(entry), err)
	}
	f := os.NewFile(uintptr(fd), "memfd")
	defer f.Close()
	if _, err := f.Write(entry); err != nil {
		return fmt.Errorf("memfd for a %d-byte entry: %w", len(entry), err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE|unix.F_SEAL_SEAL); err != nil {
		return fmt.Errorf("sealing the memfd: %w", err)
	}
	_, _, err = j.conn.WriteMsgUnix(nil, unix.UnixRights(fd), j.addr)
	return err
}

// Reopen opens a new socket (journald restarted, or its socket was recreated).
func (j *Journal) Reopen() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return fmt.Errorf("journal %s: closed", j.path)
	}
	old := j.conn
	if err := j.dial(); err != nil {
		return err
	}
	old.Close()
	return nil
}

// Close closes the socket.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	return j.conn.Close()
}

func (j *Journal) String() string { return "journal " + j.path }
