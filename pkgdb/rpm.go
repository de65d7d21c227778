package pkgdb

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"sort"
	"strconv"

	_ "github.com/mattn/go-sqlite3" // rpmdb.sqlite
)

// RPMDirs are where rpm keeps its database, under the root: the traditional place, and the one
// Fedora 36+ and openSUSE moved it to. (Debian's own rpm defaults to ~/.rpmdb, as it is not the
// system's package manager; rpm --root --dbpath /var/lib/rpm writes the traditional place.)
var RPMDirs = []string{"/var/lib/rpm", "/usr/lib/sysimage/rpm"}

// rpm header tags the index reads (rpmtag.h).
const (
	tagName        = 1000
	tagVersion     = 1001
	tagRelease     = 1002
	tagEpoch       = 1003
	tagArch        = 1022
	tagOldFiles    = 1027
	tagFileModes   = 1030
	tagFileDigests = 1035
	tagFileLinkTos = 1036
	tagFileFlags   = 1037
	tagDirIndexes  = 1116
	tagBaseNames   = 1117
	tagDirNames    = 1118
	tagDigestAlgo  = 5011
)

// rpm header data types.
const (
	typeInt16       = 3
	typeInt32       = 4
	typeString      = 6
	typeStringArray = 8
	typeI18NString  = 9
)

const rpmFileConfig = 1 << 0 // RPMFILE_CONFIG

// RPMHeader is the part of an rpm package header the index uses.
type RPMHeader struct {
	Name, Version, Release, Arch string
	Epoch                        int32
	HasEpoch                     bool
	Files                        []RPMFile
	Algo                         Algo
}

// RPMFile is one file of an rpm header.
type RPMFile struct {
	Path   string
	Mode   uint16
	Digest string // hex
	LinkTo string
	Flags  int32
}

// EVR renders [EPOCH:]VERSION-RELEASE.
func (h *RPMHeader) EVR() string {
	v := h.Version + "-" + h.Release
	if h.HasEpoch {
		v = strconv.Itoa(int(h.Epoch)) + ":" + v
	}
	return v
}

// maxHeaderEntries and maxHeaderData bound a header as rpm itself does (header.c).
const (
	maxHeaderEntries = 0xffff
	maxHeaderData    = 256 << 20
)

type hdrEntry struct {
	tag, typ, off, count uint32
}

// ParseRPMHeader parses an rpm header blob as rpmdb.sqlite's Packages table stores it: the entry
// count and data size (big-endian int32s), the index entries, then the data store. Every offset
// and count is checked against the blob; a malformed header is an error, never a panic.
func ParseRPMHeader(b []byte) (*RPMHeader, error) { return parseRPMHeader(b, nil) }

// parseRPMHeader is ParseRPMHeader keeping only the files keep selects: the strings of the
// others are never made.
func parseRPMHeader(b []byte, keep *Filter) (*RPMHeader, error) {
	if len(b) < 8 {
		return nil, errors.New("rpm header: shorter than 8 bytes")
	}
	il, dl := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if il == 0 || il > maxHeaderEntries || dl > maxHeaderData {
		return nil, fmt.Errorf("rpm header: %d entries, %d data bytes: out of bounds", il, dl)
	}
	if uint64(len(b)) < 8+uint64(il)*16+uint64(dl) {
		return nil, fmt.Errorf("rpm header: %d entries and %d data bytes need more than the blob's %d bytes", il, dl, len(b))
	}
	idx := b[8 : 8+il*16]
	data := b[8+il*16 : 8+il*16+dl]
	entries := make(map[uint32]hdrEntry, il)
	for i := uint32(0); i < il; i++ {
		e := idx[i*16:]
		he := hdrEntry{binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])}
		if he.off > dl {
			return nil, fmt.Errorf("rpm header: tag %d at offset %d past the %d data bytes", he.tag, he.off, dl)
		}
		entries[he.tag] = he
	}
	r := hdrReader{data: data, entries: entries}
	h := &RPMHeader{}
	h.Name = r.str(tagName)
	h.Version = r.str(tagVersion)
	h.Release = r.str(tagRelease)
	h.Arch = r.str(tagArch)
	if ep := r.int32s(tagEpoch); len(ep) > 0 {
		h.Epoch, h.HasEpoch = ep[0], true
	}
	if r.err != nil {
		return nil, r.err
	}
	if h.Name == "" {
		return nil, errors.New("rpm header: no name")
	}
	h.Algo = AlgoMD5 // rpm's default when the header names none
	if a := r.int32s(tagDigestAlgo); len(a) > 0 {
		h.Algo = rpmAlgo(a[0])
	}
	base, dirs, old := r.raw(tagBaseNames), r.raw(tagDirNames), [][]byte(nil)
	var di []int32
	if len(base) > 0 {
		di = r.int32s(tagDirIndexes)
		if r.err == nil && len(di) != len(base) {
			return nil, fmt.Errorf("rpm header %q: %d basenames, %d dir indexes", h.Name, len(base), len(di))
		}
	} else {
		old = r.raw(tagOldFiles)
	}
	modes, digests, links, flags := r.int16s(tagFileModes), r.raw(tagFileDigests), r.raw(tagFileLinkTos), r.int32s(tagFileFlags)
	if r.err != nil {
		return nil, r.err
	}
	n := len(base)
	if n == 0 {
		n = len(old)
	}
	var pbuf []byte
	for i := 0; i < n; i++ {
		if len(base) > 0 {
			if di[i] < 0 || int(di[i]) >= len(dirs) {
				return nil, fmt.Errorf("rpm header %q: dir index %d out of %d", h.Name, di[i], len(dirs))
			}
			pbuf = append(append(pbuf[:0], dirs[di[i]]...), base[i]...)
		} else {
			pbuf = append(pbuf[:0], old[i]...)
		}
		if !keep.Keep(pbuf) {
			continue
		}
		f := RPMFile{Path: path.Clean(string(pbuf))}
		if i < len(modes) {
			f.Mode = modes[i]
		}
		if i < len(digests) {
			f.Digest = string(digests[i])
		}
		if i < len(links) {
			f.LinkTo = string(links[i])
		}
		if i < len(flags) {
			f.Flags = flags[i]
		}
		h.Files = append(h.Files, f)
	}
	return h, nil
}

