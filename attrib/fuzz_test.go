package attrib

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// Builders of the binary inputs, from the C and kernel struct layouts. They are used by the table
// tests in decode_test.go and made the seed corpora in testdata/fuzz.

// recHead is struct head of bpf/exec.c: 12 u32, u64 boot_ns, char comm[16].
type recHead struct {
	kind, pid, tid, other, uid, gid, euid, egid, ppid, loginuid, sessionid, flags uint32
	bootNS                                                                        uint64
	comm                                                                          string
}

func (h recHead) bytes() []byte {
	b := make([]byte, headSize)
	le := binary.LittleEndian
	for i, v := range []uint32{h.kind, h.pid, h.tid, h.other, h.uid, h.gid, h.euid, h.egid, h.ppid, h.loginuid, h.sessionid, h.flags} {
		le.PutUint32(b[4*i:], v)
	}
	le.PutUint64(b[48:], h.bootNS)
	copy(b[56:72], h.comm)
	return b
}

// enterBytes is struct exec_enter: the head, filename_len, args_len, argc, pad, filename[512],
// args[4096]. args is copied as given (NUL-separated strings back to back).
func enterBytes(h recHead, fnLen, argsLen, argc uint32, filename string, args []byte) []byte {
	b := make([]byte, execEnterSize)
	copy(b, h.bytes())
	le := binary.LittleEndian
	le.PutUint32(b[headSize:], fnLen)
	le.PutUint32(b[headSize+4:], argsLen)
	le.PutUint32(b[headSize+8:], argc)
	copy(b[enterFixed:enterFixed+filenameMaxLen], filename)
	copy(b[enterFixed+filenameMaxLen:], args)
	return b
}

// argsBytes is argv as the kernel program packs it.
func argsBytes(args ...string) []byte {
	var b []byte
	for _, a := range args {
		b = append(append(b, a...), 0)
	}
	return b
}

// wellFormedEnter is an exec-enter record the kernel program would make for argv.
func wellFormedEnter(h recHead, filename string, args ...string) []byte {
	a := argsBytes(args...)
	return enterBytes(h, uint32(len(filename)+1), uint32(len(a)), uint32(len(args)), filename, a)
}

// connMsg is one netlink message of the process connector: nlmsghdr (len u32, type u16, flags u16,
// seq u32, pid u32), cn_msg (idx u32, val u32, seq u32, ack u32, len u16, flags u16) and a
// proc_event (what u32, cpu u32, timestamp_ns u64, then the union, 24 bytes as in the kernel's
// sizeof(struct proc_event) of 40).
type connMsg struct {
	nlType   uint16
	idx, val uint32
	seq, ack uint32
	what     uint32
	cpu      uint32
	ts       uint64
	union    []uint32
	dlen     int // cn_msg len; -1: the proc_event's size
}

func (m connMsg) bytes() []byte {
	le := binary.LittleEndian
	ev := make([]byte, procEventHead+24)
	le.PutUint32(ev, m.what)
	le.PutUint32(ev[4:], m.cpu)
	le.PutUint64(ev[8:], m.ts)
	for i, v := range m.union {
		le.PutUint32(ev[procEventHead+4*i:], v)
	}
	dlen := m.dlen
	if dlen < 0 {
		dlen = len(ev)
	}
	b := make([]byte, nlmsgHdrLen+cnMsgLen, nlmsgHdrLen+cnMsgLen+len(ev))
	typ := m.nlType
	if typ == 0 {
		typ = 3 // NLMSG_DONE, as the kernel sends them
	}
	idx, val := m.idx, m.val
	if idx == 0 && val == 0 {
		idx, val = cnIdxProc, cnValProc
	}
	le.PutUint16(b[4:], typ)
	c := b[nlmsgHdrLen:]
	le.PutUint32(c, idx)
	le.PutUint32(c[4:], val)
	le.PutUint32(c[8:], m.seq)
	le.PutUint32(c[12:], m.ack)
	le.PutUint16(c[16:], uint16(dlen))
	b = append(b, ev...)
	le.PutUint32(b, uint32(len(b)))
	return b
}

func connFork(ptid, ptgid, ctid, ctgid uint32, ts uint64) connMsg {
	return connMsg{what: procEventFork, cpu: 3, ts: ts, union: []uint32{ptid, ptgid, ctid, ctgid}, dlen: -1}
}

func connExec(pid, tgid uint32, ts uint64) connMsg {
	return connMsg{what: procEventExec, cpu: 1, ts: ts, union: []uint32{pid, tgid}, dlen: -1}
}

