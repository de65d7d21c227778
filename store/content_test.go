package store

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
)

func shaOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func deflate(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func contentTimes(t *testing.T, db *DB, sha string) (first, last int64) {
	t.Helper()
	if err := db.w.QueryRow("SELECT first_ns, last_ns FROM content WHERE sha256 = ?", sha).Scan(&first, &last); err != nil {
		t.Fatalf("content %s: %v", sha, err)
	}
	return first, last
}

func TestContentRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	bin := make([]byte, 4096)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	big := make([]byte, MaxContentFile)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, MaxContentFile) // compresses to almost nothing
	cases := map[string][]byte{
		"empty":    {},
		"text":     []byte("#!/bin/sh\necho hi\n"),
		"binary":   bin,
		"nul only": {0},
		"1 MiB":    big,
		"zeros":    zeros,
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, b := range cases {
			if err := tx.PutContent(ctx, shaOf(b), b, 10); err != nil {
				return err
			}
		}
		return nil
	})
	for name, b := range cases {
		got, err := db.Content(ctx, shaOf(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: Content = %d bytes, %v; want %d bytes", name, len(got), err, len(b))
		}
	}
	var rows int
	db.w.QueryRow("SELECT count(*) FROM content").Scan(&rows)
	if rows != len(cases) {
		t.Errorf("%d content rows, want %d", rows, len(cases))
	}
	// Compressed: the MiB of zeros takes little room.
	var n int64
	db.w.QueryRow("SELECT length(data) FROM content WHERE sha256 = ?", shaOf(zeros)).Scan(&n)
	if n == 0 || n > MaxContentFile/100 {
		t.Errorf("a MiB of zeros is stored in %d bytes", n)
	}

	// Storing a content again keeps one row and its first time, and marks it seen.
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutContent(ctx, shaOf(bin), bin, 20) })
	if first, last := contentTimes(t, db, shaOf(bin)); first != 10 || last != 20 {
		t.Errorf("stored again: first %d last %d, want 10 20", first, last)
	}
	db.w.QueryRow("SELECT count(*) FROM content").Scan(&rows)
	if rows != len(cases) {
		t.Errorf("%d content rows after storing one again", rows)
	}
}

func TestPutContentWrongHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	data := []byte("the real content\n")
	for _, sha := range []string{
		shaOf([]byte("other content")),
		strings.ToUpper(shaOf(data)), // the key is lowercase hex
		shaOf(data)[:63],
		"",
	} {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := tx.PutContent(ctx, sha, data, 1); err == nil {
			t.Errorf("PutContent under %q: no error", sha)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Content(ctx, sha); !errors.Is(err, ErrNoContent) {
			t.Errorf("Content(%q) after a refused put: %v, want ErrNoContent", sha, err)
		}
	}
}

func TestHasContent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	data := []byte("x")
	sha := shaOf(data)
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		ok, err := tx.HasContent(ctx, sha, 5)
		if err != nil || ok {
			t.Errorf("HasContent before put = %v, %v", ok, err)
		}
		return tx.PutContent(ctx, sha, data, 10)
	})
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		ok, err := tx.HasContent(ctx, sha, 30)
		if err != nil || !ok {
			t.Errorf("HasContent after put = %v, %v", ok, err)
		}
		return nil
	})
	if first, last := contentTimes(t, db, sha); first != 10 || last != 30 {
		t.Errorf("first %d last %d, want 10 30", first, last)
	}
	// A rolled-back transaction does not mark it.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := tx.HasContent(ctx, sha, 99); err != nil || !ok {
		t.Errorf("HasContent = %v, %v", ok, err)
	}
	tx.Rollback()
	if _, last := contentTimes(t, db, sha); last != 30 {
		t.Errorf("last %d after a rollback, want 30", last)
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		ok, err := tx.HasContent(ctx, shaOf([]byte("y")), 1)
		if err != nil || ok {
			t.Errorf("HasContent of another = %v, %v", ok, err)
		}
		return nil
	})
}

