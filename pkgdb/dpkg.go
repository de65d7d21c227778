package pkgdb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// DpkgAdmin is dpkg's database directory, under the root.
const DpkgAdmin = "/var/lib/dpkg"

// dpkgPackage is one stanza of dpkg's status file, as far as the index needs it.
type dpkgPackage struct {
	Name, Version, Arch, MultiArch, Status string
	Conffiles                              []dpkgConffile
}

type dpkgConffile struct {
	Path string
	MD5  []byte // nil for "newconffile" (not yet installed) or a malformed sum
}

// maxStanzaBytes bounds one status stanza, against a corrupt file with no blank line.
const maxStanzaBytes = 16 << 20

// ParseStatus reads dpkg's status file (deb822 stanzas) and calls fn for every package whose
// files may be on disk (every status but not-installed). A malformed stanza is skipped with an
// error returned at the end, after every good one was given to fn: one bad stanza loses nothing
// else.
func ParseStatus(r io.Reader, fn func(dpkgPackage)) error {
	return parseStatus(r, false, fn)
}

func parseStatusAll(r io.Reader, fn func(dpkgPackage)) error { return parseStatus(r, true, fn) }

func parseStatus(r io.Reader, all bool, fn func(dpkgPackage)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var bad []string
	var cur dpkgPackage
	var field string // the field a continuation line belongs to
	have, size, line := false, 0, 0
	flush := func() {
		if !have {
			return
		}
		switch {
		case cur.Name == "" || cur.Version == "":
			bad = append(bad, fmt.Sprintf("line %d: stanza without Package or Version", line))
		case all || !strings.HasSuffix(cur.Status, " not-installed"):
			fn(cur)
		}
		cur, field, have, size = dpkgPackage{}, "", false, 0
	}
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: no field tripline needs is that long.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			bad = append(bad, fmt.Sprintf("line %d: longer than 64 KiB", line+1))
			line++
			continue
		}
		if len(b) == 0 && err != nil {
			break
		}
		line++
		size += len(b)
		l := string(bytes.TrimRight(b, "\r\n"))
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case l[0] == '#':
			// dpkg pads the files of updates/ with "#padding" lines
		case size > maxStanzaBytes:
			// keep reading to the blank line, dropping the rest of this stanza
		case l[0] == ' ' || l[0] == '\t':
			have = true
			if field == "conffiles" {
				if c, ok := parseConffile(l); ok {
					cur.Conffiles = append(cur.Conffiles, c)
				}
			}
		default:
			have = true
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				bad = append(bad, fmt.Sprintf("line %d: not a field", line))
				field = ""
				continue
			}
			field = strings.ToLower(k)
			v = strings.TrimSpace(v)
			switch field {
			case "package":
				cur.Name = v
			case "version":
				cur.Version = v
			case "architecture":
				cur.Arch = v
			case "multi-arch":
				cur.MultiArch = v
			case "status":
				cur.Status = v
			}
		}
		if err != nil {
			break
		}
	}
	flush()
	if len(bad) > 0 {
		return fmt.Errorf("%d malformed: %s", len(bad), strings.Join(bad[:min(len(bad), 3)], "; "))
	}
	return nil
}

// parseConffile parses " /etc/x.conf 0123...abcd [obsolete|remove-on-upgrade]".
func parseConffile(l string) (dpkgConffile, bool) {
	f := strings.Fields(l)
	if len(f) < 2 || !path.IsAbs(f[0]) {
		return dpkgConffile{}, false
	}
	for _, flag := range f[2:] {
		if flag == "obsolete" || flag == "remove-on-upgrade" {
			return dpkgConffile{}, false // no longer the package's: dpkg does not manage it
		}
	}
	c := dpkgConffile{Path: path.Clean(f[0])}
	if sum, err := hex.DecodeString(f[1]); err == nil && len(sum) == 16 {
		c.MD5 = sum
	}
	return c, true
}

// lines calls fn with each line of data, without its newline.
func lines(data []byte, fn func([]byte)) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			fn(data)
			return
		}
		fn(data[:i])
		data = data[i+1:]
	}
}

