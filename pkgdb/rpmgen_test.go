package pkgdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// headerBuilder writes rpm header blobs as rpmdb.sqlite stores them, for generated databases.
type headerBuilder struct {
	index, data bytes.Buffer
	n           int
}

func (h *headerBuilder) add(tag, typ uint32, count int, payload []byte, align int) {
	for align > 1 && h.data.Len()%align != 0 {
		h.data.WriteByte(0)
	}
	var e [16]byte
	binary.BigEndian.PutUint32(e[0:], tag)
	binary.BigEndian.PutUint32(e[4:], typ)
	binary.BigEndian.PutUint32(e[8:], uint32(h.data.Len()))
	binary.BigEndian.PutUint32(e[12:], uint32(count))
	h.index.Write(e[:])
	h.data.Write(payload)
	h.n++
}

func (h *headerBuilder) strings(tag, typ uint32, ss ...string) {
	var b bytes.Buffer
	for _, s := range ss {
		b.WriteString(s)
		b.WriteByte(0)
	}
	h.add(tag, typ, len(ss), b.Bytes(), 1)
}

func (h *headerBuilder) int32s(tag uint32, vs ...int32) {
	b := make([]byte, 4*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint32(b[i*4:], uint32(v))
	}
	h.add(tag, typeInt32, len(vs), b, 4)
}

func (h *headerBuilder) int16s(tag uint32, vs ...uint16) {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		binary.BigEndian.PutUint16(b[i*2:], v)
	}
	h.add(tag, typeInt16, len(vs), b, 2)
}

func (h *headerBuilder) bytes() []byte {
	var out bytes.Buffer
	binary.Write(&out, binary.BigEndian, uint32(h.n))
	binary.Write(&out, binary.BigEndian, uint32(h.data.Len()))
	out.Write(h.index.Bytes())
	out.Write(h.data.Bytes())
	return out.Bytes()
}

// rpmHeader builds the header of a package with the given files (mode 0100755, sha256 digests).
func rpmHeader(name, version string, files []string) []byte {
	var h headerBuilder
	h.strings(tagName, typeString, name)
	h.strings(tagVersion, typeString, version)
	h.strings(tagRelease, typeString, "1.el9")
	h.strings(tagArch, typeString, "x86_64")
	var dirs, bases, digests []string
	var idx []int32
	var modes []uint16
	var flags []int32
	at := map[string]int32{}
	for _, f := range files {
		d := path.Dir(f) + "/"
		i, ok := at[d]
		if !ok {
			i = int32(len(dirs))
			at[d] = i
			dirs = append(dirs, d)
		}
		idx = append(idx, i)
		bases = append(bases, path.Base(f))
		digests = append(digests, fmt.Sprintf("%x", sha256.Sum256([]byte(f))))
		modes = append(modes, 0o100755)
		flags = append(flags, 0)
	}
	h.int16s(tagFileModes, modes...)
	h.strings(tagFileDigests, typeStringArray, digests...)
	h.int32s(tagFileFlags, flags...)
	h.int32s(tagDirIndexes, idx...)
	h.strings(tagBaseNames, typeStringArray, bases...)
	h.strings(tagDirNames, typeStringArray, dirs...)
	h.int32s(tagDigestAlgo, 8)
	return h.bytes()
}

// genRPMBlobs returns the headers of n packages with files files each, shaped like writeDpkg's,
// numbered from 1.
func genRPMBlobs(n, files int) []rpmBlob {
	var out []rpmBlob
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("pkg%04d", i)
		var fs []string
		for j := 0; j < files; j++ {
			switch {
			case j == 0:
				fs = append(fs, "/etc/cron.daily/"+name)
			case j == 1:
				fs = append(fs, "/usr/lib/systemd/system-generators/"+name)
			case j%3 == 0:
				fs = append(fs, fmt.Sprintf("/usr/lib64/%s/module%d.so", name, j))
			case j%3 == 1:
				fs = append(fs, fmt.Sprintf("/usr/share/doc/%s/file%d.txt", name, j))
			default:
				fs = append(fs, fmt.Sprintf("/usr/share/%s/data/some/deeper/dir/file%d.dat", name, j))
			}
		}
		out = append(out, rpmBlob{Num: uint32(i + 1), Blob: rpmHeader(name, fmt.Sprintf("1.%d", i), fs)})
	}
	return out
}

// writeRPM writes an rpmdb.sqlite of n packages with files files each under root, shaped like
// writeDpkg's.
func writeRPM(t testing.TB, root string, n, files int) {
	t.Helper()
	dir := filepath.Join(root, "var/lib/rpm")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "rpmdb.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range genRPMBlobs(n, files) {
		if _, err := tx.ExecContext(ctx, "INSERT INTO Packages(hnum, blob) VALUES(?, ?)", b.Num, b.Blob); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestGeneratedRPM(t *testing.T) {
	root := t.TempDir()
	writeRPM(t, root, 3, 5)
	ix, err := Load(context.Background(), root, Options{})
	if err != nil || ix.Packages() != 3 || ix.Files() != 15 {
		t.Fatalf("%s: %v", ix.Summary(), err)
	}
	f, ok := ix.Lookup("/etc/cron.daily/pkg0001")
	if !ok || f.Pkg.Version != "1.1-1.el9" || f.Algo != AlgoSHA256 || f.Mode != 0o100755 {
		t.Errorf("%+v", f)
	}
}
