package pkgdb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
)

// An rpm upgrade, as rpm 4.18 (sqlite backend) does it under strace: it takes the transaction
// lock (.rpm.lock), opens rpmdb.sqlite read-write, opens the package file and keeps it open
// while it writes each file to NAME;XXXXXXXX and renames it into place. Only then does it add
// the new header to rpmdb.sqlite (one commit to the write-ahead log) and close the package file;
// the old version's header is erased by a second commit. Every file of the package is in place
// before the database names the version that put it there.
//
// So a change whose writer is that process is checked against the header of the package file it
// has open: the same header, with the same file digests and modes, that rpm is about to add to
// its database. The writer is taken as an rpm transaction on this root only when it has the
// root's rpm database file open for writing (a query opens it read-only; rpm --root elsewhere
// opens another file). That file is the one the index read: rpmdb.sqlite, or Packages (Berkeley
// DB) or Packages.db (ndb), which an older rpm opens read-write as it installs; those two were
// not observed here (Debian's rpm writes only sqlite). The package file is read through /proc/PID/fd, so it is the file rpm reads, not
// one a name in argv points to now (argv may be relative, a URL's download, or not name it at
// all, as with dnf, which installs through librpm in its own process). This only names the
// version a change matches: the verdict stays the policy's (trusted by the package-manager
// ancestry, or not), and content that matches neither the package being installed nor the
// database is never called verified.

// procDir is where the processes' fds are read.
const procDir = "/proc"

// maxWriterFDs bounds the cost of looking at a writer: rpm and dnf have a few dozen fds open; a
// writer with more is not looked at (reading /proc/PID/fd needs root, too: without it, nothing is).
const maxWriterFDs = 1024

// maxInflight bounds the package files remembered (parsed, or known not to be packages).
const maxInflight = 64

// inflight remembers the package files writers had open, by identity, so each is parsed once.
// An Index shares it with the Index its Cache loads next.
type inflight struct {
	mu   sync.Mutex
	pkgs map[fileKey]*inflightPkg
}

type fileKey struct {
	dev, ino           uint64
	size, mtime, ctime int64
}

func keyOf(st *unix.Stat_t) fileKey {
	return fileKey{uint64(st.Dev), st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano()}
}

// inflightPkg is the header of one package file; files is nil when the file is no rpm package
// or could not be parsed.
type inflightPkg struct {
	pkg   *Package
	files map[string]File
}

func newInflight() *inflight { return &inflight{pkgs: map[fileKey]*inflightPkg{}} }

// VerifyBy is Verify for a change made by the writer a (nil or an unknown process: Verify). When
// a is an rpm transaction on this root (see above), the change is first checked against the
// package file it is installing; when it does not match that either, against the database as it
// is now, if it changed since the index was loaded (rpm commits the new header after the last
// file is in place: a change judged just after that is as the database says then).
func (ix *Index) VerifyBy(e *baseline.Entry, read Reader, a *proc.Actor) *baseline.Package {
	if ix.Empty() {
		return nil
	}
	if f, ok := ix.installing(e.Path, a); ok {
		p := verify(&f, e, read)
		if p.State == baseline.PkgVerified {
			p.Detail = fmt.Sprintf("as in the package file %s (pid %d) is installing", baseline.QuoteLine(a.Process.Name), a.Process.PID)
			return p
		}
		if _, known := ix.Lookup(e.Path); !known {
			return p // a new file of the package being installed
		}
	}
	p := ix.Verify(e, read)
	if p != nil && p.State == baseline.PkgVerified {
		return p
	}
	if fresh := ix.fresher(); fresh != nil {
		if fp := fresh.Verify(e, read); fp != nil {
			return fp
		}
	}
	return p
}

// fresher returns the index of the database as it is now when it changed since ix was loaded by
// its Cache; nil when it did not, or ix has no Cache.
func (ix *Index) fresher() *Index {
	if ix.cache == nil || ix.cache.stampNow() == ix.stamp {
		return nil
	}
	fresh, _ := ix.cache.Index(context.Background())
	if fresh == ix || fresh.Empty() {
		return nil
	}
	return fresh
}

