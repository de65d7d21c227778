package sink

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tripline/tripline/policy"
)

// DevLog is the local syslog socket.
const DevLog = "/dev/log"

// FacilityAuth is the syslog facility of tripline's messages: 4, security/authorization
// (RFC 5424 6.2.1), which Debian's rsyslog writes to /var/log/auth.log.
const FacilityAuth = 4

// SyslogOptions tune the RFC 5424 header. Zero values take the defaults.
type SyslogOptions struct {
	Facility int    // 1..23; 0 means FacilityAuth (facility 0, kern, is the kernel's own)
	Hostname string // default os.Hostname()
	AppName  string // default "tripline"
	// Timeout bounds dialing and each write of a stream (default 10 s).
	Timeout time.Duration
}

// Syslog sends each event as one RFC 5424 message: the event is the MSG, the priority comes
// from its severity, MSGID is the rule id. Over TCP, messages are octet-counted (RFC 6587
// 3.4.1), so an event may hold any byte, newlines included; a datagram carries one message.
type Syslog struct {
	mu      sync.Mutex
	network string // unixgram, udp, tcp
	addr    string
	o       SyslogOptions
	pid     string
	conn    net.Conn
	buf     []byte
	closed  bool
}

// DialSyslog connects to a syslog receiver. network is "unixgram" (addr a socket path), "udp" or
// "tcp" (addr HOST:PORT).
func DialSyslog(network, addr string, o SyslogOptions) (*Syslog, error) {
	if o.Facility == 0 {
		o.Facility = FacilityAuth
	}
	if o.Facility < 0 || o.Facility > 23 {
		return nil, fmt.Errorf("syslog facility %d: must be 0..23", o.Facility)
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	o.Hostname = headerField(o.Hostname, 255)
	if o.AppName == "" {
		o.AppName = "tripline"
	}
	o.AppName = headerField(o.AppName, 48)
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	switch network {
	case "unixgram", "udp", "tcp":
	default:
		return nil, fmt.Errorf("syslog network %q: must be unixgram, udp or tcp", network)
	}
	if network != "unixgram" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("syslog %s address %q: %w (want HOST:PORT)", network, addr, err)
		}
	}
	s := &Syslog{network: network, addr: addr, o: o, pid: strconv.Itoa(os.Getpid())}
	if err := s.dial(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Syslog) dial() error {
	c, err := net.DialTimeout(s.network, s.addr, s.o.Timeout)
	if err != nil {
		if s.network == "unixgram" && errors.Is(err, syscall.EPROTOTYPE) {
			return fmt.Errorf("syslog %s: not a datagram socket (tripline speaks to /dev/log as rsyslog and journald serve it)", s.addr)
		}
		return fmt.Errorf("syslog %s %s: %w (is the syslog daemon running and listening there?)", s.network, s.addr, err)
	}
	s.conn = c
	return nil
}

// Priority is the syslog severity (RFC 5424 6.2.1) of a tripline severity: critical 2 (crit),
// high 3 (err), medium 4 (warning), low 5 (notice), info 6 (info), none 7 (debug).
func Priority(sev policy.Severity) int {
	switch sev {
	case policy.SevCritical:
		return 2
	case policy.SevHigh:
		return 3
	case policy.SevMedium:
		return 4
	case policy.SevLow:
		return 5
	case policy.SevInfo:
		return 6
	}
	return 7
}

// Format appends the RFC 5424 message for r to b.
func (s *Syslog) Format(b []byte, r Record) []byte {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	msgid := "-"
	if r.Rule != "" {
		msgid = headerField(r.Rule, 32)
	}
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(s.o.Facility*8+Priority(r.Severity)), 10)
	b = append(b, ">1 "...)
	// RFC 5424 allows at most six digits of fraction.
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, s.o.Hostname...)
	b = append(b, ' ')
	b = append(b, s.o.AppName...)
	b = append(b, ' ')
	b = append(b, s.pid...)
	b = append(b, ' ')
	b = append(b, msgid...)
	b = append(b, " - "...)
	return append(b, r.Message...)
}

// headerField makes s a valid RFC 5424 header field: printable US-ASCII without spaces (others
// become '_'), at most max bytes, "-" when empty.
func headerField(s string, max int) string {
	if s == "" {
		return "-"
	}
	b := []byte(s)
	if len(b) > max {
		b = b[:max]
	}
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '_'
		}
	}
	return string(b)
}

// Write sends one message. A stream that broke is redialed once and the message sent again;
// a datagram refused (the receiver was restarting) is sent once more.
func (s *Syslog) Write(r Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("syslog %s: closed", s.addr)
	}
	msg := s.Format(nil, r)
	s.buf = s.buf[:0]
	if s.network == "tcp" {
		s.buf = strconv.AppendInt(s.buf, int64(len(msg)), 10)
		s.buf = append(s.buf, ' ')
	}
	s.buf = append(s.buf, msg...)
	err := s.send()
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EMSGSIZE) && s.network != "tcp" {
		// Larger than a datagram can be (64 KiB over UDP, the send buffer locally): a process
		// with a huge command line. A summary goes instead, so the event is not lost whole and
		// the daemon does not stop; the history holds all of it.
		s.buf = s.Format(s.buf[:0], tooLarge(r, len(msg)))
		if err = s.send(); err == nil {
			return nil
		}
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	if derr := s.dial(); derr != nil {
		return fmt.Errorf("syslog %s %s: %w; reconnecting: %w", s.network, s.addr, err, derr)
	}
	if err := s.send(); err != nil {
		return fmt.Errorf("syslog %s %s: %w", s.network, s.addr, err)
	}
	return nil
}

func (s *Syslog) send() error {
	if s.conn == nil {
		return errors.New("not connected")
	}
	if s.network == "tcp" {
		s.conn.SetWriteDeadline(time.Now().Add(s.o.Timeout))
	}
	n, err := s.conn.Write(s.buf)
	if err == nil && n != len(s.buf) {
		err = fmt.Errorf("short write: %d of %d bytes", n, len(s.buf))
	}
	return err
}

// Reopen reconnects: after the receiver restarted, or to pick up a new address for a name.
func (s *Syslog) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("syslog %s: closed", s.addr)
	}
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	return s.dial()
}

// Close closes the connection.
func (s *Syslog) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

func (s *Syslog) String() string {
	n := s.network
	if n == "unixgram" {
		n = "local"
	}
	return "syslog " + n + " " + s.addr
}

// tooLarge is the record sent in place of one too large for a datagram: a small JSON document
// with what identifies the event, and where the whole of it is.
func tooLarge(r Record, size int) Record {
	doc := map[string]any{
		"message":  fmt.Sprintf("event of %d bytes, too large for a syslog datagram: the whole event is in tripline's history", size),
		"rule":     map[string]any{"id": r.Rule},
		"file":     map[string]any{"path": r.Path},
		"tripline": map[string]any{"severity": r.Severity.String(), "truncated": true, "history": map[string]any{"id": r.HistoryID}},
	}
	if r.PID > 0 {
		doc["process"] = map[string]any{"pid": r.PID, "executable": r.Exe}
	}
	b, _ := json.Marshal(doc)
	r.Message = b
	return r
}
