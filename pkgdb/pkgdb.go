// Package pkgdb owns what the package managers say about files: it reads the dpkg database
// (status with its conffile md5sums, info/*.list and info/*.md5sums) and the rpm database of a
// root directly, without running dpkg or rpm, into an Index from path to owning package and
// recorded digest and mode. rpm's database is read in each of its formats: rpmdb.sqlite (rpm 4.16
// on), the Berkeley DB hash file Packages (older rpm: RHEL/CentOS 8 and before, Amazon Linux 2;
// bdb.go) and ndb's Packages.db (openSUSE; ndb.go), all through our own readers and one header
// parser (rpm.go). Verify compares an observed baseline.Entry with that record. Merged-/usr roots
// (/lib a symlink to usr/lib...) are handled: a path is found under either spelling.
//
// What is not read is said, never guessed: a database that cannot be read (or headers in it that
// cannot) is a Gap, and its paths get no package at all rather than "unowned". dpkg records
// neither modes nor symlink targets, and no digest for directories: those compare as no-digest.
//
// Both package managers put an upgrade's files in place before they record its version: the
// Index reads dpkg's control area of the package being unpacked (tmp.ci), and VerifyBy the header
// of the package file an rpm transaction writing this root's database has open (inflight.go).
//
// An Index is immutable after Load and safe for concurrent use. Cache reloads it only when the
// package database files change (their size, mtime, ctime and inode).
package pkgdb

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"github.com/tripline/tripline/baseline"
)

// Type is a package format, as ECS package.type spells it.
const (
	TypeDeb = "deb"
	TypeRPM = "rpm"
)

// Algo is the digest algorithm a package database recorded for a file.
type Algo uint8

// Digest algorithms (rpm records one per package; dpkg always md5).
const (
	AlgoNone Algo = iota
	AlgoMD5
	AlgoSHA1
	AlgoSHA224
	AlgoSHA256
	AlgoSHA384
	AlgoSHA512
)

func (a Algo) String() string {
	switch a {
	case AlgoMD5:
		return "md5"
	case AlgoSHA1:
		return "sha1"
	case AlgoSHA224:
		return "sha224"
	case AlgoSHA256:
		return "sha256"
	case AlgoSHA384:
		return "sha384"
	case AlgoSHA512:
		return "sha512"
	}
	return "none"
}

// New returns a hash for the algorithm; nil for AlgoNone.
func (a Algo) New() hash.Hash {
	switch a {
	case AlgoMD5:
		return md5.New()
	case AlgoSHA1:
		return sha1.New()
	case AlgoSHA224:
		return sha256.New224()
	case AlgoSHA256:
		return sha256.New()
	case AlgoSHA384:
		return sha512.New384()
	case AlgoSHA512:
		return sha512.New()
	}
	return nil
}

// Package is one installed package.
type Package struct {
	Name    string
	Version string // dpkg: the Version field; rpm: [EPOCH:]VERSION-RELEASE
	Arch    string
	Type    string // TypeDeb or TypeRPM
}

// File is what a package database recorded for one path.
type File struct {
	Pkg      *Package
	Digest   []byte // raw digest; empty when none was recorded
	Algo     Algo
	Mode     uint32 // type and permission bits as st_mode (rpm); 0 when not recorded (dpkg)
	Target   string // symlink target (rpm)
	Conffile bool
}

// Gap is a package database that exists but could not be read: its files get no package.
type Gap struct {
	Path   string // the database file, as a logical path under the root
	Reason string
}

func (g Gap) String() string { return g.Path + ": " + g.Reason }

// Index maps the paths of a root to their packages.
type Index struct {
	root  string
	files map[string]File
	// pending are the files of a package dpkg is unpacking now (see loadDpkgPending).
	pending map[string]File
	// unpacking names the dpkg packages whose status is half-installed.
	unpacking map[string]bool
	div       map[string]diversion // dpkg's diversions, by the diverted path
	rpmDB     string               // the rpm database file read, as a logical path; "" when none
	keep      *Filter              // the paths kept (Options.Keep)
	inflight  *inflight            // the package files rpm transactions were seen installing
	cache     *Cache               // the Cache that loaded the index; nil for Load
	stamp     string               // the database files' stamp when the Cache loaded it
	pkgs      int
	merged    []string // merged-/usr directories of the root: "/bin", "/lib"...
	// Gaps are the package databases found but not read.
	Gaps []Gap
	// Sources names the databases read ("dpkg /var/lib/dpkg/status", "rpm /var/lib/rpm/rpmdb.sqlite").
	Sources []string
}

