package pkgdb

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/internal/pkgtest"
)

// The rpm databases these tests read are written by internal/pkgtest: Berkeley DB files by the
// real Berkeley DB (db5.3_load) from header blobs the real rpm wrote, cross-checked with rpm's own
// bdb_ro reader; ndb files from the format's specification (Debian has no ndb writer).

type rpmBlob = pkgtest.RPMBlob

// readBlobs reads every header blob of an rpm database file with read, by number.
func readBlobs(t testing.TB, read func(r io.ReaderAt, size int64, fn func(uint32, []byte), bad func(error)) error, b []byte) (map[uint32][]byte, []error) {
	t.Helper()
	got := map[uint32][]byte{}
	var bad []error
	err := read(bytes.NewReader(b), int64(len(b)), func(n uint32, blob []byte) {
		if _, dup := got[n]; dup {
			t.Errorf("header %d yielded twice", n)
		}
		got[n] = bytes.Clone(blob)
	}, func(err error) { bad = append(bad, err) })
	if err != nil {
		bad = append(bad, err)
	}
	return got, bad
}

// realRPMBlobs installs the fixture package and a package of 400 files (a header spanning many
// Berkeley DB overflow pages) into an rpmdb.sqlite with the real rpm, and returns their blobs.
func realRPMBlobs(t *testing.T) []rpmBlob {
	pkgtest.Need(t, "rpm", "rpmbuild")
	root := t.TempDir()
	big := pkgtest.Spec{Name: "tripline-big", Version: "2.5", Files: map[string]pkgtest.File{}}
	for i := 0; i < 400; i++ {
		big.Files[fmt.Sprintf("/usr/share/tripline-big/some/deeper/directory/file-number-%03d.txt", i)] = pkgtest.File{Content: fmt.Sprintf("file %d\n", i), Mode: 0o644}
	}
	pkgtest.InstallRPM(t, root, pkgtest.BuildRPM(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
	pkgtest.InstallRPM(t, root, pkgtest.BuildRPM(t, big))
	blobs := pkgtest.SQLiteBlobs(t, filepath.Join(root, pkgtest.RPMDBPath, "rpmdb.sqlite"))
	if len(blobs) != 2 || len(blobs[1].Blob) < 8*4096 {
		t.Fatalf("%d blobs (the second of %d bytes): want 2, the second over 32 KiB", len(blobs), len(blobs[len(blobs)-1].Blob))
	}
	return blobs
}

// rpmQA lists name-version-release of the packages rpm's own read-only Berkeley DB backend
// (bdb_ro) reads from dir/Packages.
func rpmQA(t *testing.T, dir string) []string {
	t.Helper()
	out, err := exec.Command("rpm", "--dbpath", dir, "--define", "_db_backend bdb_ro", "-qa", "--qf", "%{NAME}-%{VERSION}-%{RELEASE}\n").Output()
	if err != nil {
		t.Fatalf("rpm -qa (bdb_ro): %v", err)
	}
	lines := strings.Fields(string(out))
	sort.Strings(lines)
	return lines
}

// TestRPMBerkeleyDBReal reads Berkeley DB Packages files that the real Berkeley DB wrote from the
// header blobs the real rpm wrote, in both byte orders and three page sizes, and checks them
// against the blobs, against rpm's own bdb_ro reader, and through the whole index.
func TestRPMBerkeleyDBReal(t *testing.T) {
	pkgtest.Need(t, "db5.3_load")
	real := realRPMBlobs(t)
	// 300 headers (the two real blobs under many numbers): many buckets, and buckets that
	// overflow onto further hash pages.
	var blobs []rpmBlob
	for i := 0; i < 300; i++ {
		blobs = append(blobs, rpmBlob{Num: uint32(i + 1), Blob: real[i%2].Blob})
	}
	for _, c := range []struct{ lorder, pageSize int }{{1234, 4096}, {4321, 4096}, {1234, 512}, {4321, 65536}} {
		t.Run(fmt.Sprintf("lorder%d-page%d", c.lorder, c.pageSize), func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "Packages")
			pkgtest.WriteBDB(t, file, c.lorder, c.pageSize, blobs)
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, bad := readBlobs(t, readRPMBDB, b)
			if len(bad) > 0 || len(got) != len(blobs) {
				t.Fatalf("%d headers read, %d errors (%v): want %d, none", len(got), len(bad), bad, len(blobs))
			}
			for _, w := range blobs {
				if !bytes.Equal(got[w.Num], w.Blob) {
					t.Fatalf("header %d: %d bytes differ from the %d rpm wrote", w.Num, len(got[w.Num]), len(w.Blob))
				}
			}
			// rpm's own reader lists the same packages.
			var ours []string
			c := &rpmHeaders{}
			if err := readRPMFile(file, readRPMBDB, c); err != nil || c.bad > 0 {
				t.Fatalf("%v, %d bad (%v)", err, c.bad, c.firstBad)
			}
			for _, h := range c.hdrs {
				ours = append(ours, h.h.Name+"-"+h.h.Version+"-"+h.h.Release)
			}
			sort.Strings(ours)
			if theirs := rpmQA(t, dir); strings.Join(theirs, ",") != strings.Join(ours, ",") {
				t.Errorf("rpm -qa (bdb_ro) lists %d packages, we %d: %v vs %v", len(theirs), len(ours), theirs[:min(4, len(theirs))], ours[:min(4, len(ours))])
			}
		})
	}
	// Through the whole index: the acceptance checks of the sqlite database, on a root whose
	// rpm database is a Berkeley DB Packages (both byte orders).
	for _, format := range []string{"bdb-le", "bdb-be"} {
		t.Run("index-"+format, func(t *testing.T) {
			root := mergedRoot(t)
			pkgtest.InstallRPM(t, root, pkgtest.BuildRPM(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
			pkgtest.ConvertRPMDB(t, root, format)
			checkReal(t, root, TypeRPM, "1.0-1")
			ix, _ := Load(context.Background(), root, Options{})
			if s := ix.Summary(); !strings.Contains(s, "rpm /var/lib/rpm/Packages (Berkeley DB, 1 packages)") {
				t.Errorf("summary %q does not name the Berkeley DB read", s)
			}
		})
	}
}

// TestRPMNDB reads ndb Packages.db files written from the format's specification (no ndb writer
// exists on Debian): the real header blobs come back byte for byte, and a root with its rpm
// database in ndb, where openSUSE keeps it, passes the acceptance checks of the sqlite one.
func TestRPMNDB(t *testing.T) {
	real := realRPMBlobs(t)
	// Numbers out of order and with gaps, as after erasures; more than a slot page holds.
	var blobs []rpmBlob
	for i := 0; i < 300; i++ {
		blobs = append(blobs, rpmBlob{Num: uint32(1000 - 3*i), Blob: real[i%2].Blob})
	}
	b := pkgtest.NDBFile(blobs, 1765000000)
	got, bad := readBlobs(t, readRPMNDB, b)
	if len(bad) > 0 || len(got) != len(blobs) {
		t.Fatalf("%d headers read, %d errors (%v): want %d, none", len(got), len(bad), bad, len(blobs))
	}
	for _, w := range blobs {
		if !bytes.Equal(got[w.Num], w.Blob) {
			t.Fatalf("header %d differs", w.Num)
		}
	}
	// In the order of their numbers.
	var order []uint32
	if err := readRPMNDB(bytes.NewReader(b), int64(len(b)), func(n uint32, _ []byte) { order = append(order, n) }, func(err error) { t.Error(err) }); err != nil {
		t.Fatal(err)
	}
	if !sort.SliceIsSorted(order, func(i, j int) bool { return order[i] < order[j] }) {
		t.Errorf("headers not yielded in the order of their numbers: %v", order[:5])
	}

	root := mergedRoot(t)
	pkgtest.InstallRPM(t, root, pkgtest.BuildRPM(t, fixture("1.0", "#!/bin/sh\necho 1\n")))
	pkgtest.ConvertRPMDB(t, root, "ndb")
	checkReal(t, root, TypeRPM, "1.0-1")
	ix, _ := Load(context.Background(), root, Options{})
	if s := ix.Summary(); !strings.Contains(s, "rpm /usr/lib/sysimage/rpm/Packages.db (ndb, 1 packages)") {
		t.Errorf("summary %q does not name the ndb read", s)
	}
}

// The committed ndb fixture (a seed of FuzzReadNDB) is what writeNDB makes of the committed real
// header: it was built once that way, and this keeps it so.
func TestNDBFixture(t *testing.T) {
	want := pkgtest.NDBFile([]rpmBlob{{Num: 1, Blob: realHeader(t)}}, 1765000000)
	b, err := os.ReadFile("testdata/tripline-fx.ndb")
	if os.Getenv("TRIPLINE_WRITE_FIXTURES") == "1" {
		if err := os.WriteFile("testdata/tripline-fx.ndb", want, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			lorder int
		}{{"le", 1234}, {"be", 4321}} {
			pkgtest.WriteBDB(t, "testdata/tripline-fx.bdb-"+c.name, c.lorder, 512, []rpmBlob{{Num: 1, Blob: realHeader(t)}})
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("testdata/tripline-fx.ndb differs from what ndbFile writes now (TRIPLINE_WRITE_FIXTURES=1 rewrites it)")
	}
	got, bad := readBlobs(t, readRPMNDB, b)
	if len(bad) > 0 || !bytes.Equal(got[1], realHeader(t)) {
		t.Fatalf("%v", bad)
	}
}

// The committed Berkeley DB fixtures were written by db5.3_load (512-byte pages, both byte
// orders) from the committed real header, as rpm would store it under number 1.
func TestBDBFixtures(t *testing.T) {
	for _, f := range []string{"testdata/tripline-fx.bdb-le", "testdata/tripline-fx.bdb-be"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, bad := readBlobs(t, readRPMBDB, b)
		if len(bad) > 0 || len(got) != 1 || !bytes.Equal(got[1], realHeader(t)) {
			t.Errorf("%s: %d headers, errors %v", f, len(got), bad)
		}
	}
}

func bdbFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/tripline-fx.bdb-" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Corrupt Berkeley DB files: each is one clear error or a skipped item, never a panic or a
// hang, and what is intact is still read.
func TestBDBCorrupt(t *testing.T) {
	for _, name := range []string{"le", "be"} {
		good := bdbFixture(t, name)
		var o binary.ByteOrder = binary.LittleEndian
		if name == "be" {
			o = binary.BigEndian
		}
		ps := int(o.Uint32(good[20:]))
		pageOf := func(b []byte, typ byte) int { // the first page of a type
			for p := 1; p*ps < len(b); p++ {
				if b[p*ps+25] == typ {
					return p
				}
			}
			t.Fatalf("%s: no page of type %d", name, typ)
			return 0
		}
		ov, hp := pageOf(good, bdbPageOverflow), pageOf(good, bdbPageHash)
		for _, c := range []struct {
			name   string
			mutate func(b []byte) []byte
			want   string
		}{
			{"truncated meta", func(b []byte) []byte { return b[:300] }, "shorter than a meta page"},
			{"not a hash", func(b []byte) []byte { o.PutUint32(b[12:], 0x053162); return b }, "btree"},
			{"no magic", func(b []byte) []byte { o.PutUint32(b[12:], 7); return b }, "no hash magic"},
			{"page size", func(b []byte) []byte { o.PutUint32(b[20:], 1000); return b }, "page size 1000"},
			{"checksums", func(b []byte) []byte { b[26] |= bdbMetaChksum; return b }, "checksums"},
			{"buckets past the file", func(b []byte) []byte { o.PutUint32(b[72:], 1<<30); return b }, "buckets in a file of"},
			{"truncated pages", func(b []byte) []byte { return b[:len(b)-ps] }, "outside the file's pages"},
			{"overflow loop", func(b []byte) []byte { o.PutUint32(b[ov*ps+16:], uint32(ov)); return b }, "reached twice (a loop)"},
			{"overflow length", func(b []byte) []byte { o.PutUint16(b[ov*ps+22:], uint16(ps)); return b }, "overflow page"},
			{"hash chain loop", func(b []byte) []byte { o.PutUint32(b[hp*ps+16:], uint32(hp)); return b }, "reached twice (a loop)"},
			{"hash entries", func(b []byte) []byte { o.PutUint16(b[hp*ps+20:], 0xffff); return b }, "entries"},
			{"item offsets", func(b []byte) []byte { o.PutUint16(b[hp*ps+26:], 3); return b }, "outside"},
			{"wrong page number", func(b []byte) []byte { o.PutUint32(b[ov*ps+8:], 12345); return b }, "says it is page 12345"},
			{"page number zeroed", func(b []byte) []byte { o.PutUint32(b[hp*ps+8:], 0); return b }, "says it is page 0"},
		} {
			b := c.mutate(bytes.Clone(good))
			_, bad := readBlobs(t, readRPMBDB, b)
			if len(bad) == 0 || !strings.Contains(fmt.Sprint(bad), c.want) {
				t.Errorf("%s, %s: errors %v, want one saying %q", name, c.name, bad, c.want)
			}
		}
	}
}

// Hash version 8 (Berkeley DB 4.5 and older, RHEL 5's and SLES 11's rpm) differs from 9 in the
// type of its hash pages (P_HASH_UNSORTED). No writer of it is at hand, so a version 9 file is
// rewritten into one: the meta page's version and every hash page's type.
func TestBDBHashVersion8(t *testing.T) {
	for _, name := range []string{"le", "be"} {
		b := bdbFixture(t, name)
		var o binary.ByteOrder = binary.LittleEndian
		if name == "be" {
			o = binary.BigEndian
		}
		ps := int(o.Uint32(b[20:]))
		o.PutUint32(b[16:], 8)
		n := 0
		for p := 1; p*ps < len(b); p++ {
			if b[p*ps+25] == bdbPageHash {
				b[p*ps+25] = bdbPageHashUnsorted
				n++
			}
		}
		got, bad := readBlobs(t, readRPMBDB, b)
		if n == 0 || len(bad) > 0 || !bytes.Equal(got[1], realHeader(t)) {
			t.Errorf("%s: %d hash pages rewritten; %d headers read, errors %v", name, n, len(got), bad)
		}
	}
}

// A bucket page that was never written (all zeros) is an empty bucket, as Berkeley DB reads it:
// no error, and the overflow pages nothing points to any more are not read.
func TestBDBNeverWrittenPage(t *testing.T) {
	b := bdbFixture(t, "le")
	ps := int(binary.LittleEndian.Uint32(b[20:]))
	for p := 1; p*ps < len(b); p++ {
		if b[p*ps+25] == bdbPageHash {
			clear(b[p*ps : (p+1)*ps])
		}
	}
	if got, bad := readBlobs(t, readRPMBDB, b); len(got) != 0 || len(bad) != 0 {
		t.Errorf("%d headers, errors %v: want none, none", len(got), bad)
	}
}

// Corrupt ndb files, likewise; a blob that fails its checksum costs only its own package.
func TestNDBCorrupt(t *testing.T) {
	hdr := realHeader(t)
	good := pkgtest.NDBFile([]rpmBlob{{Num: 1, Blob: hdr}, {Num: 2, Blob: hdr}}, 1)
	le := binary.LittleEndian
	second := ndbPageSize + (ndbBlobHeadLen+len(hdr)+ndbBlobTailLen+15)/16*16 // offset of blob 2
	for _, c := range []struct {
		name   string
		mutate func(b []byte) []byte
		want   string
		read   int // headers still read
	}{
		{"short", func(b []byte) []byte { return b[:100] }, "shorter than a slot page", 0},
		{"not blocks", func(b []byte) []byte { return b[:len(b)-3] }, "whole 16-byte blocks", 0},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, `no "RpmP"`, 0},
		{"slot pages", func(b []byte) []byte { le.PutUint32(b[12:], 1<<20); return b }, "slot pages in a file", 0},
		{"slot magic", func(b []byte) []byte { b[ndbPageSize-16] = 0; return b }, `no "Slot" magic`, 0},
		{"blob past the end", func(b []byte) []byte { le.PutUint32(b[ndbHeaderSize+12:], 1<<30); return b }, "outside blocks", 0},
		{"blob in the slots", func(b []byte) []byte { le.PutUint32(b[ndbHeaderSize+8:], 2); return b }, "outside blocks", 0},
		{"overlap", func(b []byte) []byte { le.PutUint32(b[ndbHeaderSize+12:], le.Uint32(b[ndbHeaderSize+12:])+1); return b }, "overlap", 0},
		{"checksum", func(b []byte) []byte { b[ndbPageSize+100]++; return b }, "checksum", 1},
		{"head", func(b []byte) []byte { le.PutUint32(b[second+4:], 9); return b }, "says it is package 9", 1},
		{"length", func(b []byte) []byte { le.PutUint32(b[second+12:], 1<<31); return b }, "blocks", 1},
	} {
		got, bad := readBlobs(t, readRPMNDB, c.mutate(bytes.Clone(good)))
		if len(bad) == 0 || !strings.Contains(fmt.Sprint(bad), c.want) || len(got) != c.read {
			t.Errorf("%s: %d read, errors %v; want %d read and an error saying %q", c.name, len(got), bad, c.read, c.want)
		}
	}
}

// A corrupt Berkeley DB or ndb database is a gap naming what is wrong: its files get no
// package, and nothing is called unowned.
func TestRPMBackendGap(t *testing.T) {
	for _, c := range []struct{ file, want string }{{"Packages", "no hash magic"}, {"Packages.db", `no "RpmP" magic`}} {
		root := t.TempDir()
		dir := filepath.Join(root, "var/lib/rpm")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), bytes.Repeat([]byte("not read"), 1024), 0o644); err != nil {
			t.Fatal(err)
		}
		ix, err := Load(context.Background(), root, Options{})
		if err != nil || len(ix.Gaps) != 1 || !strings.Contains(ix.Summary(), c.want) || !ix.Empty() {
			t.Errorf("%s: %s (%v), want one gap saying %q", c.file, ix.Summary(), err, c.want)
		}
		if p := ix.Verify(&baseline.Entry{Path: "/etc/x", Type: baseline.TypeFile}, nil); p != nil {
			t.Errorf("%s: %+v, want nil (a gap, not unowned)", c.file, p)
		}
	}
}

