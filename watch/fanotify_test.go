package watch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/internal/testenv"
)

// The parser tests build the read buffer byte by byte, laid out as the kernel writes it
// (fs/notify/fanotify/fanotify_user.c): struct fanotify_event_metadata, then information records,
// each a struct fanotify_event_info_header followed by its body and padded to 4 bytes.

var (
	fsidA   = [8]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}
	fsidB   = [8]byte{0xf1, 0xf2, 0xf3, 0xf4, 0, 0, 0, 0}
	fsidC   = [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	handleA = []byte{0x0c, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00} // ext4: FILEID_INO32_GEN
	handleB = []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}          // tmpfs-sized
	handleC = []byte{0xde, 0xad, 0xbe}                               // odd length: the name starts unaligned
)

const (
	htypeA = 1
	htypeB = 0x97
	htypeC = -7
)

var (
	keyA = handleKey(fsidA, htypeA, handleA)
	keyB = handleKey(fsidB, htypeB, handleB)
	keyC = handleKey(fsidC, htypeC, handleC)
)

// metaOpts changes the metadata of a built event; the zero value is what the kernel writes.
type metaOpts struct {
	evLen   int // 0: the real length
	vers    int // 0: unix.FANOTIFY_METADATA_VERSION
	metaLen int // 0: metadataLen
	fd      int32
	extra   int // bytes between the metadata and the first record (a longer metadata)
}

// fanEvent builds one event: metadata, then the records.
func fanEvent(mask uint64, pid int32, records ...[]byte) []byte {
	return fanEventWith(metaOpts{fd: unix.FAN_NOFD}, mask, pid, records...)
}

func fanEventWith(o metaOpts, mask uint64, pid int32, records ...[]byte) []byte {
	metaLen := metadataLen + o.extra
	n := metaLen
	for _, r := range records {
		n += len(r)
	}
	evLen, vers := n, unix.FANOTIFY_METADATA_VERSION
	if o.evLen != 0 {
		evLen = o.evLen
	}
	if o.vers != 0 {
		vers = o.vers
	}
	if o.metaLen != 0 {
		metaLen = o.metaLen
	}
	b := make([]byte, 0, n)
	b = binary.NativeEndian.AppendUint32(b, uint32(evLen))
	b = append(b, byte(vers), 0)
	b = binary.NativeEndian.AppendUint16(b, uint16(metaLen))
	b = binary.NativeEndian.AppendUint64(b, mask)
	b = binary.NativeEndian.AppendUint32(b, uint32(o.fd))
	b = binary.NativeEndian.AppendUint32(b, uint32(pid))
	b = append(b, make([]byte, o.extra)...)
	for _, r := range records {
		b = append(b, r...)
	}
	return b
}

// fidRecord builds a FID, DFID or DFID_NAME record: header, fsid, struct file_handle and, when
// name is not nil, the NUL-terminated name; padded to 4 bytes as the kernel does.
func fidRecord(typ uint8, fsid [8]byte, htype int32, handle []byte, name *string) []byte {
	n := 4 + 8 + 4 + 4 + len(handle)
	if name != nil {
		n += len(*name) + 1
	}
	padded := (n + 3) &^ 3
	b := make([]byte, 0, padded)
	b = append(b, typ, 0)
	b = binary.NativeEndian.AppendUint16(b, uint16(padded))
	b = append(b, fsid[:]...)
	b = binary.NativeEndian.AppendUint32(b, uint32(len(handle)))
	b = binary.NativeEndian.AppendUint32(b, uint32(htype))
	b = append(b, handle...)
	if name != nil {
		b = append(b, *name...)
		b = append(b, 0)
	}
	return append(b, make([]byte, padded-n)...)
}

func dfidName(fsid [8]byte, htype int32, handle []byte, name string) []byte {
	return fidRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fsid, htype, handle, &name)
}

func dfid(fsid [8]byte, htype int32, handle []byte) []byte {
	return fidRecord(unix.FAN_EVENT_INFO_TYPE_DFID, fsid, htype, handle, nil)
}

func fid(fsid [8]byte, htype int32, handle []byte) []byte {
	return fidRecord(unix.FAN_EVENT_INFO_TYPE_FID, fsid, htype, handle, nil)
}

func pidfdRecord(fd int32) []byte {
	b := []byte{unix.FAN_EVENT_INFO_TYPE_PIDFD, 0}
	b = binary.NativeEndian.AppendUint16(b, 8)
	return binary.NativeEndian.AppendUint32(b, uint32(fd))
}

// rawRecord builds a record with any header and body, unpadded.
func rawRecord(typ uint8, claimedLen int, body []byte) []byte {
	b := []byte{typ, 0}
	b = binary.NativeEndian.AppendUint16(b, uint16(claimedLen))
	return append(b, body...)
}

// with32 and with16 return a copy of b with v written (native endian) at off.
func with32(b []byte, off int, v uint32) []byte {
	c := slices.Clone(b)
	binary.NativeEndian.PutUint32(c[off:], v)
	return c
}

