// Package proc reads processes from /proc: who made a change, as far as /proc can still tell when
// the event is handled. It reads through an fs.FS rooted at /proc (os.DirFS("/proc") in
// production), so the parsing is tested on fixtures, hostile comm values included. It knows
// nothing about files or the store.
//
// /proc alone cannot name a process that exited before its event was read; package attrib
// keeps an exec cache, fed by the kernel, for that.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Process is what /proc says of one process.
type Process struct {
	PID       int32    `json:"pid"`
	PPID      int32    `json:"ppid"`
	Name      string   `json:"name"`             // comm: at most 15 bytes, any bytes but NUL
	Exe       string   `json:"exe,omitempty"`    // the executable's path; " (deleted)" when it was removed
	Args      []string `json:"args,omitempty"`   // argv; empty for kernel threads
	StartTime uint64   `json:"start_ticks"`      // clock ticks after boot: with PID, the identity
	UID       int32    `json:"uid"`              // real uid; -1 when not observed
	EUID      int32    `json:"euid"`             // effective uid; -1 when not observed
	GID       int32    `json:"gid"`              // real gid; -1 when not observed
	EGID      int32    `json:"egid"`             // effective gid; -1 when not observed
	LoginUID  int32    `json:"loginuid"`         // audit login uid; -1 when unset or not observed
	SessionID int64    `json:"sessionid"`        // audit session id; -1 when unset or not observed
	Cwd       string   `json:"cwd,omitempty"`    // working directory, when it could be read
	Cgroup    string   `json:"cgroup,omitempty"` // the unified (v2) cgroup path
	// ContainerID is the 64-hex-digit id found in the cgroup path (docker, containerd, cri-o,
	// podman), or "".
	ContainerID string `json:"container_id,omitempty"`
	// ArgsTruncated says Args is not the whole argv: a bound was reached where it was captured.
	ArgsTruncated bool `json:"args_truncated,omitempty"`
	Kernel        bool `json:"kernel,omitempty"` // a kernel thread (no cmdline, no exe)
	// Exited means the process was exiting or had exited and not yet been reaped: /proc still
	// has its name, parent and ids, but its executable and arguments are gone.
	Exited bool `json:"exited,omitempty"`
}

// Stat is the part of /proc/PID/stat tripline uses.
type Stat struct {
	PID       int32
	Comm      string
	State     byte
	PPID      int32
	StartTime uint64
}

// ErrFormat is wrapped by parse errors.
var ErrFormat = errors.New("unexpected format")

// ParseStat parses /proc/PID/stat. comm may contain spaces and parentheses ("a) b (c"): it is
// what lies between the first '(' and the last ')'.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, fmt.Errorf("stat: no (comm): %w", ErrFormat)
	}
	pid, err := strconv.ParseInt(string(bytes.TrimSpace(b[:open])), 10, 32)
	if err != nil {
		return s, fmt.Errorf("stat: pid: %w", ErrFormat)
	}
	s.PID, s.Comm = int32(pid), string(b[open+1:closing])
	// After comm: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime
	// stime cutime cstime priority nice num_threads itrealvalue starttime ...
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return s, fmt.Errorf("stat: %d fields after comm: %w", len(f), ErrFormat)
	}
	s.State = f[0][0]
	ppid, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return s, fmt.Errorf("stat: ppid: %w", ErrFormat)
	}
	s.PPID = int32(ppid)
	if s.StartTime, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return s, fmt.Errorf("stat: starttime: %w", ErrFormat)
	}
	return s, nil
}

// ParseCmdline splits /proc/PID/cmdline (NUL-separated, usually NUL-terminated) into argv.
func ParseCmdline(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	b = bytes.TrimSuffix(b, []byte{0})
	return strings.Split(string(b), "\x00")
}

// ParseStatusIDs reads the real and effective uid from /proc/PID/status ("Uid:\treal\teff\t...").
func ParseStatusIDs(b []byte) (uid, euid int32, err error) {
	return statusIDs(b, "Uid:")
}

// ParseStatusGIDs reads the real and effective gid from /proc/PID/status.
func ParseStatusGIDs(b []byte) (gid, egid int32, err error) {
	return statusIDs(b, "Gid:")
}

