package store

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// The old, new and actor columns of a history row are JSON. Decoding them with encoding/json
// was 60% of the CPU of 'history --since' over 400,000 rows, so the shapes tripline writes are
// decoded by hand here: flat objects of the known keys with string, integer, boolean and
// string-array values. Anything else (a key written by another version, null, an escape in a
// string, a number in another form) makes the fast path give up, and encoding/json decodes the
// value as before: the result is always encoding/json's.

var errSlowPath = errors.New("not the shape the fast path decodes")

// unmarshalEntry decodes a stored entry.
func unmarshalEntry(b []byte, e *baseline.Entry) error {
	var fast baseline.Entry
	if err := fastEntry(b, &fast); err == nil {
		*e = fast
		return nil
	}
	return json.Unmarshal(b, e)
}

// unmarshalActor decodes a stored actor.
func unmarshalActor(b []byte, a *proc.Actor) error {
	var fast proc.Actor
	if err := fastActor(b, &fast); err == nil {
		*a = fast
		return nil
	}
	return json.Unmarshal(b, a)
}

// lexer reads the JSON tripline writes. Every method returns errSlowPath on anything it does not
// expect.
type lexer struct {
	b []byte
	i int
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

func (l *lexer) peek() byte {
	l.ws()
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

func (l *lexer) eat(c byte) bool {
	if l.peek() == c {
		l.i++
		return true
	}
	return false
}

// str reads a string without escapes (a string with one goes the slow way).
func (l *lexer) str() (string, error) {
	if !l.eat('"') {
		return "", errSlowPath
	}
	start := l.i
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			s := string(l.b[start:l.i])
			l.i++
			return s, nil
		case c == '\\' || c < 0x20 || c >= 0x80:
			// Escapes, control bytes and non-ASCII (encoding/json replaces invalid UTF-8).
			return "", errSlowPath
		}
		l.i++
	}
	return "", errSlowPath
}

// num reads the bytes of an integer literal.
func (l *lexer) num() ([]byte, error) {
	l.ws()
	start := l.i
	if l.i < len(l.b) && l.b[l.i] == '-' {
		l.i++
	}
	digits := l.i
	for l.i < len(l.b) && l.b[l.i] >= '0' && l.b[l.i] <= '9' {
		l.i++
	}
	if l.i == digits || (l.i-digits > 1 && l.b[digits] == '0') ||
		(l.i < len(l.b) && (l.b[l.i] == '.' || l.b[l.i] == 'e' || l.b[l.i] == 'E')) {
		return nil, errSlowPath // no digits, a leading zero (invalid JSON), or not an integer
	}
	return l.b[start:l.i], nil
}

func (l *lexer) int(bits int) (int64, error) {
	b, err := l.num()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(string(b), 10, bits)
	if err != nil {
		return 0, errSlowPath
	}
	return n, nil
}

func (l *lexer) uint(bits int) (uint64, error) {
	b, err := l.num()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return 0, errSlowPath
	}
	return n, nil
}

func (l *lexer) bool() (bool, error) {
	l.ws()
	switch {
	case len(l.b)-l.i >= 4 && string(l.b[l.i:l.i+4]) == "true":
		l.i += 4
		return true, nil
	case len(l.b)-l.i >= 5 && string(l.b[l.i:l.i+5]) == "false":
		l.i += 5
		return false, nil
	}
	return false, errSlowPath
}

// key reads an object key, without escapes, as a slice of the input.
func (l *lexer) key() ([]byte, error) {
	if !l.eat('"') {
		return nil, errSlowPath
	}
	start := l.i
	for l.i < len(l.b) {
		c := l.b[l.i]
		switch {
		case c == '"':
			k := l.b[start:l.i]
			l.i++
			return k, nil
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, errSlowPath
		}
		l.i++
	}
	return nil, errSlowPath
}

// object reads an object whose keys are all in keys (at most 64), calling field with each key,
// as the string of keys, with the lexer at its value. Any other key, or a key met twice, goes the
// slow way (encoding/json merges a repeated object into the first). The keys are matched without
// allocating: this runs for every key of three objects in every row a history listing reads.
func (l *lexer) object(keys []string, field func(key string) error) error {
	if !l.eat('{') {
		return errSlowPath
	}
	if l.eat('}') {
		return nil
	}
	var seen uint64
	for {
		k, err := l.key()
		if err != nil {
			return err
		}
		i := 0
		for i < len(keys) && string(k) != keys[i] {
			i++
		}
		if i == len(keys) || seen&(1<<i) != 0 {
			return errSlowPath
		}
		seen |= 1 << i
		if !l.eat(':') {
			return errSlowPath
		}
		if err := field(keys[i]); err != nil {
			return err
		}
		if l.eat('}') {
			return nil
		}
		if !l.eat(',') {
			return errSlowPath
		}
	}
}