func with16(b []byte, off int, v uint16) []byte {
	c := slices.Clone(b)
	binary.NativeEndian.PutUint16(c[off:], v)
	return c
}

func join(bufs ...[]byte) []byte { return slices.Concat(bufs...) }

const (
	recOff = metadataLen // where the first record of a built event starts
	// offsets inside a fid record
	fidHandleBytesOff = 12
	fidHandleOff      = 20
)

// The events the several-events buffer holds, and that buffer: the shape of a real read.
var (
	evCreate = fanEvent(unix.FAN_CREATE, 4242, dfidName(fsidA, htypeA, handleA, "passwd"), pidfdRecord(7))
	evAttrib = fanEvent(unix.FAN_ATTRIB|unix.FAN_ONDIR, 1, dfidName(fsidB, htypeB, handleB, "."), pidfdRecord(unix.FAN_NOPIDFD))
	evMoved  = fanEvent(unix.FAN_MOVED_TO, 99, dfidName(fsidC, htypeC, handleC, "shadow-"), pidfdRecord(12))
	evOver   = fanEvent(unix.FAN_Q_OVERFLOW, 0)

	rawCreate = rawEvent{mask: unix.FAN_CREATE, fd: -1, pid: 4242, dirKey: keyA, name: "passwd", pidfd: 7}
	rawAttrib = rawEvent{mask: unix.FAN_ATTRIB | unix.FAN_ONDIR, fd: -1, pid: 1, dirKey: keyB, name: ".", pidfd: -1}
	rawMoved  = rawEvent{mask: unix.FAN_MOVED_TO, fd: -1, pid: 99, dirKey: keyC, name: "shadow-", pidfd: 12}
	rawOver   = rawEvent{mask: unix.FAN_Q_OVERFLOW, fd: -1, pid: 0, pidfd: -1}
)