func TestContentMissing(t *testing.T) {
	t.Parallel()
	db, _ := openTest(t)
	for _, sha := range []string{shaOf([]byte("never stored")), "", "not a sha"} {
		if b, err := db.Content(context.Background(), sha); !errors.Is(err, ErrNoContent) || b != nil {
			t.Errorf("Content(%q) = %q, %v; want ErrNoContent", sha, b, err)
		}
	}
}

func TestContentDamaged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data := []byte("#!/bin/sh\nexec /usr/sbin/cron\n")
	sha := shaOf(data)
	other := []byte("#!/bin/sh\nexec /tmp/.x/backdoor\n")
	cases := []struct {
		name string
		sql  string
		args []any
	}{
		{"not deflate", "UPDATE content SET data = ? WHERE sha256 = ?", []any{[]byte{0xff, 0xff, 0xff, 0xff}, sha}},
		{"truncated", "UPDATE content SET data = substr(data, 1, length(data) - 3) WHERE sha256 = ?", []any{sha}},
		{"byte flipped", "UPDATE content SET data = ? WHERE sha256 = ?", []any{nil, sha}}, // filled in below
		{"other content", "UPDATE content SET data = ? WHERE sha256 = ?", []any{deflate(t, other), sha}},
		{"other content, size fixed", "UPDATE content SET data = ?, size = ? WHERE sha256 = ?", []any{deflate(t, other), len(other), sha}},
		{"size", "UPDATE content SET size = size + 1 WHERE sha256 = ?", []any{sha}},
		{"empty blob", "UPDATE content SET data = X'' WHERE sha256 = ?", []any{sha}},
		{"too long", "UPDATE content SET data = ?, size = ? WHERE sha256 = ?", []any{deflate(t, make([]byte, MaxContentFile+10)), MaxContentFile + 10, sha}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db, path := openTest(t)
			commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutContent(ctx, sha, data, 1) })
			args := c.args
			if c.name == "byte flipped" {
				var z []byte
				if err := db.w.QueryRow("SELECT data FROM content WHERE sha256 = ?", sha).Scan(&z); err != nil {
					t.Fatal(err)
				}
				z[len(z)/2] ^= 0x01
				args = []any{z, sha}
			}
			execW(t, db, c.sql, args...)
			b, err := db.Content(ctx, sha)
			if err == nil {
				t.Fatalf("Content = %q, no error", b)
			}
			if errors.Is(err, ErrNoContent) || b != nil {
				t.Errorf("Content = %q, %v", b, err)
			}
			checkMessage(t, err, path, sha)
			if msg := err.Error(); !strings.Contains(msg, "damaged") && !strings.Contains(msg, "does not match") {
				t.Errorf("error %q says neither damaged nor does not match", msg)
			}
		})
	}
}