// Root returns the root directory the index was read from.
func (ix *Index) Root() string { return ix.root }

// Packages returns the number of installed packages read.
func (ix *Index) Packages() int { return ix.pkgs }

// Files returns the number of paths indexed.
func (ix *Index) Files() int { return len(ix.files) }

// Empty reports whether no package database was read: then no path can be called unowned.
func (ix *Index) Empty() bool { return ix == nil || len(ix.Sources) == 0 }

// Complete reports whether every package database found was read, so a path no package lists is
// truly unowned.
func (ix *Index) Complete() bool { return !ix.Empty() && len(ix.Gaps) == 0 }

// Lookup returns the record of a logical path, trying its merged-/usr alias ("/lib/x" for
// "/usr/lib/x" and the reverse) when the root is merged.
func (ix *Index) Lookup(p string) (File, bool) {
	if ix == nil {
		return File{}, false
	}
	return ix.lookupIn(ix.files, p)
}

func (ix *Index) lookupIn(m map[string]File, p string) (File, bool) {
	if f, ok := m[p]; ok {
		return f, true
	}
	if a := ix.alias(p); a != "" {
		f, ok := m[a]
		return f, ok
	}
	return File{}, false
}

// alias returns the other spelling of p under a merged /usr, or "".
func (ix *Index) alias(p string) string {
	for _, d := range ix.merged {
		if strings.HasPrefix(p, "/usr"+d+"/") {
			return p[len("/usr"):]
		}
		if strings.HasPrefix(p, d+"/") {
			return "/usr" + p
		}
	}
	return ""
}

// Reader gives the bytes of an observed file, for the digests the walk did not compute (dpkg's
// md5). It must return the content of the very inode e describes, or an error.
type Reader func(e *baseline.Entry) ([]byte, error)

// Verify says what the index knows of an observed entry: its package and whether it is as the
// package recorded it. It returns nil when the index cannot tell (no database was read, or one
// could not be read and no other lists the path). read is called only for a regular file whose
// package recorded a digest other than the sha256 the entry already has.
func (ix *Index) Verify(e *baseline.Entry, read Reader) *baseline.Package {
	if ix.Empty() {
		return nil
	}
	// The version being unpacked first: during an upgrade its files are renamed into place
	// before dpkg records the new version.
	pf, pending := ix.lookupIn(ix.pending, e.Path)
	if pending {
		if pp := verify(&pf, e, read); pp.State == baseline.PkgVerified {
			return pp
		}
	}
	f, ok := ix.Lookup(e.Path)
	switch {
	case !ok && pending:
		return verify(&pf, e, read) // a new file of the package being unpacked
	case !ok && !ix.Complete():
		return nil
	case !ok:
		return &baseline.Package{State: baseline.PkgUnowned}
	case ix.unpacking[f.Pkg.Name] && f.Pkg.Type == TypeDeb:
		return &baseline.Package{Name: f.Pkg.Name, Version: f.Pkg.Version, Type: f.Pkg.Type, State: baseline.PkgNoDigest,
			Detail: "being unpacked by dpkg (half-installed): compared once dpkg records the version it installs"}
	}
	return verify(&f, e, read)
}

func verify(f *File, e *baseline.Entry, read Reader) *baseline.Package {
	p := &baseline.Package{Name: f.Pkg.Name, Version: f.Pkg.Version, Type: f.Pkg.Type}
	p.State, p.Detail = f.compare(e, read)
	return p
}

// file types of st_mode, as rpm records them.
const (
	sIFMT  = 0o170000
	sIFREG = 0o100000
	sIFDIR = 0o040000
	sIFLNK = 0o120000
)