func TestParseEvents(t *testing.T) {
	badName := dfidName(fsidA, htypeA, handleA, "abc") // 20+8+4 = 32 bytes, name at 28..31
	copy(badName[28:], "abcd")                         // the NUL overwritten
	tests := []struct {
		name    string
		buf     []byte
		want    []rawEvent
		wantErr string // a substring of the error; "" for none
	}{
		{name: "empty", buf: nil},
		{name: "one event", buf: evCreate, want: []rawEvent{rawCreate}},
		{name: "several events", buf: join(evCreate, evAttrib, evOver, evMoved),
			want: []rawEvent{rawCreate, rawAttrib, rawOver, rawMoved}},
		{name: "overflow", buf: evOver, want: []rawEvent{rawOver}},
		{name: "overflow with a pid", buf: fanEvent(unix.FAN_Q_OVERFLOW, 17),
			want: []rawEvent{{mask: unix.FAN_Q_OVERFLOW, fd: -1, pid: 17, pidfd: -1}}},
		{name: "self event named dot", buf: fanEvent(unix.FAN_DELETE_SELF|unix.FAN_ONDIR, 5, dfidName(fsidA, htypeA, handleA, ".")),
			want: []rawEvent{{mask: unix.FAN_DELETE_SELF | unix.FAN_ONDIR, fd: -1, pid: 5, dirKey: keyA, name: ".", pidfd: -1}}},
		{name: "dfid record without name", buf: fanEvent(unix.FAN_MOVE_SELF|unix.FAN_ONDIR, 5, dfid(fsidB, htypeB, handleB)),
			want: []rawEvent{{mask: unix.FAN_MOVE_SELF | unix.FAN_ONDIR, fd: -1, pid: 5, dirKey: keyB, name: ".", pidfd: -1}}},
		{name: "child fid before the directory record", buf: fanEvent(unix.FAN_CREATE, 3, fid(fsidB, htypeB, handleB), dfidName(fsidA, htypeA, handleA, "x")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 3, dirKey: keyA, name: "x", pidfd: -1}}},
		{name: "child fid after the directory record", buf: fanEvent(unix.FAN_CREATE, 3, dfidName(fsidA, htypeA, handleA, "x"), fid(fsidB, htypeB, handleB)),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 3, dirKey: keyA, name: "x", pidfd: -1}}},
		{name: "pidfd before the directory record", buf: fanEvent(unix.FAN_DELETE, 8, pidfdRecord(3), dfidName(fsidA, htypeA, handleA, "gone")),
			want: []rawEvent{{mask: unix.FAN_DELETE, fd: -1, pid: 8, dirKey: keyA, name: "gone", pidfd: 3}}},
		{name: "FAN_EPIDFD", buf: fanEvent(unix.FAN_DELETE, 8, dfidName(fsidA, htypeA, handleA, "y"), pidfdRecord(unix.FAN_EPIDFD)),
			want: []rawEvent{{mask: unix.FAN_DELETE, fd: -1, pid: 8, dirKey: keyA, name: "y", pidfd: -1}}},
		{name: "pidfd 0 is a descriptor", buf: fanEvent(unix.FAN_DELETE, 8, dfidName(fsidA, htypeA, handleA, "y"), pidfdRecord(0)),
			want: []rawEvent{{mask: unix.FAN_DELETE, fd: -1, pid: 8, dirKey: keyA, name: "y", pidfd: 0}}},
		{name: "unknown record skipped", buf: fanEvent(unix.FAN_CREATE, 2, rawRecord(99, 12, make([]byte, 8)), dfidName(fsidA, htypeA, handleA, "z")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 2, dirKey: keyA, name: "z", pidfd: -1}}},
		{name: "empty handle", buf: fanEvent(unix.FAN_CREATE, 2, dfidName(fsidA, 0, nil, "z")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 2, dirKey: handleKey(fsidA, 0, nil), name: "z", pidfd: -1}}},
		{name: "empty name", buf: fanEvent(unix.FAN_CREATE, 2, dfidName(fsidA, htypeA, handleA, "")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 2, dirKey: keyA, name: "", pidfd: -1}}},
		{name: "name with bytes that are not UTF-8", buf: fanEvent(unix.FAN_CREATE, 2, dfidName(fsidA, htypeA, handleA, "a\xff\nb")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 2, dirKey: keyA, name: "a\xff\nb", pidfd: -1}}},
		{name: "longer metadata from a newer kernel", buf: fanEventWith(metaOpts{fd: -1, extra: 8}, unix.FAN_CREATE, 2, dfidName(fsidA, htypeA, handleA, "z")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 2, dirKey: keyA, name: "z", pidfd: -1}}},
		{name: "an event fd is reported, not closed", buf: fanEventWith(metaOpts{fd: 5}, unix.FAN_CREATE, 2, dfidName(fsidA, htypeA, handleA, "z")),
			want: []rawEvent{{mask: unix.FAN_CREATE, fd: 5, pid: 2, dirKey: keyA, name: "z", pidfd: -1}}},

		{name: "trailing bytes", buf: join(evCreate, make([]byte, 10)), want: []rawEvent{rawCreate},
			wantErr: "10 trailing bytes"},
		{name: "event_len larger than the buffer", buf: join(evCreate, with32(evAttrib, 0, uint32(len(evAttrib)+4))),
			want: []rawEvent{rawCreate}, wantErr: "does not fit"},
		{name: "event_len huge", buf: with32(evCreate, 0, 0xffffffff), wantErr: "does not fit"},
		{name: "event_len zero", buf: with32(evCreate, 0, 0), wantErr: "event length 0"},
		{name: "event_len shorter than the metadata", buf: fanEventWith(metaOpts{fd: -1, evLen: 16}, unix.FAN_Q_OVERFLOW, 0, make([]byte, 8)),
			wantErr: "event length 16"},
		{name: "metadata_len too small", buf: join(evCreate, fanEventWith(metaOpts{fd: -1, metaLen: 20}, unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a"))),
			want: []rawEvent{rawCreate}, wantErr: "metadata 20"},
		{name: "metadata_len zero", buf: with16(evCreate, 6, 0), wantErr: "metadata 0"},
		{name: "metadata_len larger than the event", buf: fanEventWith(metaOpts{fd: -1, metaLen: 200}, unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a")),
			wantErr: "metadata 200"},
		{name: "wrong version", buf: join(evCreate, fanEventWith(metaOpts{fd: -1, vers: 2}, unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a"))),
			want: []rawEvent{rawCreate}, wantErr: "metadata version 2"},
		{name: "version from the future", buf: fanEventWith(metaOpts{fd: -1, vers: 4}, unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a")),
			wantErr: "metadata version 4"},
		{name: "record len 0", buf: fanEvent(unix.FAN_CREATE, 1, rawRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 0, make([]byte, 28))),
			wantErr: "claims 0 bytes"},
		{name: "record len shorter than its header", buf: fanEvent(unix.FAN_CREATE, 1, rawRecord(unix.FAN_EVENT_INFO_TYPE_PIDFD, 3, make([]byte, 4))),
			wantErr: "claims 3 bytes"},
		{name: "record runs past the event", buf: join(fanEvent(unix.FAN_CREATE, 1, rawRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 64, make([]byte, 28))), evAttrib),
			wantErr: "claims 64 bytes, 32 left"},
		{name: "bytes after the records, shorter than a header", buf: fanEvent(unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a"), []byte{4, 0}),
			wantErr: "shorter than an info header"},
		{name: "fid record shorter than a file handle", buf: fanEvent(unix.FAN_CREATE, 1, rawRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, 16, make([]byte, 12))),
			wantErr: "fid record of 16 bytes"},
		{name: "handle_bytes larger than the record", buf: fanEvent(unix.FAN_CREATE, 1, with32(dfidName(fsidA, htypeA, handleA, "a"), fidHandleBytesOff, 13)),
			wantErr: "file handle of 13 bytes in a 32-byte record"},
		{name: "handle_bytes huge", buf: fanEvent(unix.FAN_CREATE, 1, with32(dfid(fsidA, htypeA, handleA), fidHandleBytesOff, 0xffffffff)),
			wantErr: "file handle of"},
		{name: "handle_bytes in a child fid larger than the record", buf: fanEvent(unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a"), with32(fid(fsidB, htypeB, handleB), fidHandleBytesOff, 100)),
			wantErr: "file handle of 100 bytes"},
		{name: "handle_bytes eats the name", buf: fanEvent(unix.FAN_CREATE, 1, with32(dfidName(fsidA, htypeA, handleA, "ab"), fidHandleBytesOff, 12)),
			wantErr: "without its terminating NUL"},
		{name: "name without NUL", buf: fanEvent(unix.FAN_CREATE, 1, badName), wantErr: "without its terminating NUL"},
		{name: "name record without any name byte", buf: fanEvent(unix.FAN_CREATE, 1, fidRecord(unix.FAN_EVENT_INFO_TYPE_DFID_NAME, fsidA, htypeA, handleA, nil)),
			wantErr: "without its terminating NUL"},
		{name: "no directory record", buf: join(evCreate, fanEvent(unix.FAN_CREATE, 1, pidfdRecord(4))),
			want: []rawEvent{rawCreate}, wantErr: "without a directory record"},
		{name: "no record at all", buf: fanEvent(unix.FAN_ATTRIB, 1), wantErr: "without a directory record"},
		{name: "only the child fid", buf: fanEvent(unix.FAN_ATTRIB, 1, fid(fsidA, htypeA, handleA)), wantErr: "without a directory record"},
		{name: "pidfd record too short", buf: fanEvent(unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handleA, "a"), rawRecord(unix.FAN_EVENT_INFO_TYPE_PIDFD, 4, nil)),
			wantErr: "pidfd record of 4 bytes"},
		{name: "an error stops the walk", buf: join(evCreate, fanEvent(unix.FAN_CREATE, 1, badName), evAttrib),
			want: []rawEvent{rawCreate}, wantErr: "without its terminating NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEvents(tt.buf)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("parseEvents: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parseEvents error = %v, want one containing %q", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("parseEvents =\n%s\nwant\n%s", fmtRaw(got), fmtRaw(tt.want))
			}
		})
	}
}