// The keys the fast path decodes, in the order tripline writes them (the first comparisons
// match).
var (
	entryKeys   = []string{"path", "location", "type", "mode", "uid", "gid", "size", "inode", "dev", "nlink", "mtime_ns", "ctime_ns", "btime_ns", "target", "sha256", "hash_state"}
	actorKeys   = []string{"attribution", "why", "pid", "process", "ancestors"}
	processKeys = []string{"pid", "ppid", "name", "exe", "args", "start_ticks", "uid", "euid", "gid", "egid", "loginuid", "sessionid", "cwd", "cgroup", "container_id", "args_truncated", "kernel", "exited"}
)

// end checks that nothing but white space follows the value.
func (l *lexer) end() error {
	l.ws()
	if l.i != len(l.b) {
		return errSlowPath
	}
	return nil
}

func fastEntry(b []byte, e *baseline.Entry) error {
	l := &lexer{b: b}
	err := l.object(entryKeys, func(k string) error {
		var err error
		var n int64
		var u uint64
		var s string
		switch k {
		case "path":
			e.Path, err = l.str()
		case "location":
			e.Location, err = l.str()
		case "type":
			s, err = l.str()
			e.Type = baseline.Type(s)
		case "mode":
			u, err = l.uint(32)
			e.Mode = uint32(u)
		case "uid":
			u, err = l.uint(32)
			e.UID = uint32(u)
		case "gid":
			u, err = l.uint(32)
			e.GID = uint32(u)
		case "size":
			e.Size, err = l.int(64)
		case "inode":
			e.Inode, err = l.uint(64)
		case "dev":
			e.Dev, err = l.uint(64)
		case "nlink":
			u, err = l.uint(32)
			e.Nlink = uint32(u)
		case "mtime_ns":
			e.MtimeNS, err = l.int(64)
		case "ctime_ns":
			e.CtimeNS, err = l.int(64)
		case "btime_ns":
			n, err = l.int(64)
			e.BtimeNS = n
		case "target":
			e.Target, err = l.str()
		case "sha256":
			e.SHA256, err = l.str()
		case "hash_state":
			s, err = l.str()
			e.HashState = baseline.HashState(s)
		default:
			return errSlowPath
		}
		return err
	})
	if err != nil {
		return err
	}
	return l.end()
}

func fastActor(b []byte, a *proc.Actor) error {
	l := &lexer{b: b}
	err := l.object(actorKeys, func(k string) error {
		var err error
		var s string
		var n int64
		switch k {
		case "attribution":
			s, err = l.str()
			a.Attribution = proc.Attribution(s)
		case "why":
			a.Why, err = l.str()
		case "pid":
			n, err = l.int(32)
			a.PID = int32(n)
		case "process":
			a.Process = &proc.Process{}
			err = fastProcess(l, a.Process)
		case "ancestors":
			if !l.eat('[') {
				return errSlowPath
			}
			a.Ancestors = []proc.Process{}
			if l.eat(']') {
				return nil
			}
			for {
				var p proc.Process
				if err := fastProcess(l, &p); err != nil {
					return err
				}
				a.Ancestors = append(a.Ancestors, p)
				if l.eat(']') {
					return nil
				}
				if !l.eat(',') {
					return errSlowPath
				}
			}
		default:
			return errSlowPath
		}
		return err
	})
	if err != nil {
		return err
	}
	return l.end()
}

func fastProcess(l *lexer, p *proc.Process) error {
	return l.object(processKeys, func(k string) error {
		var err error
		var n int64
		switch k {
		case "pid":
			n, err = l.int(32)
			p.PID = int32(n)
		case "ppid":
			n, err = l.int(32)
			p.PPID = int32(n)
		case "name":
			p.Name, err = l.str()
		case "exe":
			p.Exe, err = l.str()
		case "args":
			if !l.eat('[') {
				return errSlowPath
			}
			p.Args = []string{}
			if l.eat(']') {
				return nil
			}
			for {
				s, err := l.str()
				if err != nil {
					return err
				}
				p.Args = append(p.Args, s)
				if l.eat(']') {
					return nil
				}
				if !l.eat(',') {
					return errSlowPath
				}
			}
		case "start_ticks":
			p.StartTime, err = l.uint(64)
		case "uid":
			n, err = l.int(32)
			p.UID = int32(n)
		case "euid":
			n, err = l.int(32)
			p.EUID = int32(n)
		case "gid":
			n, err = l.int(32)
			p.GID = int32(n)
		case "egid":
			n, err = l.int(32)
			p.EGID = int32(n)
		case "loginuid":
			n, err = l.int(32)
			p.LoginUID = int32(n)
		case "sessionid":
			p.SessionID, err = l.int(64)
		case "cwd":
			p.Cwd, err = l.str()
		case "cgroup":
			p.Cgroup, err = l.str()
		case "container_id":
			p.ContainerID, err = l.str()
		case "args_truncated":
			p.ArgsTruncated, err = l.bool()
		case "kernel":
			p.Kernel, err = l.bool()
		case "exited":
			p.Exited, err = l.bool()
		default:
			return errSlowPath
		}
		return err
	})
}
