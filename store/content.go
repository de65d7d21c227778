package store

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// Content versions: each distinct content of a regular file in a location, up to
// MaxContentFile bytes, is stored once, deflate-compressed (or as it is when deflate would not
// make it smaller), keyed by its sha256. The store is
// bounded by MaxContentBytes (compressed): past it the least recently seen contents that the
// baseline does not need are dropped, and contents the baseline needs are kept (restore puts
// them back).
const (
	MaxContentFile  = 1 << 20
	MaxContentBytes = 64 << 20
)

// ErrNoContent says a content is not stored.
var ErrNoContent = errors.New("content not stored")

// ContentFull reports that this transaction found the store full (see ErrContentFull): callers
// need not read a file to offer its content.
func (t *Tx) ContentFull() bool { return t.contentFull }

// HasContent reports whether sha is stored, and marks it seen at nowNS.
func (t *Tx) HasContent(ctx context.Context, sha string, nowNS int64) (bool, error) {
	if err := t.contentSize(ctx); err != nil {
		return false, err
	}
	if k, ok := contentKey(sha); ok && !t.contentPut[k] && t.contentEmpty {
		// The store was empty when this transaction began (a first scan): only what it put is
		// there, and it put nothing with this key.
		return false, nil
	}
	res, err := t.tx.ExecContext(ctx, "UPDATE content SET last_ns = ? WHERE sha256 = ?", nowNS, sha)
	if err != nil {
		return false, t.db.wrap(err)
	}
	n, err := res.RowsAffected()
	return n > 0, t.db.wrap(err)
}

// ErrContentFull is returned by PutContent when the store is at MaxContentBytes and holds only
// contents the baseline needs.
var ErrContentFull = errors.New("content store full")

// PutContent stores data under its sha256 (which must be sha). Past MaxContentBytes it first
// drops the least recently seen contents the baseline does not need (once per transaction);
// when that is not enough it stores nothing and returns ErrContentFull.
func (t *Tx) PutContent(ctx context.Context, sha string, data []byte, nowNS int64) error {
	if len(data) > MaxContentFile {
		return fmt.Errorf("content %s: %d bytes, over the %d-byte cap", sha, len(data), MaxContentFile)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != sha {
		return fmt.Errorf("content for %s does not hash to it", sha)
	}
	if t.contentFull {
		return ErrContentFull
	}
	c, err := EncodeContent(sha, data)
	if err != nil {
		return err
	}
	return t.PutEncoded(ctx, c, nowNS)
}

// Encoded is a content ready for the store (EncodeContent): encoding it, the costly part, can
// run anywhere, in parallel, off the transaction.
type Encoded struct {
	SHA256 string
	Size   int64
	stored []byte // deflated, or the content itself when deflate would not make it smaller
}

// EncodeContent prepares data, whose sha256 the caller computed from these very bytes (sha), for
// PutEncoded. It deflates data at BestSpeed, unless that would not make it smaller: such a
// content (already compressed, random) is stored as it is, and then its stored length is its
// size, which a deflated one never has (Content tells the two apart that way). For a content
// over rawProbe bytes the verdict comes from deflating its first rawProbe bytes only.
func EncodeContent(sha string, data []byte) (Encoded, error) {
	if len(data) > MaxContentFile {
		return Encoded{}, fmt.Errorf("content %s: %d bytes, over the %d-byte cap", sha, len(data), MaxContentFile)
	}
	c := Encoded{SHA256: sha, Size: int64(len(data)), stored: data}
	if len(data) > rawProbe {
		var probe bytes.Buffer
		if err := compress(&probe, data[:rawProbe]); err != nil {
			return Encoded{}, fmt.Errorf("content %s: compress: %w", sha, err)
		}
		if probe.Len() >= rawProbe*rawRatio/100 {
			return c, nil
		}
	}
	var buf bytes.Buffer
	buf.Grow(len(data)/2 + 64)
	if err := compress(&buf, data); err != nil {
		return Encoded{}, fmt.Errorf("content %s: compress: %w", sha, err)
	}
	if buf.Len() < len(data) {
		c.stored = buf.Bytes()
	}
	return c, nil
}

// A content whose first rawProbe bytes deflate to rawRatio% or more of their size is stored as
// it is: deflating random bytes costs as much CPU as hashing them and saves nothing.
const (
	rawProbe = 32 << 10
	rawRatio = 95
)

// PutEncoded stores c. Past MaxContentBytes it first drops the least recently seen contents the
// baseline does not need (once per transaction); when that is not enough it stores nothing and
// returns ErrContentFull.
func (t *Tx) PutEncoded(ctx context.Context, c Encoded, nowNS int64) error {
	if err := t.contentSize(ctx); err != nil {
		return err
	}
	if t.contentFull {
		return ErrContentFull
	}
	n := int64(len(c.stored))
	if t.contentBytes+n > MaxContentBytes {
		if err := t.pruneContent(ctx, MaxContentBytes-n); err != nil {
			return err
		}
		if t.contentBytes+n > MaxContentBytes {
			// Everything left is needed by the baseline: stop trying for this transaction.
			t.contentFull = true
			return ErrContentFull
		}
	}
	// Prepared once per transaction (t.exec): a first scan stores thousands.
	if err := t.exec(ctx, `INSERT INTO content(sha256, size, data, first_ns, last_ns) VALUES(?,?,?,?,?)
		ON CONFLICT(sha256) DO UPDATE SET last_ns = excluded.last_ns`, c.SHA256, c.Size, c.stored, nowNS, nowNS); err != nil {
		return err
	}
	t.contentBytes += n
	if k, ok := contentKey(c.SHA256); ok {
		if t.contentPut == nil {
			t.contentPut = map[uint64]bool{}
		}
		t.contentPut[k] = true
	}
	return nil
}

// contentKey is the first 8 bytes of a hex sha256: what Tx.contentPut remembers of each content a
// transaction stored (a first scan stores one for every file: whole keys held 19 MB for 200,000).
// A key met again is looked up in the table, so a collision costs a query, never a wrong answer.
func contentKey(sha string) (uint64, bool) {
	if len(sha) < 16 {
		return 0, false
	}
	k, err := strconv.ParseUint(sha[:16], 16, 64)
	return k, err == nil
}

// deflaters are reused: a flate writer costs about a megabyte to set up, more than compressing
// the small file it is made for (40% of a first scan's profile when each file had its own).
var deflaters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed) // only an invalid level fails
	return w
}}