func fmtRaw(rs []rawEvent) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  {mask %#x fd %d pid %d dirKey %x name %q pidfd %d}\n", r.mask, r.fd, r.pid, r.dirKey, r.name, r.pidfd)
	}
	return b.String()
}

// TestParseEventsNamePadding checks every padding the kernel can put after a name (0 to 3 bytes)
// with handles of both parities.
func TestParseEventsNamePadding(t *testing.T) {
	for _, handle := range [][]byte{handleA, handleC} {
		for n := 0; n <= 9; n++ {
			name := strings.Repeat("n", n)
			buf := join(fanEvent(unix.FAN_CREATE, 1, dfidName(fsidA, htypeA, handle, name)), evOver)
			if len(buf)%4 != 0 {
				t.Fatalf("built a %d-byte buffer: records must be padded to 4 bytes", len(buf))
			}
			got, err := parseEvents(buf)
			want := []rawEvent{{mask: unix.FAN_CREATE, fd: -1, pid: 1, dirKey: handleKey(fsidA, htypeA, handle), name: name, pidfd: -1}, rawOver}
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("handle %d bytes, name %q: parseEvents =\n%s err %v", len(handle), name, fmtRaw(got), err)
			}
		}
	}
}

// TestParseEventsTruncated cuts a read at every byte: the events wholly before the cut come
// back, and an error unless the cut falls between events.
func TestParseEventsTruncated(t *testing.T) {
	events := [][]byte{evCreate, evAttrib, evOver, evMoved,
		fanEvent(unix.FAN_DELETE_SELF|unix.FAN_ONDIR, 6, fid(fsidB, htypeB, handleB), dfid(fsidB, htypeB, handleB), pidfdRecord(9))}
	want := []rawEvent{rawCreate, rawAttrib, rawOver, rawMoved,
		{mask: unix.FAN_DELETE_SELF | unix.FAN_ONDIR, fd: -1, pid: 6, dirKey: keyB, name: ".", pidfd: 9}}
	buf := join(events...)
	var ends []int
	end := 0
	for _, e := range events {
		end += len(e)
		ends = append(ends, end)
	}
	for cut := 0; cut <= len(buf); cut++ {
		got, err := parseEvents(buf[:cut])
		whole := 0
		for whole < len(ends) && ends[whole] <= cut {
			whole++
		}
		boundary := cut == 0 || slices.Contains(ends, cut)
		if boundary && err != nil {
			t.Errorf("cut at %d (between events): %v", cut, err)
		}
		if !boundary && err == nil {
			t.Errorf("cut at %d (inside event %d): no error", cut, whole)
		}
		if !slices.Equal(got, want[:whole]) {
			t.Errorf("cut at %d: parseEvents =\n%swant the first %d events", cut, fmtRaw(got), whole)
		}
	}
}