// The bound: past MaxContentBytes the least recently seen contents go, except those the baseline
// references. MaxContentBytes is a constant (64 MiB); the test fills the store past it with
// zeroblobs written by raw SQL (stored uncompressed, counted as they are stored).
func TestContentBoundKeepsBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("writes about 300 MiB")
	}
	t.Parallel()
	db, _ := openTest(t)
	const big = MaxContentBytes/2 + 1<<20 // two of these are past the bound, one is not
	x := strings.Repeat("a", 64)          // the baseline's content, the least recently seen
	z := strings.Repeat("b", 64)          // another big one, seen later
	old := strings.Repeat("c", 64)        // a small one, seen long ago
	e := baseline.Entry{Path: "/etc/crontab", Type: baseline.TypeFile, SHA256: x, HashState: baseline.HashOK}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutBaseline(ctx, &e, 1, "root") })
	execW(t, db, "INSERT INTO content VALUES(?, ?, zeroblob(?), 1, 1)", x, big, big)
	execW(t, db, "INSERT INTO content VALUES(?, 3, X'010203', 2, 2)", old)
	execW(t, db, "INSERT INTO content VALUES(?, ?, zeroblob(?), 3, 3)", z, big, big)
	y := []byte("new content\n")
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutContent(ctx, shaOf(y), y, 10) })
	has := func() map[string]bool {
		out := map[string]bool{}
		rows, err := db.w.Query("SELECT sha256 FROM content")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out[s] = true
		}
		return out
	}
	got := has()
	// The oldest that the baseline does not need go first: the small old one, then z.
	if !got[x] || got[z] || got[old] || !got[shaOf(y)] || len(got) != 2 {
		t.Errorf("after the bound: x %v z %v old %v y %v (%d rows); want x and y kept", got[x], got[z], got[old], got[shaOf(y)], len(got))
	}
	var total int64
	db.w.QueryRow("SELECT sum(length(data)) FROM content").Scan(&total)
	if total > MaxContentBytes {
		t.Errorf("%d bytes stored, over %d", total, MaxContentBytes)
	}

	// When everything left over the bound is needed by the baseline, it all stays: the
	// unreferenced content goes, and the new one is not stored (ErrContentFull, which callers
	// count and report).
	e2 := baseline.Entry{Path: "/etc/other", Type: baseline.TypeFile, SHA256: z, HashState: baseline.HashOK}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutBaseline(ctx, &e2, 1, "root") })
	execW(t, db, "INSERT INTO content VALUES(?, ?, zeroblob(?), 3, 3)", z, big, big)
	w := []byte("another\n")
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		if err := tx.PutContent(ctx, shaOf(w), w, 20); !errors.Is(err, ErrContentFull) {
			return fmt.Errorf("PutContent over a bound of needed contents: %v, want ErrContentFull", err)
		}
		return nil
	})
	got = has()
	if !got[x] || !got[z] {
		t.Errorf("contents the baseline references were dropped: x %v z %v", got[x], got[z])
	}
	if got[shaOf(y)] || got[shaOf(w)] {
		t.Errorf("unreferenced contents kept over the bound: y %v w %v", got[shaOf(y)], got[shaOf(w)])
	}
}

// A content deflate does not shrink is stored as it is (its stored length is then its size), a
// compressible one deflated, and a deflated row of an older tripline still reads.
func TestContentRawOrDeflated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openTest(t)
	random := make([]byte, 300<<10)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	text := bytes.Repeat([]byte("#!/bin/sh\nrun-parts /etc/cron.daily\n"), 2000)
	tiny := []byte("x\n")
	legacy := []byte("#!/bin/sh\n# stored deflated by an older tripline\n")
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		for _, b := range [][]byte{random, text, tiny} {
			c, err := EncodeContent(shaOf(b), b)
			if err != nil {
				return err
			}
			if err := tx.PutEncoded(ctx, c, 1); err != nil {
				return err
			}
		}
		return nil
	})
	execW(t, db, "INSERT INTO content(sha256, size, data, first_ns, last_ns) VALUES(?,?,?,1,1)", shaOf(legacy), len(legacy), deflate(t, legacy))
	stored := func(b []byte) int64 {
		var n int64
		if err := db.w.QueryRow("SELECT length(data) FROM content WHERE sha256 = ?", shaOf(b)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := stored(random); n != int64(len(random)) {
		t.Errorf("random bytes stored in %d bytes, want as they are (%d)", n, len(random))
	}
	if n := stored(text); n >= int64(len(text))/10 {
		t.Errorf("repetitive text stored in %d bytes of %d: not deflated", n, len(text))
	}
	if n := stored(tiny); n != int64(len(tiny)) {
		t.Errorf("2 bytes stored in %d bytes, want as they are", n)
	}
	for _, b := range [][]byte{random, text, tiny, legacy} {
		if got, err := db.Content(ctx, shaOf(b)); err != nil || !bytes.Equal(got, b) {
			t.Errorf("Content of %d bytes = %d bytes, %v", len(b), len(got), err)
		}
	}
}
