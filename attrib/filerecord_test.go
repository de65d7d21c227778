package attrib

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// fileRecord builds a ring-buffer record as bpf/file.c lays it out.
func fileRecord(call Call, args [6]uint64, path1, path2, cwd string, extra []byte) []byte {
	b := make([]byte, fileRecordLen, fileRecordLen+2*fileCompMax*fileCompLen)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(call))
	le.PutUint32(b[4:], 42)
	le.PutUint32(b[8:], 42)
	copy(b[48:], "chmod")
	for i, a := range args {
		le.PutUint64(b[fileOffArgs+8*i:], a)
	}
	var flags uint32
	if extra != nil {
		copy(b[fileOffExtra:], extra)
		flags |= fileFlagExtra
	}
	copy(b[fileOffPath1:], path1)
	copy(b[fileOffPath2:], path2)
	if cwd != "" {
		flags |= fileFlagCwd
		var parts []string
		for _, p := range splitPath(cwd) {
			if p != "" {
				parts = append([]string{p}, parts...)
			}
		}
		b = b[:fileRecordLen+len(parts)*fileCompLen]
		for i, p := range parts {
			copy(b[fileOffWalked+i*fileCompLen:], p)
		}
		le.PutUint32(b[176:], uint32(len(parts)))
	}
	le.PutUint32(b[32:], flags)
	return b
}

func splitPath(p string) []string {
	var out []string
	for _, s := range []byte(p) {
		if s == '/' {
			out = append(out, "")
			continue
		}
		out[len(out)-1] += string(s)
	}
	return out
}

func timespecs(asec, ansec, msec, mnsec int64) []byte {
	b := make([]byte, 32)
	for i, v := range []int64{asec, ansec, msec, mnsec} {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

const cwdFD = uint64(0xffffffffffffff9c) // AT_FDCWD as the register holds it

func TestFileChangeTouches(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  []byte
		want []Touch
	}{
		{"chmod relative", fileRecord(CallFchmodat, [6]uint64{cwdFD, 0, 0o755}, "job", "", "/etc/cron.daily", nil),
			[]Touch{{Path: "/etc/cron.daily/job", Want: WantMode, Mode: 0o755, HaveMode: true}}},
		{"touch -d", fileRecord(CallUtimensat, [6]uint64{cwdFD}, "/etc/cron.daily/job", "", "/", timespecs(1551398400, 0, 1551398400, 5)),
			[]Touch{{Path: "/etc/cron.daily/job", Want: WantTimes, MtimeNS: 1551398400e9 + 5}}},
		{"touch now", fileRecord(CallUtimensat, [6]uint64{cwdFD}, "/a/b", "", "/", timespecs(0, utimeNow, 0, utimeNow)),
			[]Touch{{Path: "/a/b", Want: WantTouch}}},
		{"install creat", fileRecord(CallOpenat, [6]uint64{cwdFD, 0, unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, 0o600}, "/etc/cron.daily/y", "", "/", nil),
			[]Touch{{Path: "/etc/cron.daily/y", Want: WantWrite | WantCreate, Mode: unix.S_IFREG | 0o600, HaveMode: true}}},
		{"rename", fileRecord(CallRenameat2, [6]uint64{cwdFD, 0, cwdFD}, "a", "../b/c", "/x/y", nil),
			[]Touch{{Path: "/x/y/a", Want: WantRemove}, {Path: "/x/b/c", Want: WantCreate | WantWrite}}},
		{"no cwd", fileRecord(CallFchmodat, [6]uint64{cwdFD, 0, 0o755}, "job", "", "", nil), nil},
		{"mkdir", fileRecord(CallMkdir, [6]uint64{0, 0o700}, "/home/a/.ssh", "", "/", nil),
			[]Touch{{Path: "/home/a/.ssh", Want: WantCreate, Mode: unix.S_IFDIR | 0o700, HaveMode: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseFileChange(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			got := c.Touches()
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("touch %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseFileChangeRejects(t *testing.T) {
	ok := fileRecord(CallChmod, [6]uint64{0, 0o755}, "/a", "", "/", nil)
	if _, err := parseFileChange(ok[:100]); err == nil {
		t.Error("short record accepted")
	}
	bad := append([]byte(nil), ok...)
	binary.LittleEndian.PutUint32(bad[0:], 999)
	if _, err := parseFileChange(bad); err == nil {
		t.Error("unknown call accepted")
	}
	bad = append([]byte(nil), ok...)
	binary.LittleEndian.PutUint32(bad[176:], 99)
	if _, err := parseFileChange(bad); err == nil {
		t.Error("too many cwd components accepted")
	}
	bad = fileRecord(CallChmod, [6]uint64{0, 0o755}, "/a", "", "/x/../y", nil)
	if _, err := parseFileChange(bad); err == nil {
		t.Error("a '..' component accepted")
	}
}

func FuzzParseFileChange(f *testing.F) {
	f.Add(fileRecord(CallFchmodat, [6]uint64{cwdFD, 0, 0o755}, "job", "", "/etc/cron.daily", nil))
	f.Add(fileRecord(CallUtimensat, [6]uint64{cwdFD}, "/etc/x", "", "/", timespecs(1, 2, 3, 4)))
	f.Add(fileRecord(CallRenameat2, [6]uint64{3, 0, 4}, "a", "b", "/", nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseFileChange(b)
		if err != nil {
			return
		}
		for _, x := range c.Touches() {
			if x.Path == "" || x.Path[0] != '/' {
				t.Fatalf("touch with a relative path: %+v", x)
			}
		}
	})
}

// A record ends after its last path component: the working directory's first, then the base's.
// One byte short of them is an error, not a panic or a wrong path.
func TestParseFileChangeWalked(t *testing.T) {
	b := fileRecord(CallFchmodat, [6]uint64{5, 0, 0o755}, "job", "", "/home/alice", nil)
	for _, p := range []string{"cron.d", "etc"} { // the base /etc/cron.d, leaf first
		comp := make([]byte, fileCompLen)
		copy(comp, p)
		b = append(b, comp...)
	}
	le := binary.LittleEndian
	le.PutUint32(b[164:], 2)
	le.PutUint32(b[32:], le.Uint32(b[32:])|fileFlagBase)
	c, err := parseFileChange(b)
	if err != nil {
		t.Fatal(err)
	}
	if c.Cwd != "/home/alice" || c.Base != "/etc/cron.d" {
		t.Errorf("cwd %q, base %q: want /home/alice and /etc/cron.d", c.Cwd, c.Base)
	}
	if len(b) != fileRecordLen+4*fileCompLen {
		t.Errorf("record of %d bytes, want %d", len(b), fileRecordLen+4*fileCompLen)
	}
	if _, err := parseFileChange(b[:len(b)-1]); err == nil {
		t.Error("a record one byte short of its components accepted")
	}
}