func connExit(pid, tgid, code, sig, ppid, ptgid uint32, ts uint64) connMsg {
	return connMsg{what: procEventExit, cpu: 0, ts: ts, union: []uint32{pid, tgid, code, sig, ppid, ptgid}, dlen: -1}
}

func connAck(err, seq, ack uint32) connMsg {
	return connMsg{what: procEventNone, cpu: 0xffffffff, seq: seq, ack: ack, union: []uint32{err}, dlen: -1}
}

// datagram concatenates messages, each padded to 4 bytes as netlink aligns them.
func datagram(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = append(b, m...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	return b
}

// Tracefs format files as kernels print them.
const (
	// Linux 6.x: the comms are __data_loc, child_pid moved to 20.
	forkFormat6 = "name: sched_process_fork\nID: 366\nformat:\n" +
		"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" +
		"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" +
		"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" +
		"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n" +
		"\tfield:__data_loc char[] parent_comm;\toffset:8;\tsize:4;\tsigned:0;\n" +
		"\tfield:pid_t parent_pid;\toffset:12;\tsize:4;\tsigned:1;\n" +
		"\tfield:__data_loc char[] child_comm;\toffset:16;\tsize:4;\tsigned:0;\n" +
		"\tfield:pid_t child_pid;\toffset:20;\tsize:4;\tsigned:1;\n\n" +
		"print fmt: \"comm=%s pid=%d child_comm=%s child_pid=%d\", __get_str(parent_comm), REC->parent_pid, __get_str(child_comm), REC->child_pid\n"
	// Linux 5.x and earlier 6.x: char arrays.
	forkFormat5 = "name: sched_process_fork\nID: 314\nformat:\n" +
		"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" +
		"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" +
		"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" +
		"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n" +
		"\tfield:char parent_comm[16];\toffset:8;\tsize:16;\tsigned:1;\n" +
		"\tfield:pid_t parent_pid;\toffset:24;\tsize:4;\tsigned:1;\n" +
		"\tfield:char child_comm[16];\toffset:28;\tsize:16;\tsigned:1;\n" +
		"\tfield:pid_t child_pid;\toffset:44;\tsize:4;\tsigned:1;\n\n" +
		"print fmt: \"comm=%s pid=%d child_comm=%s child_pid=%d\", REC->parent_comm, REC->parent_pid, REC->child_comm, REC->child_pid\n"
	enterExecveFormat = "name: sys_enter_execve\nID: 862\nformat:\n" +
		"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" +
		"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" +
		"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" +
		"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n" +
		"\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;\n" +
		"\tfield:const char * filename;\toffset:16;\tsize:8;\tsigned:0;\n" +
		"\tfield:const char *const * argv;\toffset:24;\tsize:8;\tsigned:0;\n" +
		"\tfield:const char *const * envp;\toffset:32;\tsize:8;\tsigned:0;\n\n" +
		"print fmt: \"filename: 0x%08lx, argv: 0x%08lx, envp: 0x%08lx\", ((unsigned long)(REC->filename)), ((unsigned long)(REC->argv)), ((unsigned long)(REC->envp))\n"
	execFormat6 = "name: sched_process_exec\nID: 365\nformat:\n" +
		"\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n" +
		"\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n" +
		"\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n" +
		"\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n" +
		"\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n" +
		"\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n" +
		"\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n\n" +
		"print fmt: \"filename=%s pid=%d old_pid=%d\", __get_str(filename), REC->pid, REC->old_pid\n"
)

func FuzzParseRecord(f *testing.F) {
	h := recHead{kind: kindExecEnter, pid: 4242, tid: 4242, uid: 1000, gid: 1000, euid: 1000, egid: 1000, ppid: 17,
		loginuid: 1000, sessionid: 3, flags: flagTask | flagLoginUID, bootNS: 123456789, comm: "bash"}
	f.Add(wellFormedEnter(h, "/usr/bin/chmod", "chmod", "+x", "/etc/cron.daily/x"))
	for _, k := range []uint32{kindExec, kindFork, kindExit} {
		hk := h
		hk.kind = k
		f.Add(hk.bytes())
	}
	f.Add(h.bytes()) // an enter head without its body
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b)
		if err != nil {
			if !errors.Is(err, errRecord) {
				t.Fatalf("error %v does not wrap errRecord", err)
			}
			return
		}
		if len(b) < headSize {
			t.Fatalf("accepted %d bytes, less than a head", len(b))
		}
		le := binary.LittleEndian
		if r.Kind != le.Uint32(b) || r.PID != int32(le.Uint32(b[4:])) || r.TID != int32(le.Uint32(b[8:])) ||
			r.Other != int32(le.Uint32(b[12:])) || r.Flags != le.Uint32(b[44:]) || r.BootNS != le.Uint64(b[48:]) {
			t.Fatalf("head fields differ from the bytes: %+v", r)
		}
		if len(r.Comm) > 16 || strings.IndexByte(r.Comm, 0) >= 0 || !bytes.HasPrefix(b[56:72], []byte(r.Comm)) {
			t.Fatalf("comm %q", r.Comm)
		}
		switch r.Kind {
		case kindExec, kindFork, kindExit:
			if r.Filename != "" || r.Args != nil {
				t.Fatalf("kind %d with exec-enter fields: %+v", r.Kind, r)
			}
			return
		case kindExecEnter:
		default:
			t.Fatalf("accepted kind %d", r.Kind)
		}
		if len(b) < execEnterSize {
			t.Fatalf("exec-enter accepted from %d bytes", len(b))
		}
		argsLen, argc := int(le.Uint32(b[headSize+4:])), int(le.Uint32(b[headSize+8:]))
		if len(r.Args) > maxArgsInRecord || len(r.Args) > argc {
			t.Fatalf("%d args (argc %d)", len(r.Args), argc)
		}
		if len(r.Filename) >= filenameMaxLen+1 || strings.IndexByte(r.Filename, 0) >= 0 {
			t.Fatalf("filename of %d bytes", len(r.Filename))
		}
		total := 0
		for _, a := range r.Args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("NUL in argument %q", a)
			}
			total += len(a) + 1
		}
		if total > argsLen+1 || total > argsMaxLen+1 {
			t.Fatalf("args of %d bytes from a buffer of %d", total, argsLen)
		}
		if !bytes.HasPrefix(b[enterFixed+filenameMaxLen:], []byte(strings.Join(r.Args, "\x00"))) {
			t.Fatalf("args %q are not the buffer's", r.Args)
		}
	})
}