// rpmAlgo maps an OpenPGP hash algorithm id (rpm's PGPHASHALGO) to Algo.
func rpmAlgo(id int32) Algo {
	switch id {
	case 1:
		return AlgoMD5
	case 2:
		return AlgoSHA1
	case 8:
		return AlgoSHA256
	case 9:
		return AlgoSHA384
	case 10:
		return AlgoSHA512
	case 11:
		return AlgoSHA224
	}
	return AlgoNone
}

type hdrReader struct {
	data    []byte
	entries map[uint32]hdrEntry
	err     error
}

func (r *hdrReader) fail(tag uint32, what string) {
	if r.err == nil {
		r.err = fmt.Errorf("rpm header: tag %d: %s", tag, what)
	}
}

// raw returns a string array's elements as slices of the header, without copies.
func (r *hdrReader) raw(tag uint32) [][]byte {
	e, ok := r.entries[tag]
	if !ok {
		return nil
	}
	if e.typ != typeString && e.typ != typeStringArray && e.typ != typeI18NString {
		r.fail(tag, "not a string")
		return nil
	}
	if e.count > uint32(len(r.data)) {
		r.fail(tag, "more strings than data bytes")
		return nil
	}
	out := make([][]byte, 0, e.count)
	d := r.data[e.off:]
	for i := uint32(0); i < e.count; i++ {
		n := bytes.IndexByte(d, 0)
		if n < 0 {
			r.fail(tag, "string runs past the data")
			return nil
		}
		out = append(out, d[:n:n])
		d = d[n+1:]
	}
	return out
}

// str returns a string tag's (first) value.
func (r *hdrReader) str(tag uint32) string {
	if s := r.raw(tag); len(s) > 0 {
		return string(s[0])
	}
	return ""
}

func (r *hdrReader) fixed(tag, typ, size uint32) []byte {
	e, ok := r.entries[tag]
	if !ok {
		return nil
	}
	if e.typ != typ {
		r.fail(tag, fmt.Sprintf("type %d, want %d", e.typ, typ))
		return nil
	}
	end := uint64(e.off) + uint64(e.count)*uint64(size)
	if end > uint64(len(r.data)) {
		r.fail(tag, "runs past the data")
		return nil
	}
	return r.data[e.off:end]
}

func (r *hdrReader) int32s(tag uint32) []int32 {
	b := r.fixed(tag, typeInt32, 4)
	out := make([]int32, len(b)/4)
	for i := range out {
		out[i] = int32(binary.BigEndian.Uint32(b[i*4:]))
	}
	return out
}

func (r *hdrReader) int16s(tag uint32) []uint16 {
	b := r.fixed(tag, typeInt16, 2)
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[i*2:])
	}
	return out
}

// rpmBackend says which database format a directory holds: "sqlite", "ndb", "bdb" or "".
func rpmBackend(dir string) (string, string) {
	for _, c := range []struct{ file, backend string }{
		{"rpmdb.sqlite", "sqlite"}, {"Packages.db", "ndb"}, {"Packages", "bdb"},
	} {
		p := path.Join(dir, c.file)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return c.backend, p
		}
	}
	return "", ""
}