// The cache reloads when an ndb or Berkeley DB database changes, and only then.
func TestCacheReloadRPMFormats(t *testing.T) {
	hdr := realHeader(t)
	other := rpmHeader("pkg-other", "2.0", []string{"/etc/cron.daily/other"})
	for _, c := range []struct {
		name  string
		write func(t *testing.T, root string, blobs []rpmBlob)
	}{
		{"ndb", func(t *testing.T, root string, blobs []rpmBlob) {
			pkgtest.WriteNDB(t, filepath.Join(root, "usr/lib/sysimage/rpm/Packages.db"), blobs)
		}},
		{"bdb", func(t *testing.T, root string, blobs []rpmBlob) {
			pkgtest.WriteBDB(t, filepath.Join(root, "var/lib/rpm/Packages"), 1234, 4096, blobs)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			c.write(t, root, []rpmBlob{{Num: 1, Blob: hdr}})
			cache := NewCache(root, Options{})
			ctx := context.Background()
			ix1, err := cache.Index(ctx)
			if err != nil || ix1.Packages() != 1 {
				t.Fatalf("%s: %v", ix1.Summary(), err)
			}
			if ix2, _ := cache.Index(ctx); ix2 != ix1 || cache.Loads() != 1 {
				t.Fatalf("unchanged database reloaded (%d loads)", cache.Loads())
			}
			c.write(t, root, []rpmBlob{{Num: 1, Blob: hdr}, {Num: 2, Blob: other}})
			ix3, err := cache.Index(ctx)
			if err != nil || ix3 == ix1 || cache.Loads() != 2 || ix3.Packages() != 2 {
				t.Fatalf("changed database: %d loads, %d packages (%v)", cache.Loads(), ix3.Packages(), err)
			}
			if f, ok := ix3.Lookup("/etc/cron.daily/other"); !ok || f.Pkg.Version != "2.0-1.el9" {
				t.Errorf("the new package's file: %+v", f)
			}
		})
	}
}

// A database with one header that cannot be read: the others are indexed, and the gap counts
// what was read and what not.
func TestRPMPartlyReadable(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "usr/lib/sysimage/rpm/Packages.db")
	pkgtest.WriteNDB(t, file, []rpmBlob{{Num: 1, Blob: realHeader(t)}, {Num: 2, Blob: rpmHeader("pkg-two", "2.0", []string{"/etc/cron.daily/two"})}})
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	b[ndbPageSize+100]++ // inside the first blob: its checksum fails
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	ix, err := Load(context.Background(), root, Options{})
	if err != nil || ix.Packages() != 1 || len(ix.Gaps) != 1 || !strings.Contains(ix.Gaps[0].Reason, "1 headers read, 1 unreadable") ||
		!strings.Contains(ix.Gaps[0].Reason, "package 1 at block 256: checksum") {
		t.Fatalf("%s (%v)", ix.Summary(), err)
	}
	if f, ok := ix.Lookup("/etc/cron.daily/two"); !ok || f.Pkg.Name != "pkg-two" {
		t.Errorf("the readable header's file: %+v", f)
	}
	t.Log(ix.Summary())
}