func statusIDs(b []byte, key string) (real, eff int32, err error) {
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte(key))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) < 2 {
			return 0, 0, fmt.Errorf("status: %s line: %w", key, ErrFormat)
		}
		u, err1 := strconv.ParseUint(f[0], 10, 32)
		e, err2 := strconv.ParseUint(f[1], 10, 32)
		if err1 != nil || err2 != nil {
			return 0, 0, fmt.Errorf("status: %s line: %w", key, ErrFormat)
		}
		return int32(u), int32(e), nil
	}
	return 0, 0, fmt.Errorf("status: no %s line: %w", key, ErrFormat)
}

// ParseCgroup returns the unified (v2) hierarchy's path from /proc/PID/cgroup ("0::/path"),
// or, on a v1-only host, the first controller's path.
func ParseCgroup(b []byte) string {
	first := ""
	for _, line := range bytes.Split(b, []byte{'\n'}) {
		parts := bytes.SplitN(line, []byte{':'}, 3)
		if len(parts) != 3 {
			continue
		}
		if string(parts[0]) == "0" && len(parts[1]) == 0 {
			return string(parts[2])
		}
		if first == "" {
			first = string(parts[2])
		}
	}
	return first
}

// ContainerID finds a container id in a cgroup path: the last 64-hex-digit run that makes up a
// path element or its suffix after '-' (docker-ID.scope, cri-containerd-ID.scope, libpod-ID,
// /docker/ID, /kubepods/.../ID).
func ContainerID(cgroup string) string {
	elems := strings.Split(cgroup, "/")
	for i := len(elems) - 1; i >= 0; i-- {
		e := strings.TrimSuffix(elems[i], ".scope")
		if j := strings.LastIndexAny(e, "-:"); j >= 0 {
			e = e[j+1:]
		}
		if len(e) == 64 && isHex(e) {
			return e
		}
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// maxCmdline bounds how much of a command line is kept.
const maxCmdline = 64 << 10

// Read reads process pid from fsys (rooted at /proc). It fails when the process is gone; fields
// that cannot be read (exe of another user's process without privileges) stay empty.
func Read(fsys fs.FS, pid int32) (Process, error) {
	dir := strconv.Itoa(int(pid))
	b, err := fs.ReadFile(fsys, dir+"/stat")
	if err != nil {
		return Process{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Process{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	p := Process{PID: st.PID, PPID: st.PPID, Name: st.Comm, StartTime: st.StartTime, UID: -1, EUID: -1, GID: -1, EGID: -1, LoginUID: -1, SessionID: -1}
	if args, cut, err := readArgs(fsys, dir); err == nil {
		p.Args, p.ArgsTruncated = args, cut
	}
	p.Kernel = len(p.Args) == 0 && st.PPID == 2 || pid == 2
	exe, exeErr := fs.ReadLink(fsys, dir+"/exe")
	if exeErr == nil {
		p.Exe = exe
	}
	readIDs(fsys, dir, &p)
	// A zombie, or a process whose memory is already released on its way out, has no argv and
	// no executable link any more.
	// Its exe link vanishing (not refused) while it is read means the same.
	p.Exited = st.State == 'Z' || st.State == 'X' || (!p.Kernel && len(p.Args) == 0 && p.Exe == "") ||
		(!p.Kernel && errors.Is(exeErr, fs.ErrNotExist))
	// The stat read first and this one must describe the same process: a pid reused in between
	// would mix two processes.
	if b, err := fs.ReadFile(fsys, dir+"/stat"); err != nil {
		return Process{}, err
	} else if again, err := ParseStat(b); err != nil || again.StartTime != st.StartTime {
		return Process{}, fmt.Errorf("pid %d was reused while being read: %w", pid, fs.ErrNotExist)
	}
	return p, nil
}

// A process that has just exec'd is read in two steps, racing its exit: ReadImage reads what
// vanishes first (its argv and executable, released with its memory), then FillAtExec its stat,
// ids and the rest. A process that exited in between keeps what was read, with Exited set.

// ReadImage reads what vanishes first when a process exits: its argv and executable. Fields it
// does not read are -1 or empty; FillAtExec completes the read.
func ReadImage(fsys fs.FS, pid int32) Process {
	dir := strconv.Itoa(int(pid))
	p := Process{PID: pid, UID: -1, EUID: -1, GID: -1, EGID: -1, LoginUID: -1, SessionID: -1}
	if args, cut, err := readArgs(fsys, dir); err == nil {
		p.Args, p.ArgsTruncated = args, cut
	}
	if exe, err := fs.ReadLink(fsys, dir+"/exe"); err == nil {
		p.Exe = exe
	}
	return p
}

// FillAtExec completes a ReadImage: stat, ids, login, cwd and cgroup. It fails only when nothing
// at all could be read of the process.
func FillAtExec(fsys fs.FS, p *Process) error {
	dir := strconv.Itoa(int(p.PID))
	b, err := fs.ReadFile(fsys, dir+"/stat")
	if err != nil {
		if p.Exe == "" && p.Args == nil {
			return err
		}
		p.Exited = true
		return nil
	}
	st, err := ParseStat(b)
	if err != nil {
		return fmt.Errorf("pid %d: %w", p.PID, err)
	}
	p.PPID, p.Name, p.StartTime = st.PPID, st.Comm, st.StartTime
	p.Exited = st.State == 'Z' || st.State == 'X' || (p.Exe == "" && p.Args == nil)
	readIDs(fsys, dir, p)
	return nil
}

// readArgs reads /proc/PID/cmdline, cut at maxCmdline (cut says so).
func readArgs(fsys fs.FS, dir string) (args []string, cut bool, err error) {
	b, err := fs.ReadFile(fsys, dir+"/cmdline")
	if err != nil {
		return nil, false, err
	}
	if cut = len(b) > maxCmdline; cut {
		b = b[:maxCmdline]
	}
	return ParseCmdline(b), cut, nil
}

// readIDs fills what Read and FillAtExec both read after the stat: real and effective ids, the
// login uid and session, the working directory and the cgroup. What cannot be read stays unset.
func readIDs(fsys fs.FS, dir string, p *Process) {
	if b, err := fs.ReadFile(fsys, dir+"/status"); err == nil {
		if u, e, err := ParseStatusIDs(b); err == nil {
			p.UID, p.EUID = u, e
		}
		if g, e, err := ParseStatusGIDs(b); err == nil {
			p.GID, p.EGID = g, e
		}
	}
	p.LoginUID, p.SessionID = ReadLogin(fsys, p.PID)
	if cwd, err := fs.ReadLink(fsys, dir+"/cwd"); err == nil {
		p.Cwd = cwd
	}
	if b, err := fs.ReadFile(fsys, dir+"/cgroup"); err == nil {
		p.Cgroup = ParseCgroup(b)
		p.ContainerID = ContainerID(p.Cgroup)
	}
}

// ReadLogin reads the audit login uid and session id of pid; -1 for each that is unset or
// cannot be read.
func ReadLogin(fsys fs.FS, pid int32) (loginUID int32, sessionID int64) {
	loginUID, sessionID = -1, -1
	dir := strconv.Itoa(int(pid))
	if b, err := fs.ReadFile(fsys, dir+"/loginuid"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v != 4294967295 {
			loginUID = int32(v)
		}
	}
	if b, err := fs.ReadFile(fsys, dir+"/sessionid"); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v != 4294967295 {
			sessionID = int64(v)
		}
	}
	return loginUID, sessionID
}

// Unchanged reports, with two cheap reads, whether process p still runs the same executable with
// the same arguments: exec keeps the pid and the start time, so a process read earlier can be
// reused only while this holds.
func Unchanged(fsys fs.FS, p *Process) bool {
	dir := strconv.Itoa(int(p.PID))
	exe, err := fs.ReadLink(fsys, dir+"/exe")
	if err != nil || exe != p.Exe {
		return false
	}
	args, _, err := readArgs(fsys, dir)
	if err != nil {
		return false
	}
	if len(args) != len(p.Args) {
		return false
	}
	for i := range args {
		if args[i] != p.Args[i] {
			return false
		}
	}
	return true
}

// MaxAncestors bounds Ancestry.
const MaxAncestors = 16

// Ancestry reads the parents of p up to pid 1 (at most MaxAncestors), parent first. It stops at
// the first one that cannot be read.
func Ancestry(fsys fs.FS, p Process) []Process {
	var out []Process
	seen := map[int32]bool{p.PID: true}
	for ppid := p.PPID; ppid > 0 && len(out) < MaxAncestors && !seen[ppid]; {
		seen[ppid] = true
		a, err := Read(fsys, ppid)
		if err != nil {
			break
		}
		out = append(out, a)
		ppid = a.PPID
	}
	return out
}