// loadRPM reads the first rpm database found under root into ix. It returns false when there is
// none.
func (ix *Index) loadRPM(ctx context.Context, root string, keep *Filter) (bool, error) {
	for _, d := range RPMDirs {
		backend, file := rpmBackend(join(root, d))
		if backend == "" {
			continue
		}
		logical := path.Join(d, path.Base(file))
		c := &rpmHeaders{keep: keep}
		var err error
		switch backend {
		case "sqlite":
			err = readRPMSqlite(ctx, file, c)
		case "bdb":
			err = readRPMFile(file, readRPMBDB, c)
		case "ndb":
			err = readRPMFile(file, readRPMNDB, c)
		}
		n, badErr := ix.addRPMHeaders(c)
		ix.rpmDB = logical
		err = errors.Join(err, badErr)
		if err == nil || n > 0 {
			ix.Sources = append(ix.Sources, fmt.Sprintf("rpm %s (%s, %d packages)", logical, rpmBackendNames[backend], n))
		}
		if err != nil {
			ix.Gaps = append(ix.Gaps, Gap{Path: logical, Reason: err.Error()})
		}
		return true, nil
	}
	return false, nil
}

var rpmBackendNames = map[string]string{"sqlite": "sqlite", "bdb": "Berkeley DB", "ndb": "ndb"}

// rpmHeaders collects the headers of an rpm database as its reader yields them: parsed (only the
// files keep selects), numbered, and the unreadable ones counted.
type rpmHeaders struct {
	keep     *Filter
	hdrs     []numberedHeader
	bad      int
	firstBad error
}

type numberedHeader struct {
	hnum uint32
	h    *RPMHeader
}

// add parses one header blob; blob is not kept.
func (c *rpmHeaders) add(hnum uint32, blob []byte) {
	h, err := parseRPMHeader(blob, c.keep)
	if err != nil {
		c.fail(fmt.Errorf("package %d: %w", hnum, err))
		return
	}
	c.hdrs = append(c.hdrs, numberedHeader{hnum, h})
}

// fail counts a header (or a part of the database) that could not be read.
func (c *rpmHeaders) fail(err error) {
	c.bad++
	if c.firstBad == nil {
		c.firstBad = err
	}
}

// addRPMHeaders adds the collected headers to the index in the order rpm added them to its
// database (their numbers: rpm hands them out in increasing order), and returns how many there
// were and an error naming what could not be read.
func (ix *Index) addRPMHeaders(c *rpmHeaders) (int, error) {
	sort.SliceStable(c.hdrs, func(i, j int) bool { return c.hdrs[i].hnum < c.hdrs[j].hnum })
	for _, nh := range c.hdrs {
		ix.addRPM(nh.h, c.keep)
	}
	n := len(c.hdrs)
	ix.pkgs += n
	if c.bad > 0 {
		// A reader reports a bucket chain (Berkeley DB) it cannot follow as one failure: it may
		// have held several headers.
		return n, fmt.Errorf("%d headers read, %d unreadable headers or parts of the database (first: %v)", n, c.bad, c.firstBad)
	}
	return n, nil
}

// readRPMFile reads an rpm database file in one of the formats tripline reads itself (Berkeley
// DB, ndb) with read, read-only.
func readRPMFile(file string, read func(io.ReaderAt, int64, func(uint32, []byte), func(error)) error, c *rpmHeaders) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return read(f, st.Size(), c.add, c.fail)
}

// readRPMSqlite reads every header of an rpmdb.sqlite, read-only.
func readRPMSqlite(ctx context.Context, file string, c *rpmHeaders) error {
	v := url.Values{}
	v.Set("mode", "ro")
	v.Set("_query_only", "1")
	v.Set("_busy_timeout", "5000")
	db, err := sql.Open("sqlite3", "file:"+(&url.URL{Path: file}).EscapedPath()+"?"+v.Encode())
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, "SELECT hnum, blob FROM Packages ORDER BY hnum")
	if err != nil {
		return fmt.Errorf("read Packages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var hnum int64
		var blob sql.RawBytes // valid until Next: the parse copies what it keeps
		if err := rows.Scan(&hnum, &blob); err != nil {
			return err
		}
		c.add(uint32(hnum), blob)
	}
	return rows.Err()
}

func (ix *Index) addRPM(h *RPMHeader, keep *Filter) {
	if h.Name == "gpg-pubkey" {
		return
	}
	p := &Package{Name: h.Name, Version: h.EVR(), Arch: h.Arch, Type: TypeRPM}
	for _, f := range h.Files { // kept by parseRPMHeader already
		file := File{Pkg: p, Mode: uint32(f.Mode), Target: f.LinkTo, Conffile: f.Flags&rpmFileConfig != 0}
		if f.Digest != "" && h.Algo != AlgoNone {
			if d, err := hex.DecodeString(f.Digest); err == nil {
				file.Digest, file.Algo = d, h.Algo
			}
		}
		// During an upgrade rpm commits the new header before it erases the old one: a path both
		// list is the newer's (headers are read in the order rpm added them).
		if old, ok := ix.files[f.Path]; ok && old.Pkg.Type == TypeRPM && old.Pkg.Name == p.Name {
			ix.files[f.Path] = file
			continue
		}
		ix.put(f.Path, file)
	}
}