// TestHandleKey pins the key layout that dirKey and the parser share: fsid, handle type, handle.
func TestHandleKey(t *testing.T) {
	got := handleKey(fsidA, 0x01020304, []byte{0xaa, 0xbb})
	want := string([]byte{1, 2, 3, 4, 5, 6, 7, 8, 0x04, 0x03, 0x02, 0x01, 0xaa, 0xbb})
	if got != want {
		t.Errorf("handleKey = %x, want %x", got, want)
	}
	if handleKey(fsidA, 1, []byte{2}) == handleKey(fsidA, 2, []byte{1}) {
		t.Error("handle type and handle bytes are not kept apart")
	}
}

func FuzzParseEvents(f *testing.F) {
	for _, seed := range [][]byte{
		nil, evCreate, evAttrib, evMoved, evOver,
		join(evCreate, evAttrib, evOver, evMoved),
		fanEvent(unix.FAN_DELETE_SELF|unix.FAN_ONDIR, 6, fid(fsidB, htypeB, handleB), dfid(fsidB, htypeB, handleB), pidfdRecord(9)),
		fanEventWith(metaOpts{fd: -1, extra: 8}, unix.FAN_CREATE, 2, dfidName(fsidA, htypeA, handleA, "z")),
		fanEvent(unix.FAN_CREATE, 1, with32(dfidName(fsidA, htypeA, handleA, "ab"), fidHandleBytesOff, 12)),
		with32(evCreate, 0, 0xffffffff),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, buf []byte) {
		type result struct {
			evs []rawEvent
			err error
		}
		done := make(chan result, 1)
		go func() {
			evs, err := parseEvents(buf)
			done <- result{evs, err}
		}()
		var r result
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case r = <-done:
		case <-timer.C:
			t.Fatalf("parseEvents(%d bytes) did not return within 10 s", len(buf))
		}
		if len(r.evs) > len(buf)/metadataLen {
			t.Fatalf("%d events from %d bytes", len(r.evs), len(buf))
		}
		for _, e := range r.evs {
			if len(e.name) > len(buf) || len(e.dirKey) > 12+len(buf) {
				t.Fatalf("event with a %d-byte name and a %d-byte key from %d bytes", len(e.name), len(e.dirKey), len(buf))
			}
			if strings.IndexByte(e.name, 0) >= 0 {
				t.Fatalf("name %q holds a NUL", e.name)
			}
			if e.pidfd < -1 {
				t.Fatalf("pidfd %d: want a descriptor or -1", e.pidfd)
			}
			if e.mask&unix.FAN_Q_OVERFLOW == 0 && e.dirKey == "" {
				t.Fatalf("event (mask %#x) without a directory key and no error", e.mask)
			}
		}
		if r.err == nil {
			// A buffer parsed whole parses the same after another copy of itself.
			again, err := parseEvents(join(buf, buf))
			if err != nil || len(again) != 2*len(r.evs) {
				t.Fatalf("buffer parsed alone (%d events) but not doubled: %d events, %v", len(r.evs), len(again), err)
			}
		}
	})
}

// The kernel tests. Each opens its own group and marks only directories it made, so the events
// it sees are its own.

