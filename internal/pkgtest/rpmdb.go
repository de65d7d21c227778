package pkgtest

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/adler32"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// rpm's older database formats, for tests.
//
// Berkeley DB Packages files are written by the real Berkeley DB (db5.3_load, Debian's
// db5.3-util) from header blobs the real rpm wrote into an rpmdb.sqlite; Debian's rpm reads them
// back with its read-only bdb_ro backend.
//
// ndb Packages.db files have no writer on Debian (its rpm is built without ndb): NDBFile writes
// them from the format's specification, rpm's lib/backend/ndb/rpmpkg.c, independently of
// tripline's reader (it shares none of its code or constants). They test the reader against our
// reading of the format, not against rpm.

// RPMBlob is one header blob of an rpm database with its number (rpm's hnum / pkgidx).
type RPMBlob struct {
	Num  uint32
	Blob []byte
}

// SQLiteBlobs returns the header blobs of an rpmdb.sqlite, in the order of their numbers.
func SQLiteBlobs(t testing.TB, file string) []RPMBlob {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+file+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT hnum, blob FROM Packages ORDER BY hnum")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []RPMBlob
	for rows.Next() {
		var b RPMBlob
		if err := rows.Scan(&b.Num, &b.Blob); err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// RemoveSQLite removes the rpmdb.sqlite (with its WAL files) under root's RPMDBPath, after its
// blobs were moved to another format.
func RemoveSQLite(t testing.TB, root string) {
	t.Helper()
	for _, f := range []string{"rpmdb.sqlite", "rpmdb.sqlite-wal", "rpmdb.sqlite-shm"} {
		if err := os.Remove(filepath.Join(root, RPMDBPath, f)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
}

// WriteBDB writes a Berkeley DB hash database of blobs with db5.3_load, as rpm's Packages is:
// the keys are the 4-byte header numbers in the file's byte order (lorder 1234: little-endian,
// 4321: big-endian), and key 0 holds the last number used, as rpm keeps it.
func WriteBDB(t testing.TB, file string, lorder, pageSize int, blobs []RPMBlob) {
	t.Helper()
	Need(t, "db5.3_load")
	var order binary.ByteOrder = binary.LittleEndian
	if lorder == 4321 {
		order = binary.BigEndian
	}
	var in bytes.Buffer
	in.WriteString("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n")
	pair := func(k uint32, v []byte) {
		var kb [4]byte
		order.PutUint32(kb[:], k)
		fmt.Fprintf(&in, " %s\n %s\n", hex.EncodeToString(kb[:]), hex.EncodeToString(v))
	}
	last := uint32(0)
	for _, b := range blobs {
		pair(b.Num, b.Blob)
		last = max(last, b.Num)
	}
	var lb [4]byte
	order.PutUint32(lb[:], last)
	pair(0, lb[:])
	in.WriteString("DATA=END\n")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	cmd := exec.Command("db5.3_load", "-c", fmt.Sprintf("db_lorder=%d", lorder), "-c", fmt.Sprintf("db_pagesize=%d", pageSize), file)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("db5.3_load: %v\n%s", err, out)
	}
}

// The ndb layout (rpmpkg.c): little-endian words; 4096-byte slot pages; 16-byte blocks.
const (
	ndbPage     = 4096
	ndbSlot     = 16
	ndbBlock    = 16
	ndbHeader   = 32 // magic, version, generation, slot pages, next package index (+ 12 unused)
	ndbBlobHead = 16 // magic, package index, time stamp, blob length
	ndbBlobTail = 12 // adler32 of head+blob+padding, blob length, magic
)

func le32(s string) uint32 { return binary.LittleEndian.Uint32([]byte(s)) }

// NDBFile returns an ndb Packages.db holding blobs, laid out as rpmpkg.c lays out a database it
// wrote from empty: as many slot pages as the blobs need slots, then the blobs in the order
// given, each stamped with stamp.
func NDBFile(blobs []RPMBlob, stamp uint32) []byte {
	le := binary.LittleEndian
	pages := 1
	for pages*(ndbPage/ndbSlot)-ndbHeader/ndbSlot < len(blobs) {
		pages++
	}
	out := make([]byte, pages*ndbPage)
	le.PutUint32(out[0:], le32("RpmP"))
	le.PutUint32(out[4:], 0)                  // format version
	le.PutUint32(out[8:], uint32(len(blobs))) // generation: one write per blob
	le.PutUint32(out[12:], uint32(pages))
	next := uint32(1)
	for _, b := range blobs {
		next = max(next, b.Num+1)
	}
	le.PutUint32(out[16:], next)
	for o := ndbHeader; o < len(out); o += ndbSlot {
		le.PutUint32(out[o:], le32("Slot"))
	}
	for i, b := range blobs {
		blkoff := len(out) / ndbBlock
		n := (ndbBlobHead + len(b.Blob) + ndbBlobTail + ndbBlock - 1) / ndbBlock * ndbBlock
		blob := make([]byte, n)
		le.PutUint32(blob[0:], le32("BlbS"))
		le.PutUint32(blob[4:], b.Num)
		le.PutUint32(blob[8:], stamp)
		le.PutUint32(blob[12:], uint32(len(b.Blob)))
		copy(blob[ndbBlobHead:], b.Blob)
		tail := blob[n-ndbBlobTail:]
		le.PutUint32(tail[0:], adler32.Checksum(blob[:n-ndbBlobTail]))
		le.PutUint32(tail[4:], uint32(len(b.Blob)))
		le.PutUint32(tail[8:], le32("BlbE"))
		out = append(out, blob...)
		slot := out[ndbHeader+i*ndbSlot:]
		le.PutUint32(slot[4:], b.Num)
		le.PutUint32(slot[8:], uint32(blkoff))
		le.PutUint32(slot[12:], uint32(n/ndbBlock))
	}
	return out
}

// WriteNDB writes NDBFile(blobs) to file, renamed into place.
func WriteNDB(t testing.TB, file string, blobs []RPMBlob) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+".tmp", NDBFile(blobs, 1765000000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
}

// ConvertRPMDB moves the rpm database under root from rpmdb.sqlite to another format: "bdb-le"
// and "bdb-be" (a Berkeley DB Packages, little- or big-endian, 4 KiB pages, in RPMDBPath) or
// "ndb" (Packages.db in /usr/lib/sysimage/rpm, where openSUSE keeps it). It returns the new
// database's logical path.
func ConvertRPMDB(t testing.TB, root, format string) string {
	t.Helper()
	blobs := SQLiteBlobs(t, filepath.Join(root, RPMDBPath, "rpmdb.sqlite"))
	var logical string
	switch format {
	case "bdb-le", "bdb-be":
		lorder := 1234
		if format == "bdb-be" {
			lorder = 4321
		}
		logical = RPMDBPath + "/Packages"
		WriteBDB(t, filepath.Join(root, logical), lorder, 4096, blobs)
	case "ndb":
		logical = "/usr/lib/sysimage/rpm/Packages.db"
		WriteNDB(t, filepath.Join(root, logical), blobs)
	default:
		t.Fatalf("rpm database format %q", format)
	}
	RemoveSQLite(t, root)
	return logical
}
