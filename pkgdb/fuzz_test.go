package pkgdb

import (
	"bytes"
	"github.com/tripline/tripline/internal/pkgtest"
	"io"
	"os"
	"testing"
)

// The rpm header of tripline-fx 1.0-1 as rpm 4.18 stored it in rpmdb.sqlite (one noarch package
// with /etc/cron.daily/fx, mode 0755, sha256 digests).
func realHeader(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/tripline-fx-1.0-1.header")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRPMHeader(t *testing.T) {
	h, err := ParseRPMHeader(realHeader(t))
	if err != nil {
		t.Fatal(err)
	}
	if h.Name != "tripline-fx" || h.EVR() != "1.0-1" || h.Arch != "noarch" || h.Algo != AlgoSHA256 || len(h.Files) != 1 {
		t.Fatalf("%+v", h)
	}
	f := h.Files[0]
	if f.Path != "/etc/cron.daily/fx" || f.Mode != 0o100755 || len(f.Digest) != 64 {
		t.Errorf("%+v", f)
	}
	// Every truncation is an error, never a panic.
	b := realHeader(t)
	for n := 0; n < len(b); n += 7 {
		if _, err := ParseRPMHeader(b[:n]); err == nil && n < 8 {
			t.Errorf("%d bytes parsed", n)
		}
	}
}

func FuzzParseRPMHeader(f *testing.F) {
	f.Add(realHeader(f))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 3, 232, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 1, 'x', 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseRPMHeader(b)
		if err == nil && h.Name == "" {
			t.Fatal("a header without a name parsed")
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	sample, err := os.ReadFile("testdata/status.sample")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("Package: a\nVersion: 1\nConffiles:\n /etc/a 0123456789abcdef0123456789abcdef\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStatus(bytes.NewReader(b), func(p dpkgPackage) {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("a stanza without name or version: %+v", p)
			}
		})
	})
}

func FuzzParseMD5sums(f *testing.F) {
	sample, err := os.ReadFile("testdata/sample.md5sums")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte("0123456789abcdef0123456789abcdef  /abs\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseMD5sums(b, func(p, sum []byte) {
			if len(p) < 2 || p[0] != '/' || p[1] == '/' || len(sum) != 16 {
				t.Fatalf("path %q sum %x", p, sum)
			}
		})
		ParseList(b, func(p []byte) {
			if len(p) < 2 || p[0] != '/' {
				t.Fatalf("list path %q", p)
			}
		})
	})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r *bytes.Reader
	n int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// fuzzRPMReader checks a database reader on arbitrary bytes: no panic, no blob larger than the
// file, and no byte read twice beyond the header or meta page read first (so no loop, and work
// bounded by the file's size).
func fuzzRPMReader(t *testing.T, b []byte, read func(io.ReaderAt, int64, func(uint32, []byte), func(error)) error, reread int64) {
	r := &countingReader{r: bytes.NewReader(b)}
	read(r, int64(len(b)), func(n uint32, blob []byte) {
		if len(blob) > len(b) {
			t.Fatalf("header %d: a blob of %d bytes from a file of %d", n, len(blob), len(b))
		}
		ParseRPMHeader(blob)
	}, func(error) {})
	if r.n > int64(len(b))+reread {
		t.Fatalf("read %d bytes of a %d-byte file", r.n, len(b))
	}
}

func FuzzReadBDB(f *testing.F) {
	for _, name := range []string{"le", "be"} {
		f.Add(bdbFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRPMReader(t, b, readRPMBDB, bdbMetaSize) })
}

func FuzzReadNDB(f *testing.F) {
	b, err := os.ReadFile("testdata/tripline-fx.ndb")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(pkgtest.NDBFile([]rpmBlob{{Num: 3, Blob: realHeader(f)}, {Num: 1, Blob: []byte("not a header")}}, 7))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzRPMReader(t, b, readRPMNDB, ndbHeaderSize) })
}