// ParseMD5sums reads an info/PKG.md5sums file ("0123...abcd  usr/bin/x", the path relative to
// the root) and calls fn with each absolute path and its md5. Both are valid only during the call.
// A malformed line is skipped and counted in the error.
func ParseMD5sums(data []byte, fn func(p []byte, md5 []byte)) error {
	n, bad := 0, 0
	var sum [16]byte
	pbuf := make([]byte, 0, 256)
	lines(data, func(l []byte) {
		n++
		l = bytes.TrimSuffix(l, []byte("\r"))
		if len(l) < 34 || (l[32] != ' ' && l[32] != '\t') {
			bad++
			return
		}
		if _, err := hex.Decode(sum[:], l[:32]); err != nil {
			bad++
			return
		}
		rest := bytes.TrimLeft(bytes.TrimLeft(l[33:], " \t*"), "/")
		if len(rest) == 0 {
			bad++
			return
		}
		pbuf = append(append(pbuf[:0], '/'), rest...)
		fn(pbuf, sum[:])
	})
	if bad > 0 {
		return fmt.Errorf("%d of %d lines malformed", bad, n)
	}
	return nil
}

// ParseList reads an info/PKG.list file (one absolute path a line) and calls fn with each path,
// valid only during the call.
func ParseList(data []byte, fn func(p []byte)) {
	lines(data, func(l []byte) {
		if len(l) < 2 || l[0] != '/' {
			return // "/." is the first line of every list; a relative line is not a path
		}
		fn(l)
	})
}

// loadDpkg reads the dpkg database under root into ix. It returns false when there is none.
func (ix *Index) loadDpkg(root string, keep *Filter) (bool, error) {
	admin := join(root, DpkgAdmin)
	f, err := os.Open(join(admin, "/status"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return true, err
	}
	defer f.Close()
	// dpkg writes each package's change to updates/NNNN first and folds them into status now and
	// then: a stanza there replaces the status file's stanza of the same package.
	var pkgs []*dpkgPackage
	at := map[string]int{}
	add := func(p dpkgPackage) {
		k := p.Name + ":" + p.Arch
		if i, ok := at[k]; ok {
			pkgs[i] = &p
			return
		}
		at[k] = len(pkgs)
		pkgs = append(pkgs, &p)
	}
	// A package upgraded to not-installed must drop out: parse with the not-installed ones too.
	statusErr := parseStatusAll(f, add)
	if statusErr != nil {
		statusErr = fmt.Errorf("%s/status: %w", DpkgAdmin, statusErr)
	}
	updates, _ := os.ReadDir(join(admin, "/updates"))
	for _, u := range updates {
		if strings.Trim(u.Name(), "0123456789") != "" {
			continue // tmp.i and other names are not committed updates
		}
		if uf, err := os.Open(join(admin, "/updates/"+u.Name())); err == nil {
			if err := parseStatusAll(uf, add); err != nil {
				statusErr = errors.Join(statusErr, fmt.Errorf("%s/updates/%s: %w", DpkgAdmin, u.Name(), err))
			}
			uf.Close()
		}
	}
	live := pkgs[:0]
	for _, p := range pkgs {
		if !strings.HasSuffix(p.Status, " not-installed") {
			live = append(live, p)
		}
		if strings.HasSuffix(p.Status, " half-installed") {
			// dpkg is unpacking it (or an unpack failed): its files, its md5sums and its
			// Version field may each be of the old or the new version.
			if ix.unpacking == nil {
				ix.unpacking = map[string]bool{}
			}
			ix.unpacking[p.Name] = true
		}
	}
	pkgs = live
	ix.loadDiversions(admin)
	ix.loadDpkgPending(admin, keep)
	var errs []error
	buf := make([]byte, 0, 256<<10)
	for _, dp := range pkgs {
		p := &Package{Name: dp.Name, Version: dp.Version, Arch: dp.Arch, Type: TypeDeb}
		ix.pkgs++
		// Multi-Arch: same packages keep their lists as PKG:ARCH.list.
		base := dp.Name
		if dp.MultiArch == "same" && dp.Arch != "" {
			base += ":" + dp.Arch
		}
		// place says where this package's file listed as b is on disk (dpkg-divert moves it),
		// and whether the index keeps it.
		place := func(b []byte) (string, bool) {
			if d, ok := ix.div[string(b)]; ok && d.pkg != dp.Name {
				return d.to, keep.Keep([]byte(d.to))
			}
			if !keep.Keep(b) {
				return "", false
			}
			return string(b), true
		}
		conf := map[string]bool{}
		for _, c := range dp.Conffiles {
			conf[c.Path] = true
			at, ok := place([]byte(c.Path))
			if !ok {
				continue
			}
			file := File{Pkg: p, Conffile: true}
			if c.MD5 != nil {
				file.Digest, file.Algo = c.MD5, AlgoMD5
			}
			ix.put(at, file)
		}
		data, err := readInfo(admin, base, ".md5sums", buf)
		if err == nil {
			buf = data[:0]
			err = ParseMD5sums(data, func(b []byte, sum []byte) {
				if conf[string(b)] {
					return
				}
				if at, ok := place(b); ok {
					ix.put(at, File{Pkg: p, Digest: append([]byte(nil), sum...), Algo: AlgoMD5})
				}
			})
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s/info/%s.md5sums: %w", DpkgAdmin, base, err))
		}
		data, err = readInfo(admin, base, ".list", buf)
		if err == nil {
			buf = data[:0]
			ParseList(data, func(b []byte) {
				if at, ok := place(b); ok {
					if _, ok := ix.files[at]; !ok {
						ix.files[at] = File{Pkg: p} // a directory, a symlink, or a file without a sum
					}
				}
			})
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("%s/info/%s.list: %w", DpkgAdmin, base, err))
		}
	}
	ix.Sources = append(ix.Sources, fmt.Sprintf("dpkg %s/status (%d packages)", DpkgAdmin, len(pkgs)))
	if statusErr != nil {
		errs = append([]error{statusErr}, errs...)
	}
	return true, errors.Join(errs...)
}