// compress deflates data into buf at BestSpeed.
func compress(buf *bytes.Buffer, data []byte) error {
	w := deflaters.Get().(*flate.Writer)
	defer deflaters.Put(w)
	w.Reset(buf)
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// contentSize reads the store's size once per transaction.
func (t *Tx) contentSize(ctx context.Context) error {
	if t.contentKnown {
		return nil
	}
	if err := t.tx.QueryRowContext(ctx, "SELECT coalesce(sum(length(data)), 0) FROM content").Scan(&t.contentBytes); err != nil {
		return t.db.wrap(err)
	}
	t.contentKnown, t.contentEmpty = true, t.contentBytes == 0
	return nil
}

// pruneContent drops the least recently seen contents the baseline does not reference until the
// store holds at most target bytes, in one pass.
func (t *Tx) pruneContent(ctx context.Context, target int64) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT sha256, length(data) FROM content
		WHERE sha256 NOT IN (SELECT sha256 FROM baseline WHERE sha256 != '') ORDER BY last_ns`)
	if err != nil {
		return t.db.wrap(err)
	}
	var drop []string
	for rows.Next() && t.contentBytes > target {
		var sha string
		var n int64
		if err := rows.Scan(&sha, &n); err != nil {
			rows.Close()
			return t.db.wrap(err)
		}
		drop = append(drop, sha)
		t.contentBytes -= n
	}
	rows.Close()
	for _, sha := range drop {
		if _, err := t.tx.ExecContext(ctx, "DELETE FROM content WHERE sha256 = ?", sha); err != nil {
			return t.db.wrap(err)
		}
	}
	return nil
}

// Content returns a stored content.
func (db *DB) Content(ctx context.Context, sha string) ([]byte, error) {
	var z []byte
	var size int64
	err := db.r.QueryRowContext(ctx, "SELECT data, size FROM content WHERE sha256 = ?", sha).Scan(&z, &size)
	if err == sql.ErrNoRows {
		return nil, ErrNoContent
	}
	if err != nil {
		return nil, db.wrap(err)
	}
	// Stored as it is (EncodeContent) when its length is its size; deflated otherwise. A content
	// stored before raw ones existed was always deflated, and a deflated stream the very length
	// of its content is possible, if unlikely: the hash decides.
	if int64(len(z)) == size {
		if sum := sha256.Sum256(z); hex.EncodeToString(sum[:]) == sha {
			return z, nil
		}
	}
	data, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), MaxContentFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: stored content %s is damaged: %v", db.path, sha, err)
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != size || hex.EncodeToString(sum[:]) != sha {
		return nil, fmt.Errorf("%s: stored content %s does not match its hash (damaged or edited)", db.path, sha)
	}
	return data, nil
}
