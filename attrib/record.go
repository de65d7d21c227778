package attrib

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Kinds of kernel-feed records (enum kind in bpf/exec.c).
const (
	kindExecEnter = 1
	kindExec      = 2
	kindFork      = 3
	kindExit      = 4
)

// Record flags (FLAG_* in bpf/exec.c).
const (
	flagFilenameTruncated = 1
	flagArgsTruncated     = 2
	flagArgsFault         = 4
	flagTask              = 8
	flagLoginUID          = 16
)

// Sizes of the C structs: struct head, and struct exec_enter's fixed part and buffers.
const (
	headSize        = 12*4 + 8 + 16
	enterFixed      = headSize + 4*4
	filenameMaxLen  = 512
	argsMaxLen      = 4096
	execEnterSize   = enterFixed + filenameMaxLen + argsMaxLen
	noLoginUID      = 4294967295 // (uid_t)-1: the loginuid of a process no login set
	maxArgsInRecord = 64
)

// record is one decoded kernel-feed record.
type record struct {
	Kind      uint32
	PID, TID  int32
	Other     int32 // fork: the child's tid
	UID, GID  uint32
	EUID      uint32
	EGID      uint32
	PPID      int32
	LoginUID  uint32
	SessionID uint32
	Flags     uint32
	BootNS    uint64
	Comm      string
	// Exec enter only.
	Filename string
	Args     []string
}

var errRecord = errors.New("malformed kernel record")

// parseRecord decodes a ring-buffer record. It trusts nothing: lengths are checked against the
// buffers they describe, so a record from a mismatched object is an error, not a panic.
func parseRecord(b []byte) (record, error) {
	var r record
	if len(b) < headSize {
		return r, fmt.Errorf("%w: %d bytes, need %d", errRecord, len(b), headSize)
	}
	le := binary.LittleEndian
	u := func(i int) uint32 { return le.Uint32(b[4*i:]) }
	r.Kind = u(0)
	r.PID, r.TID, r.Other = int32(u(1)), int32(u(2)), int32(u(3))
	r.UID, r.GID, r.EUID, r.EGID = u(4), u(5), u(6), u(7)
	r.PPID, r.LoginUID, r.SessionID, r.Flags = int32(u(8)), u(9), u(10), u(11)
	r.BootNS = le.Uint64(b[48:])
	r.Comm = cstring(b[56:72])
	switch r.Kind {
	case kindExec, kindFork, kindExit:
		return r, nil
	case kindExecEnter:
	default:
		return r, fmt.Errorf("%w: kind %d", errRecord, r.Kind)
	}
	if len(b) < execEnterSize {
		return r, fmt.Errorf("%w: exec record of %d bytes, need %d", errRecord, len(b), execEnterSize)
	}
	// Compared as uint32 before any conversion: on a 32-bit host int(0xffffffff) is -1.
	if u(18) > filenameMaxLen || u(19) > argsMaxLen || u(20) > maxArgsInRecord {
		return r, fmt.Errorf("%w: lengths %d/%d/%d out of range", errRecord, u(18), u(19), u(20))
	}
	argsLen, argc := int(u(19)), int(u(20))
	r.Filename = cstring(b[enterFixed : enterFixed+filenameMaxLen])
	args := b[enterFixed+filenameMaxLen : enterFixed+filenameMaxLen+argsLen]
	for len(args) > 0 && len(r.Args) < argc {
		i := bytes.IndexByte(args, 0)
		if i < 0 {
			// The last argument was cut at the buffer's end.
			r.Args = append(r.Args, string(args))
			break
		}
		r.Args = append(r.Args, string(args[:i]))
		args = args[i+1:]
	}
	return r, nil
}

// cstring returns b up to its first NUL.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