// diversion is one line triple of dpkg's diversions file: another package's file at from is
// moved to to, so that pkg (":" for a local diversion) can put its own at from.
type diversion struct{ to, pkg string }

// loadDiversions reads admin/diversions. Without it, a diverted file would be compared with the
// md5 of the package it was diverted from.
func (ix *Index) loadDiversions(admin string) {
	data, err := os.ReadFile(join(admin, "/diversions"))
	if err != nil {
		return
	}
	var ls []string
	lines(data, func(l []byte) { ls = append(ls, string(l)) })
	for i := 0; i+2 < len(ls); i += 3 {
		if ix.div == nil {
			ix.div = map[string]diversion{}
		}
		ix.div[ls[i]] = diversion{to: ls[i+1], pkg: ls[i+2]}
	}
}

// loadDpkgPending reads the control area of a package dpkg is unpacking right now
// (info's sibling tmp.ci: the new version's control and md5sums, extracted before its files are
// renamed into place and recorded in status only after). A file the daemon sees written during an
// upgrade is judged against the version being installed, not only the one being replaced.
func (ix *Index) loadDpkgPending(admin string, keep *Filter) {
	ctl, err := os.Open(join(admin, "/tmp.ci/control"))
	if err != nil {
		return
	}
	var pend *Package
	ParseStatus(ctl, func(p dpkgPackage) {
		if pend == nil && p.Name != "" {
			pend = &Package{Name: p.Name, Version: p.Version, Arch: p.Arch, Type: TypeDeb}
		}
	})
	ctl.Close()
	if pend == nil {
		return
	}
	sums, err := os.ReadFile(join(admin, "/tmp.ci/md5sums"))
	if err != nil {
		return
	}
	ix.pending = map[string]File{}
	ParseMD5sums(sums, func(b []byte, sum []byte) {
		if keep.Keep(b) {
			ix.pending[string(b)] = File{Pkg: pend, Digest: append([]byte(nil), sum...), Algo: AlgoMD5}
		}
	})
}

// readInfo reads admin/info/base+ext into buf's storage, growing it only for a file larger than
// any before (one buffer serves every list of a load).
func readInfo(admin, base, ext string, buf []byte) ([]byte, error) {
	f, err := os.Open(join(admin, "/info/"+base+ext))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if need := int(st.Size()) + 1; cap(buf) < need {
		buf = make([]byte, 0, need+need/4)
	}
	buf = buf[:cap(buf)]
	n := 0
	for {
		m, err := f.Read(buf[n:])
		n += m
		if err == io.EOF {
			return buf[:n], nil
		}
		if err != nil {
			return nil, err
		}
		if n == len(buf) { // grew since the stat
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

// put records a file, keeping the first owner that recorded a digest (directories are listed
// by many packages; a file by one, unless diverted or shared by Multi-Arch: same packages).
func (ix *Index) put(p string, f File) {
	if old, ok := ix.files[p]; ok && len(old.Digest) > 0 {
		return
	}
	ix.files[p] = f
}

// join returns the host path of logical path p under root.
func join(root, p string) string {
	if root == "" || root == "/" {
		return p
	}
	return strings.TrimRight(root, "/") + p
}