// installing returns the record of logical path p in the package file that a is installing, when
// a is an rpm transaction writing this root's rpm database.
func (ix *Index) installing(p string, a *proc.Actor) (File, bool) {
	if a == nil || a.Process == nil || a.Process.PID <= 0 || ix.rpmDB == "" || ix.inflight == nil {
		return File{}, false
	}
	dir := procDir + "/" + strconv.Itoa(int(a.Process.PID))
	if !same(dir, a.Process) {
		return File{}, false
	}
	var db unix.Stat_t
	if err := unix.Stat(join(ix.root, ix.rpmDB), &db); err != nil {
		return File{}, false
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil || len(fds) > maxWriterFDs {
		return File{}, false
	}
	writesDB := false
	var cands []string
	var keys []fileKey
	for _, fd := range fds {
		name := dir + "/fd/" + fd.Name()
		var st unix.Stat_t
		if unix.Stat(name, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		forWriting := openForWriting(dir + "/fdinfo/" + fd.Name())
		if st.Dev == db.Dev && st.Ino == db.Ino {
			writesDB = writesDB || forWriting
			continue
		}
		// rpm reads the package read-only; its database, log and lock files are open read-write.
		if forWriting || st.Size < rpmLeadSize+16 {
			continue
		}
		cands, keys = append(cands, name), append(keys, keyOf(&st))
	}
	if !writesDB {
		return File{}, false
	}
	var found File
	ok := false
	for i, name := range cands {
		pkg := ix.inflight.get(keys[i], name, ix.keep)
		if pkg.files == nil {
			continue
		}
		if f, hit := ix.lookupIn(pkg.files, p); hit {
			found, ok = f, true
			break
		}
	}
	// The fds were those of the process the actor names only if it still runs.
	if !ok || !same(dir, a.Process) {
		return File{}, false
	}
	return found, true
}

// same reports whether /proc/PID dir is still the process p: the same start time, which a
// reused pid does not keep; else the same executable and arguments, which only an exec changes
// (the exec cache's start time of a process it saw fork is its parent's, and none for one it saw
// only exec).
func same(dir string, p *proc.Process) bool {
	if p.StartTime != 0 {
		if b, err := os.ReadFile(dir + "/stat"); err == nil {
			if st, err := proc.ParseStat(b); err == nil && st.StartTime == p.StartTime {
				return true
			}
		}
	}
	exe, err := os.Readlink(dir + "/exe")
	if err != nil || p.Exe == "" || exe != p.Exe {
		return false
	}
	if p.ArgsTruncated {
		return true
	}
	b, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return false
	}
	args := proc.ParseCmdline(b)
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

// openForWriting reports whether /proc/PID/fdinfo/N says the fd was opened for writing.
func openForWriting(fdinfo string) bool {
	b, err := os.ReadFile(fdinfo)
	if err != nil {
		return false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("flags:")); ok {
			flags, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 8, 64)
			return err == nil && flags&unix.O_ACCMODE != unix.O_RDONLY
		}
	}
	return false
}

// get returns the package of the file open at name (/proc/PID/fd/N) whose identity is k, parsing
// it the first time.
func (c *inflight) get(k fileKey, name string, keep *Filter) *inflightPkg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pkgs[k]; ok {
		return p
	}
	p := readPackageFile(k, name, keep)
	if len(c.pkgs) >= maxInflight {
		clear(c.pkgs)
	}
	c.pkgs[k] = p
	return p
}

// readPackageFile parses the rpm package file open at name, if it is one and still the file k
// identifies.
func readPackageFile(k fileKey, name string, keep *Filter) *inflightPkg {
	f, err := os.Open(name)
	if err != nil {
		return &inflightPkg{}
	}
	defer f.Close()
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || keyOf(&st) != k {
		return &inflightPkg{}
	}
	h, err := parseRPMPackage(bufio.NewReader(f), keep)
	if err != nil || h.Name == "gpg-pubkey" {
		return &inflightPkg{}
	}
	p := &inflightPkg{pkg: &Package{Name: h.Name, Version: h.EVR(), Arch: h.Arch, Type: TypeRPM}, files: map[string]File{}}
	for _, rf := range h.Files {
		file := File{Pkg: p.pkg, Mode: uint32(rf.Mode), Target: rf.LinkTo, Conffile: rf.Flags&rpmFileConfig != 0}
		if rf.Digest != "" && h.Algo != AlgoNone {
			if d, err := hex.DecodeString(rf.Digest); err == nil {
				file.Digest, file.Algo = d, h.Algo
			}
		}
		p.files[rf.Path] = file
	}
	return p
}