func FuzzParseFormat(f *testing.F) {
	for _, s := range []string{forkFormat6, forkFormat5, enterExecveFormat, execFormat6, "field:int x;offset:1;size:4;"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fields, err := parseFormat(b)
		if err != nil {
			if !errors.Is(err, errFormat) {
				t.Fatalf("error %v does not wrap errFormat", err)
			}
			return
		}
		if len(fields) == 0 {
			t.Fatal("success with no fields")
		}
		for name, fd := range fields {
			if name == "" || strings.ContainsAny(name, " *[;") || !bytes.Contains(b, []byte(name)) {
				t.Fatalf("field name %q", name)
			}
			if fd.Offset < 0 || fd.Offset > 1<<16 || fd.Size < 0 || fd.Size > 1<<16 {
				t.Fatalf("field %s: offset %d size %d", name, fd.Offset, fd.Size)
			}
		}
		if bytes.Count(b, []byte("field:")) < len(fields) {
			t.Fatalf("%d fields from %d declarations", len(fields), bytes.Count(b, []byte("field:")))
		}
	})
}

func FuzzParseConnector(f *testing.F) {
	f.Add(connFork(100, 100, 101, 101, 5).bytes())
	f.Add(connExec(101, 101, 6).bytes())
	f.Add(connExit(101, 101, 0, 17, 100, 100, 7).bytes())
	f.Add(connAck(0, 1, 1).bytes())
	f.Add(datagram(connFork(1, 1, 2, 2, 1).bytes(), connExec(2, 2, 2).bytes()))
	f.Fuzz(func(t *testing.T, b []byte) {
		evs, err := parseConnector(b)
		if err != nil && !errors.Is(err, errConnector) {
			t.Fatalf("error %v does not wrap errConnector", err)
		}
		if len(evs)*(nlmsgHdrLen+cnMsgLen+procEventHead) > len(b) {
			t.Fatalf("%d events from %d bytes", len(evs), len(b))
		}
		for _, ev := range evs {
			switch ev.What {
			case procEventNone, procEventFork, procEventExec, procEventExit:
			default:
				t.Fatalf("event kind %#x returned", ev.What)
			}
			if ev.What != procEventNone && ev.Err != 0 {
				t.Fatalf("error %d on event %#x", ev.Err, ev.What)
			}
			if ev.What != procEventExit && ev.ExitCode != 0 {
				t.Fatalf("exit code on event %#x", ev.What)
			}
		}
	})
}