func openFanotify(t *testing.T) *fanotify {
	t.Helper()
	testenv.RequireRoot(t)
	f, err := newFanotify(false)
	if errors.Is(err, ErrNotSupported) {
		testenv.SkipOrFail(t, err.Error())
	}
	if err != nil {
		t.Fatalf("newFanotify: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// running is a backend whose Run is going in a goroutine.
type running struct {
	out  chan Event
	done chan error
}

// startRun starts b.Run; the cleanup closes b (never cancels the context, so Run never has to
// give back events it could not send), drains what was sent, and checks that Run returned nil.
func startRun(t *testing.T, b Backend, buffer int) *running {
	t.Helper()
	r := &running{out: make(chan Event, buffer), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { r.done <- b.Run(ctx, r.out) }()
	t.Cleanup(func() {
		defer cancel()
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		deadline := time.After(5 * time.Second)
		for {
			select {
			case e := <-r.out:
				closePIDFD(e)
			case err := <-r.done:
				if err != nil {
					t.Errorf("Run returned %v after Close, want nil", err)
				}
				for {
					select {
					case e := <-r.out:
						closePIDFD(e)
					default:
						return
					}
				}
			case <-deadline:
				t.Errorf("Run did not return within 5 s of Close")
				return
			}
		}
	})
	return r
}

func closePIDFD(e Event) {
	if e.PIDFD >= 0 {
		unix.Close(e.PIDFD)
	}
}

// next reads events until one satisfies match, and returns it with the ones it passed over
// (whose pidfds it closed). It fails the test after 5 s.
func (r *running) next(t *testing.T, what string, match func(Event) bool) (Event, []Event) {
	t.Helper()
	var skipped []Event
	deadline := time.After(5 * time.Second)
	for {
		select {
		case e := <-r.out:
			if match(e) {
				return e, skipped
			}
			closePIDFD(e)
			skipped = append(skipped, e)
		case err := <-r.done:
			r.done <- err
			t.Fatalf("waiting for %s: Run returned %v; passed over %v", what, err, skipped)
		case <-deadline:
			t.Fatalf("no event %s within 5 s; passed over %v", what, skipped)
		}
	}
}

// expect waits for an event about dir/name carrying at least the ops in want.
func (r *running) expect(t *testing.T, dir, name string, want Op) Event {
	t.Helper()
	e, _ := r.next(t, fmt.Sprintf("{%s %q %s}", dir, name, want), func(e Event) bool {
		return e.Dir == dir && e.Name == name && e.Op&want == want
	})
	return e
}

// checkActor checks an event's pid and, when the backend has pidfds, that its pidfd (if any)
// refers to that pid; then closes the pidfd. mustPIDFD says the process is alive, so the kernel
// must have made one.
func checkActor(t *testing.T, e Event, caps Caps, pid int, mustPIDFD bool) {
	t.Helper()
	defer closePIDFD(e)
	if e.PID != int32(pid) {
		t.Errorf("%v: PID %d, want %d", e, e.PID, pid)
	}
	// The backend closes every pidfd as it reads it (nothing uses them yet, and holding one per
	// queued event ran bursts out of descriptors): none may reach the receiver.
	if e.PIDFD != -1 {
		t.Errorf("%v: a pidfd reached the receiver; the backend must close them as it reads", e)
	}
}

// touch creates a file without opening it for writing, so the only event is a create.
func touch(t *testing.T, p string) {
	t.Helper()
	file, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	file.Close()
}

func mkdir(t *testing.T, p string) string {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// step is one change and the events it must produce, in order.
type step struct {
	name string
	do   func(t *testing.T) (pid int) // returns the pid that made the change
	want []want
}

type want struct {
	dir, name string
	op        Op
	live      bool // the actor is alive when the event is read: a pidfd is due
}

// runSteps makes each change and waits for its events (in any order) before the next one, so
// the kernel never merges the events of two steps.
func runSteps(t *testing.T, r *running, caps Caps, steps []step) {
	t.Helper()
	for _, s := range steps {
		pid := s.do(t)
		if !caps.PIDs {
			pid = 0
		}
		left := slices.Clone(s.want)
		for len(left) > 0 {
			var w want
			e, _ := r.next(t, fmt.Sprintf("%s: one of %+v", s.name, left), func(e Event) bool {
				for i, l := range left {
					if e.Dir == l.dir && e.Name == l.name && e.Op&l.op == l.op {
						w = l
						left = slices.Delete(left, i, i+1)
						return true
					}
				}
				return false
			})
			t.Logf("%s: %+v op=%s", s.name, e, e.Op)
			checkActor(t, e, caps, pid, w.live && caps.PIDs)
		}
	}
}

// basicSteps are the changes both backends must report; fanotifyOps says which backend's view of
// renames and directories to expect.
func basicSteps(dir, outside string, fanotifyOps bool) []step {
	self := os.Getpid()
	movedTo, dirAttrib := OpMovedTo, OpAttrib|OpIsDir
	if !fanotifyOps {
		movedTo = OpCreate   // fsnotify reports IN_MOVED_TO as a create
		dirAttrib = OpAttrib // and drops IN_ISDIR
	}
	f, g := filepath.Join(dir, "f"), filepath.Join(dir, "g")
	return []step{
		{"create", func(t *testing.T) int { touch(t, f); return self },
			[]want{{dir, "f", OpCreate, true}}},
		{"chmod", func(t *testing.T) int { must(t, os.Chmod(f, 0o600)); return self },
			[]want{{dir, "f", OpAttrib, true}}},
		{"write and close", func(t *testing.T) int { must(t, os.WriteFile(f, []byte("data"), 0o600)); return self },
			[]want{{dir, "f", OpWrite, true}}},
		{"rename inside", func(t *testing.T) int { must(t, os.Rename(f, g)); return self },
			[]want{{dir, "f", OpMovedFrom, true}, {dir, "g", movedTo, true}}},
		{"rename away", func(t *testing.T) int { must(t, os.Rename(g, filepath.Join(outside, "g"))); return self },
			[]want{{dir, "g", OpMovedFrom, true}}},
		{"rename in", func(t *testing.T) int { must(t, os.Rename(filepath.Join(outside, "g"), f)); return self },
			[]want{{dir, "f", movedTo, true}}},
		{"delete", func(t *testing.T) int { must(t, os.Remove(f)); return self },
			[]want{{dir, "f", OpDelete, true}}},
		{"mkdir", func(t *testing.T) int { mkdir(t, filepath.Join(dir, "sub")); return self },
			[]want{{dir, "sub", OpCreate | OpIsDir, true}}},
		{"chmod the watched directory", func(t *testing.T) int { must(t, os.Chmod(dir, 0o750)); return self },
			[]want{{dir, "", dirAttrib, true}}},
	}
}

func TestFanotifyEvents(t *testing.T) {
	f := openFanotify(t)
	if f.Name() != "fanotify" || !f.Caps().PIDs {
		t.Fatalf("Name %q Caps %+v", f.Name(), f.Caps())
	}
	t.Logf("caps %+v", f.Caps())
	dir := mkdir(t, filepath.Join(t.TempDir(), "watched"))
	outside := t.TempDir()
	touch(t, filepath.Join(dir, "x"))
	must(t, f.Add(dir))
	must(t, f.Add(dir)) // twice is harmless
	r := startRun(t, f, 64)

	steps := basicSteps(dir, outside, true)
	steps = append(steps,
		step{"rmdir", func(t *testing.T) int { must(t, os.Remove(filepath.Join(dir, "sub"))); return os.Getpid() },
			[]want{{dir, "sub", OpDelete | OpIsDir, true}}},
		step{"chmod by a child process", func(t *testing.T) int {
			cmd := exec.Command("chmod", "+x", filepath.Join(dir, "x"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("chmod: %v: %s", err, out)
			}
			return cmd.Process.Pid // reaped: the kernel may have no pidfd for it
		}, []want{{dir, "x", OpAttrib, false}}},
		step{"remove the watched directory", func(t *testing.T) int { must(t, os.RemoveAll(dir)); return os.Getpid() },
			[]want{{dir, "x", OpDelete, true}, {dir, "", OpSelfGone, true}}},
	)
	runSteps(t, r, f.Caps(), steps)
	if err := f.Remove(dir); err != nil {
		t.Errorf("Remove of a directory that is gone: %v", err)
	}
}

// TestFanotifyTmpfs runs the basic changes on a fresh tmpfs, whose file handles (6.6+) and fsid
// differ from the disk's. The mount point is under t.TempDir and detached in the cleanup.
func TestFanotifyTmpfs(t *testing.T) {
	f := openFanotify(t)
	mnt := mountTmpfs(t)
	dir := mkdir(t, filepath.Join(mnt, "watched"))
	outside := mkdir(t, filepath.Join(mnt, "outside"))
	for _, d := range []string{mnt, dir} {
		if err := f.Add(d); err != nil {
			if errors.Is(err, ErrNotSupported) {
				testenv.SkipOrFail(t, err.Error())
			}
			t.Fatalf("Add %s: %v", d, err)
		}
	}
	r := startRun(t, f, 64)
	runSteps(t, r, f.Caps(), basicSteps(dir, outside, true))
	// The mount's root is watched too: its entries are reported against it.
	runSteps(t, r, f.Caps(), []step{
		{"create at the root", func(t *testing.T) int { touch(t, filepath.Join(mnt, "top")); return os.Getpid() },
			[]want{{mnt, "top", OpCreate, true}}},
		{"remove the watched directory", func(t *testing.T) int { must(t, os.RemoveAll(dir)); return os.Getpid() },
			[]want{{mnt, "watched", OpDelete | OpIsDir, true}, {dir, "", OpSelfGone, true}}},
	})
}

// TestFanotifySubdirAttrib: a chmod of a directory inside a watched directory is a change to an
// entry of the watched directory, as a chmod of a file there is. inotify reports it (IN_ATTRIB |
// IN_ISDIR with the entry's name); the fanotify backend must too.
func TestFanotifySubdirAttrib(t *testing.T) {
	f := openFanotify(t)
	dir := t.TempDir()
	sub := mkdir(t, filepath.Join(dir, "sub"))
	must(t, f.Add(dir))
	r := startRun(t, f, 64)
	must(t, os.Chmod(sub, 0o700))
	touch(t, filepath.Join(dir, "marker"))
	e, skipped := r.next(t, "marker", func(e Event) bool { return e.Name == "marker" })
	closePIDFD(e)
	f.mu.Lock()
	dropped := f.dropped
	f.mu.Unlock()
	for _, s := range skipped {
		if s.Dir == dir && s.Name == "sub" && s.Op&(OpAttrib|OpIsDir) == OpAttrib|OpIsDir {
			return
		}
	}
	t.Errorf("chmod of %s: no {Dir: %s, Name: sub, Op: attrib|dir} event before the next change (passed over %v; %d events dropped as about unwatched directories)", sub, dir, skipped, dropped)
}

func mountTmpfs(t *testing.T) string {
	t.Helper()
	mnt := mkdir(t, filepath.Join(t.TempDir(), "tmpfs"))
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=16m"); err != nil {
		testenv.SkipOrFail(t, "mount tmpfs: "+err.Error())
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

func TestFanotifyRemove(t *testing.T) {
	f := openFanotify(t)
	a := mkdir(t, filepath.Join(t.TempDir(), "a"))
	b := mkdir(t, filepath.Join(t.TempDir(), "b"))
	must(t, f.Add(a))
	must(t, f.Add(b))
	r := startRun(t, f, 64)

	must(t, f.Remove(a))
	must(t, f.Remove(a))                        // twice
	must(t, f.Remove(filepath.Join(a, "none"))) // never added
	touch(t, filepath.Join(a, "1"))
	touch(t, filepath.Join(b, "1"))
	e, skipped := r.next(t, "in b", func(e Event) bool { return e.Dir == b })
	closePIDFD(e)
	for _, s := range skipped {
		if s.Dir == a {
			t.Errorf("event %+v after Remove(%s)", s, a)
		}
	}
	f.mu.Lock()
	dropped := f.dropped
	f.mu.Unlock()
	if dropped != 0 {
		t.Errorf("%d events for unwatched directories: Remove left the kernel mark", dropped)
	}

	// Added again, it reports again.
	must(t, f.Add(a))
	touch(t, filepath.Join(a, "2"))
	closePIDFD(r.expect(t, a, "2", OpCreate))
}

// TestFanotifyPermission is the other side of the root gate: without CAP_SYS_ADMIN, newFanotify
// fails with ErrPermission and says what to do. As root, it runs itself again as nobody.
func TestFanotifyPermission(t *testing.T) {
	if os.Geteuid() != 0 {
		f, err := newFanotify(false)
		if err == nil {
			f.Close()
			t.Fatal("newFanotify without privilege: no error")
		}
		if !errors.Is(err, ErrPermission) || !strings.Contains(err.Error(), "CAP_SYS_ADMIN") {
			t.Fatalf("newFanotify without privilege: %v, want ErrPermission naming CAP_SYS_ADMIN", err)
		}
		return
	}
	// The test binary sits in go test's private work directory: copy it where nobody can run it.
	exe, err := os.Executable()
	must(t, err)
	bin, err := os.ReadFile(exe)
	must(t, err)
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		must(t, os.Chmod(d, 0o755))
	}
	copyExe := filepath.Join(dir, "watch.test")
	must(t, os.WriteFile(copyExe, bin, 0o755))
	cmd := exec.Command(copyExe, "-test.run=^TestFanotifyPermission$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFanotifyPermission") {
		t.Fatalf("as uid 65534: %v\n%s", err, out)
	}
}

func TestFanotifyAddErrors(t *testing.T) {
	f := openFanotify(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	touch(t, file)
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(dir, link))
	for _, p := range []string{filepath.Join(dir, "missing"), file, link} {
		if err := f.Add(p); err == nil {
			t.Errorf("Add(%s): no error", p)
		} else {
			t.Logf("Add(%s): %v", p, err)
		}
	}
	must(t, f.Close())
	must(t, f.Close())
	if err := f.Add(dir); !errors.Is(err, os.ErrClosed) {
		t.Errorf("Add after Close: %v, want os.ErrClosed", err)
	}
	if err := f.Remove(dir); err != nil {
		t.Errorf("Remove after Close: %v", err)
	}
}

// TestFanotifyStop checks that Close and a cancelled context each make a blocked Run return nil.
func TestFanotifyStop(t *testing.T) {
	testStop(t, func(t *testing.T) Backend { return openFanotify(t) })
}

// testStop checks, for a backend, that Close and a cancelled context each make a blocked Run
// return nil.
func testStop(t *testing.T, open func(*testing.T) Backend) {
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			b := open(t)
			must(t, b.Add(t.TempDir()))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- b.Run(ctx, make(chan Event)) }()
			if how == "close" {
				must(t, b.Close())
			} else {
				cancel()
			}
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Run did not return within 2 s")
			}
		})
	}
}

// TestFanotifyOverflow fills the kernel's queue on purpose: with nothing reading, more changes
// than fs.fanotify.max_queued_events; Run must then deliver an OpOverflow, and events after it.
func TestFanotifyOverflow(t *testing.T) {
	f := openFanotify(t)
	max := 16384
	if b, err := os.ReadFile("/proc/sys/fs/fanotify/max_queued_events"); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			max = n
		}
	}
	if max > 100000 {
		t.Skipf("fs.fanotify.max_queued_events is %d: too many files to overflow it", max)
	}
	dir := mountTmpfs(t)
	must(t, f.Add(dir))
	n := max + max/4
	for i := range n {
		// mknod: one create event per file, nothing to merge
		if err := unix.Mknod(filepath.Join(dir, fmt.Sprintf("f%06d", i)), unix.S_IFREG|0o600, 0); err != nil {
			t.Fatal(err)
		}
	}
	r := startRun(t, f, 1024)
	over, before := r.next(t, "with OpOverflow", func(e Event) bool { return e.Op&OpOverflow != 0 })
	t.Logf("%d changes, %d events before %+v", n, len(before), over)
	if over.Op != OpOverflow || over.Dir != "" || over.Name != "" || over.PIDFD != -1 {
		t.Errorf("overflow event %+v", over)
	}
	if len(before) == 0 || len(before) > max {
		t.Errorf("%d events before the overflow, want 1..%d", len(before), max)
	}
	// The queue drained, events flow again.
	touch(t, filepath.Join(dir, "after"))
	closePIDFD(r.expect(t, dir, "after", OpCreate))
}
