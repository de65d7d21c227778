// Package sink owns where the daemon's events go: a file or stdout, syslog (RFC 5424 over the
// local socket, UDP or TCP) or the systemd journal (its native protocol, with structured fields).
// A sink receives each event rendered whole, plus the facts a structured sink indexes, and
// writes it as one unit: one write to a file opened O_APPEND, one syslog message, one journal
// entry. Every sink is safe for concurrent use.
//
// Linux notes: the local syslog socket is /dev/log, a datagram socket (rsyslog's imuxsock, or
// journald's /run/systemd/journal/dev-log behind a symlink: journald reads only the priority of
// an RFC 5424 message and keeps the rest as MESSAGE, so use the journal sink there). The
// journal's native socket is
// /run/systemd/journal/socket; an entry larger than a datagram can carry (the socket's send
// buffer, about 208 KiB by default: net.core.wmem_default) goes through a sealed memfd passed
// with SCM_RIGHTS, as sd_journal_send(3) does.
package sink

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

// Record is one event as a sink gets it.
type Record struct {
	// Message is the rendered event (an ECS or JSON document, or a text line) without its
	// trailing newline.
	Message  []byte
	Time     time.Time
	Severity policy.Severity
	Rule     string // rule.id; "" for an event no rule fired on
	Path     string // the logical path, exactly (it may hold any byte but NUL)
	Location string
	Kind     string // created, modified, deleted
	Verdict  string
	Source   string // event, reconcile
	PID      int    // the acting process, 0 when unknown
	Exe      string // its executable, "" when unknown
	// HistoryID is the id of the history row that recorded the event, 0 when none.
	HistoryID int64
	// What the package database says of the file, when one was read: the owning package's
	// name, version and type ("" when unowned) and the state (verified, modified, unowned...).
	Package, PackageVersion, PackageType, PackageState string
}

// FindingRecord is a finding rendered in msg as a sink gets it, with the facts a structured sink
// (the journal's fields, syslog's priority) needs beside the message. source is event or
// reconcile; actor may be nil.
func FindingRecord(f *policy.Finding, source string, actor *proc.Actor, msg []byte) Record {
	r := Record{Message: bytes.TrimRight(msg, "\n"), Time: time.Now(), Severity: f.Severity, Rule: f.Rule(),
		Path: f.Change.Path, Kind: string(f.Change.Kind), Verdict: string(f.Verdict), Source: source,
		HistoryID: f.HistoryID}
	if f.Location != nil {
		r.Location = f.Location.ID
	}
	if e := f.Change.Entry(); e != nil && e.Package != nil {
		p := e.Package
		r.Package, r.PackageVersion, r.PackageType, r.PackageState = p.Name, p.Version, p.Type, string(p.State)
	}
	if actor != nil {
		r.PID = int(actor.PID)
		if actor.Process != nil {
			r.Exe = actor.Process.Exe
		}
	}
	return r
}

// Sink is where events go.
type Sink interface {
	// Write sends one event. An error means it was not delivered (after one reconnect, for a
	// stream).
	Write(Record) error
	// Reopen follows log rotation (a file) or reconnects (a stream); the daemon calls it on
	// SIGHUP.
	Reopen() error
	// Close releases the sink; Write after Close fails.
	Close() error
	// String names the destination for logs: "file /var/log/x", "syslog udp 127.0.0.1:514".
	String() string
}

// Open parses an --output value:
//
//   - stdout
//     FILE                       append to FILE (reopened on SIGHUP)
//     syslog                     RFC 5424 to the local socket /dev/log
//     syslog:/PATH               to the local datagram socket PATH
//     syslog:udp://HOST:PORT     one datagram per message
//     syslog:tcp://HOST:PORT     octet-counted framing (RFC 6587)
//     journal                    the systemd journal, native protocol
//     journal:/PATH              the journal protocol on another socket
//
// A file that is literally named "syslog..." or "journal..." is written as ./syslog.
func Open(spec string, stdout io.Writer) (Sink, error) {
	switch {
	case spec == "-":
		return &File{name: "-", w: stdout}, nil
	case spec == "syslog" || strings.HasPrefix(spec, "syslog:"):
		network, addr, err := parseSyslogAddr(strings.TrimPrefix(strings.TrimPrefix(spec, "syslog"), ":"))
		if err != nil {
			return nil, err
		}
		return DialSyslog(network, addr, SyslogOptions{})
	case spec == "journal" || strings.HasPrefix(spec, "journal:"):
		path := strings.TrimPrefix(strings.TrimPrefix(spec, "journal"), ":")
		if path == "" {
			path = JournalSocket
		}
		if !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("--output %q: the journal socket must be an absolute path", spec)
		}
		return OpenJournal(path, JournalOptions{})
	case spec == "":
		return nil, fmt.Errorf("--output is empty: give a FILE, - (stdout), syslog[:ADDRESS] or journal")
	}
	return OpenFile(spec)
}

// parseSyslogAddr reads the part after "syslog:": "", "/path", "unix:///path", "udp://h:p",
// "tcp://h:p".
func parseSyslogAddr(s string) (network, addr string, err error) {
	switch {
	case s == "":
		return "unixgram", DevLog, nil
	case strings.HasPrefix(s, "/"):
		return "unixgram", s, nil
	case strings.HasPrefix(s, "unix://"):
		return "unixgram", strings.TrimPrefix(s, "unix://"), nil
	case strings.HasPrefix(s, "udp://"):
		return "udp", strings.TrimPrefix(s, "udp://"), nil
	case strings.HasPrefix(s, "tcp://"):
		return "tcp", strings.TrimPrefix(s, "tcp://"), nil
	}
	return "", "", fmt.Errorf("--output syslog:%s: the address must be /PATH, udp://HOST:PORT or tcp://HOST:PORT", s)
}