func (f *File) compare(e *baseline.Entry, read Reader) (baseline.PackageState, string) {
	modified := baseline.PkgModified
	if f.Conffile {
		modified = baseline.PkgConffileModified
	}
	if f.Mode != 0 {
		want := typeOf(f.Mode)
		if want != "" && want != e.Type {
			return modified, fmt.Sprintf("a %s where %s recorded a %s", e.Type, pq(f.Pkg), want)
		}
		if e.Type != baseline.TypeSymlink && f.Mode&baseline.ModePerm != e.Mode&baseline.ModePerm {
			return modified, fmt.Sprintf("mode %s, %s recorded %s", baseline.ModeString(e.Mode), pq(f.Pkg), baseline.ModeString(f.Mode))
		}
	}
	switch e.Type {
	case baseline.TypeSymlink:
		if f.Target == "" {
			return baseline.PkgNoDigest, f.Pkg.Type + " records no symlink target"
		}
		if f.Target != e.Target {
			return modified, fmt.Sprintf("target %s, %s recorded %s", baseline.QuotePath(e.Target), pq(f.Pkg), baseline.QuotePath(f.Target))
		}
		return baseline.PkgVerified, ""
	case baseline.TypeFile:
	default:
		if f.Mode != 0 {
			return baseline.PkgVerified, ""
		}
		return baseline.PkgNoDigest, fmt.Sprintf("%s records no digest or mode for a %s", f.Pkg.Type, e.Type)
	}
	if len(f.Digest) == 0 || f.Algo == AlgoNone {
		return baseline.PkgNoDigest, f.Pkg.Type + " records no digest for this file"
	}
	if e.HashState != baseline.HashOK {
		return baseline.PkgNoDigest, "not hashed (" + string(e.HashState) + ")"
	}
	var got []byte
	if f.Algo == AlgoSHA256 {
		got, _ = hex.DecodeString(e.SHA256)
	} else {
		if read == nil {
			return baseline.PkgNoDigest, "the " + f.Algo.String() + " digest was not computed"
		}
		data, err := read(e)
		if err != nil {
			return baseline.PkgNoDigest, fmt.Sprintf("the %s digest could not be computed: %v", f.Algo, err)
		}
		h := f.Algo.New()
		h.Write(data)
		got = h.Sum(nil)
	}
	if string(got) != string(f.Digest) {
		return modified, fmt.Sprintf("%s %s, %s recorded %s", f.Algo, shortHex(got), pq(f.Pkg), shortHex(f.Digest))
	}
	return baseline.PkgVerified, ""
}

// pq is "NAME VERSION" made safe for a terminal: the package database is the scanned image's.
func pq(p *Package) string { return baseline.QuoteLine(p.Name) + " " + baseline.QuoteLine(p.Version) }

func shortHex(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func typeOf(mode uint32) baseline.Type {
	switch mode & sIFMT {
	case sIFREG:
		return baseline.TypeFile
	case sIFDIR:
		return baseline.TypeDir
	case sIFLNK:
		return baseline.TypeSymlink
	}
	return ""
}

// ContentReader is the Reader of files under root: baseline.ReadContent, which returns the bytes
// only when they are still the inode and sha256 the entry recorded. It is a second read of the
// file, made only for a package-owned regular file whose package recorded a digest other than
// sha256 (dpkg's md5), when the file is in a location.
func ContentReader(root string) Reader {
	return func(e *baseline.Entry) ([]byte, error) {
		return baseline.ReadContent(root, e.Path, e, baseline.DefaultMaxHashBytes)
	}
}

// NeedsContent reports whether Verify would read e's content: a regular file whose package
// recorded a digest other than sha256 (dpkg's md5).
func (ix *Index) NeedsContent(e *baseline.Entry) bool {
	if ix.Empty() || e.Type != baseline.TypeFile {
		return false
	}
	f, ok := ix.Lookup(e.Path)
	if !ok {
		f, ok = ix.lookupIn(ix.pending, e.Path)
	}
	return ok && len(f.Digest) > 0 && f.Algo != AlgoSHA256
}

// pendingPkg names the package of the pending files ("" when none).
func (ix *Index) pendingPkg() string {
	for _, f := range ix.pending {
		return f.Pkg.Name
	}
	return ""
}
