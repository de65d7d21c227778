package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tripline/tripline/baseline"
)

// Approval is one path accepted into, or removed from, the baseline by an acceptance.
type Approval struct {
	Path     string
	TimeNS   int64
	By       string
	Old, New *baseline.Entry // New is nil when the path was removed from the baseline
}

// LastApprovals returns what the most recent acceptance (tripline baseline accept or update)
// changed in the baseline, in path order; nil when there was none.
func (db *DB) LastApprovals(ctx context.Context) ([]Approval, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT path, location, time_ns, by, old, new, old_entry, new_entry FROM history
		WHERE run_id = (SELECT max(id) FROM runs WHERE kind = 'accept') AND source = 'accept' ORDER BY path`)
	if err != nil {
		return nil, db.wrap(err)
	}
	defer rows.Close()
	var out []Approval
	for rows.Next() {
		var a Approval
		var location string
		var old, cur, oldB, curB []byte
		if err := rows.Scan(&a.Path, &location, &a.TimeNS, &a.By, &old, &cur, &oldB, &curB); err != nil {
			return nil, db.wrap(err)
		}
		if a.Old, a.New, err = rowEntries(a.Path, location, old, cur, oldB, curB); err != nil {
			return nil, fmt.Errorf("%s: history of %s: %w", db.path, baseline.QuotePath(a.Path), err)
		}
		out = append(out, a)
	}
	return out, db.wrap(rows.Err())
}

// Approvals are tamper-evident. Every transaction that changes the baseline ends with a seal: a
// history row, in the hash chain like every other, that commits to the whole baseline as it then
// is. Each baseline row has a leaf,
//
//	sha256("tripline-baseline-1\x00" || each column, in schema order, length-prefixed),
//
// and the seal holds the root sha256("tripline-baseline-root-1\x00" || row count || the leaves in
// path order). Editing, adding or deleting a baseline row with anything but tripline changes the
// root: VerifyBaseline finds it, and names the rows from the seal's short leaves (the first 8
// bytes of each, kept in approval_leaves and bound by the seal). Its limit is the chain's: whoever
// can write the database can also write a new seal and recompute every hash after it, which a
// chain head kept off the host shows (VerifyChain with a head).
const (
	leafDomain = "tripline-baseline-1\x00"
	rootDomain = "tripline-baseline-root-1\x00"
	shortLeaf  = 8

	// KindSealed is the kind of a seal row (source SourceApproval).
	KindSealed = "sealed"
)

// baselineCols are the baseline table's columns, in schema order: what a leaf covers.
const baselineCols = entryCols + ", approved_ns, approved_by"

// Seal is what a seal row records (its new column, as JSON).
type Seal struct {
	Paths  int64  `json:"paths"`
	Root   string `json:"root"`
	Leaves string `json:"leaves_sha256"` // sha256 of the approval_leaves blob
}

type leaf struct {
	path string
	sum  [32]byte
}

// baselineLeaves reads every baseline row, in path order, and hashes it. It keeps every path:
// checkBaseline uses it only to name the rows of a baseline that does not match its seal.
func baselineLeaves(ctx context.Context, q querier) ([]leaf, error) {
	var out []leaf
	err := eachLeaf(ctx, q, func(path []byte, sum *[32]byte) {
		out = append(out, leaf{path: string(path), sum: *sum})
	})
	return out, err
}

// eachLeaf reads every baseline row, in path order, and calls f with its path and leaf; path is
// valid only during the call.
func eachLeaf(ctx context.Context, q querier, f func(path []byte, sum *[32]byte)) error {
	rows, err := q.QueryContext(ctx, "SELECT "+baselineCols+" FROM baseline ORDER BY path")
	if err != nil {
		return err
	}
	defer rows.Close()
	// RawBytes: the text of each column as SQLite gives it (an integer as its decimal digits, as a
	// string scan gives it), without a string per column per row; one hasher for all rows.
	cols := make([]sql.RawBytes, strings.Count(baselineCols, ",")+1)
	dest := make([]any, len(cols))
	for i := range cols {
		dest[i] = &cols[i]
	}
	var n [binary.MaxVarintLen64]byte
	var sum [32]byte
	h := sha256.New()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		h.Reset()
		h.Write([]byte(leafDomain))
		for _, c := range cols {
			// Every column is NOT NULL; a NULL would be a schema change, which changes the domain.
			h.Write(n[:binary.PutUvarint(n[:], uint64(len(c)))])
			h.Write(c)
		}
		h.Sum(sum[:0])
		f(cols[0], &sum)
	}
	return rows.Err()
}

// sealBaseline computes the seal of the baseline as q sees it, reading it once and keeping only
// the short leaves (8 bytes a row): what sealOf computes from baselineLeaves, in flat memory.
// q must be a transaction, so that the count and the rows are of one snapshot.
func sealBaseline(ctx context.Context, q *sql.Tx) (Seal, []byte, error) {
	var count int64
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM baseline").Scan(&count); err != nil {
		return Seal{}, nil, err
	}
	h := sha256.New()
	h.Write([]byte(rootDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(count))
	h.Write(n[:])
	short := make([]byte, 0, count*shortLeaf)
	var seen int64
	err := eachLeaf(ctx, q, func(_ []byte, sum *[32]byte) {
		h.Write(sum[:])
		short = append(short, sum[:shortLeaf]...)
		seen++
	})
	if err != nil {
		return Seal{}, nil, err
	}
	if seen != count {
		return Seal{}, nil, fmt.Errorf("the baseline has %d rows, then %d, in one transaction", count, seen)
	}
	sortShort(short)
	ls := sha256.Sum256(short)
	return Seal{Paths: count, Root: hex.EncodeToString(h.Sum(nil)), Leaves: hex.EncodeToString(ls[:])}, short, nil
}

// sealOf computes the root of the leaves and the sorted short leaves that name them.
func sealOf(leaves []leaf) (Seal, []byte) {
	h := sha256.New()
	h.Write([]byte(rootDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(leaves)))
	h.Write(n[:])
	short := make([]byte, 0, len(leaves)*shortLeaf)
	for _, l := range leaves {
		h.Write(l.sum[:])
		short = append(short, l.sum[:shortLeaf]...)
	}
	sortShort(short)
	ls := sha256.Sum256(short)
	return Seal{Paths: int64(len(leaves)), Root: hex.EncodeToString(h.Sum(nil)), Leaves: hex.EncodeToString(ls[:])}, short
}

func sortShort(b []byte) {
	n := len(b) / shortLeaf
	idx := make([]uint64, n)
	for i := range idx {
		idx[i] = binary.BigEndian.Uint64(b[i*shortLeaf:])
	}
	slices.Sort(idx)
	for i, v := range idx {
		binary.BigEndian.PutUint64(b[i*shortLeaf:], v)
	}
}

// grownBaseline holds the leaves of the rows a transaction added to an empty baseline, in path
// order (Tx.grown).
type grownBaseline struct {
	last   string
	n      int
	leaves [][]byte // in chunks of leafChunk leaves: no copy, no slack past the last chunk
	buf    []byte
}

const leafChunk = 4096

// add computes the leaf of the row PutBaseline wrote, from the values it bound: the text SQLite
// gives back for them is these very bytes (an integer as its decimal digits). A row out of path
// order, which would be a replacement or sort elsewhere, ends the shortcut (*self = nil).
func (g *grownBaseline) add(e *baseline.Entry, approvedNS int64, by string, self **grownBaseline) {
	if g.n > 0 && e.Path <= g.last {
		*self = nil
		return
	}
	g.last = e.Path
	var n [binary.MaxVarintLen64]byte
	b := append(g.buf[:0], leafDomain...)
	col := func(c []byte) {
		b = append(b, n[:binary.PutUvarint(n[:], uint64(len(c)))]...)
		b = append(b, c...)
	}
	var num [20]byte
	for _, v := range sealedArgs(e) { // the package columns are not sealed (pkgCols)
		switch v := v.(type) {
		case string:
			col([]byte(v))
		case uint32:
			col(strconv.AppendInt(num[:0], int64(v), 10))
		case int64:
			col(strconv.AppendInt(num[:0], v, 10))
		default:
			*self = nil // a column of a type this does not know: read the rows back
			return
		}
	}
	col(strconv.AppendInt(num[:0], approvedNS, 10))
	col([]byte(by))
	g.buf = b
	if g.n%leafChunk == 0 {
		g.leaves = append(g.leaves, make([]byte, 0, leafChunk*sha256.Size))
	}
	sum := sha256.Sum256(b)
	g.leaves[len(g.leaves)-1] = append(g.leaves[len(g.leaves)-1], sum[:]...)
	g.n++
}

// seal computes what sealBaseline would from the rows added.
func (g *grownBaseline) seal() (Seal, []byte) {
	h := sha256.New()
	h.Write([]byte(rootDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(g.n))
	h.Write(n[:])
	short := make([]byte, 0, g.n*shortLeaf)
	for _, c := range g.leaves {
		h.Write(c)
		for i := 0; i < len(c); i += sha256.Size {
			short = append(short, c[i:i+shortLeaf]...)
		}
	}
	sortShort(short)
	ls := sha256.Sum256(short)
	return Seal{Paths: int64(g.n), Root: hex.EncodeToString(h.Sum(nil)), Leaves: hex.EncodeToString(ls[:])}, short
}

// sqlAddSeal writes a seal row: its body is JSON in new. The statement is the same under schema
// 4, whose migration seals, and since.
const sqlAddSeal = `INSERT INTO history(id, time_ns, source, path, location, kind, flags, new, rule, severity, verdict, by, hash)
	VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)`

// sealTx appends a seal of the baseline as tx sees it after the row (headID, headHash) and
// returns the seal row's id and hash. grown, when not nil, has the leaves of every row of the
// baseline (Tx.grown), which is then not read back.
func sealTx(ctx context.Context, tx *sql.Tx, headID int64, headHash, by string, nowNS int64, grown *grownBaseline) (int64, string, error) {
	var s Seal
	var short []byte
	var err error
	if grown != nil {
		s, short = grown.seal()
	} else if s, short, err = sealBaseline(ctx, tx); err != nil {
		return 0, "", err
	}
	body, err := json.Marshal(s)
	if err != nil {
		return 0, "", err
	}
	row := chainRow{ID: headID + 1, TimeNS: nowNS, Source: string(SourceApproval), Kind: KindSealed,
		New: sql.NullString{String: string(body), Valid: true}, Severity: "none", Verdict: "none", By: by}
	if row.Hash, err = rowHash(headHash, &row); err != nil {
		return 0, "", err
	}
	if _, err := tx.ExecContext(ctx, sqlAddSeal, row.ID, row.TimeNS, row.Source, row.Path, row.Location, row.Kind,
		row.Flags, row.New.String, row.Rule, row.Severity, row.Verdict, row.By, row.Hash); err != nil {
		return 0, "", err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO approval_leaves(history_id, leaves) VALUES(?, ?)", row.ID, short); err != nil {
		return 0, "", err
	}
	return row.ID, row.Hash, nil
}

// sealChanged is what Commit runs when the transaction changed the baseline.
func (t *Tx) sealChanged(ctx context.Context) error {
	if !t.baselineChanged {
		return nil
	}
	if !t.headKnown {
		var err error
		if t.headID, t.headHash, err = head(ctx, t.tx); err != nil {
			return t.db.wrap(err)
		}
		t.headKnown = true
	}
	by, nowNS := t.approvedBy, t.approvedNS
	if nowNS == 0 {
		nowNS = time.Now().UnixNano()
	}
	id, hash, err := sealTx(ctx, t.tx, t.headID, t.headHash, by, nowNS, t.grown)
	if err != nil {
		return fmt.Errorf("database %s: seal the baseline: %w", t.db.path, t.db.wrap(err))
	}
	t.headID, t.headHash, t.baselineChanged = id, hash, false
	return nil
}

// sealAtUpgrade is schema 4's Go step: it seals the baseline as it is when the schema arrives.
func sealAtUpgrade(ctx context.Context, tx *sql.Tx) error {
	// (A database that already holds seals is refused before any migration: rolledBack.)
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM baseline").Scan(&n); err != nil || n == 0 {
		return err
	}
	id, hash, err := head(ctx, tx)
	if err != nil {
		return err
	}
	_, _, err = sealTx(ctx, tx, id, hash, "tripline schema 4 (the baseline as it was at the upgrade)", time.Now().UnixNano(), nil)
	return err
}

// BaselineCheck is what VerifyBaseline found.
type BaselineCheck struct {
	OK     bool  `json:"ok"`
	Paths  int64 `json:"paths"`   // baseline rows now
	SealID int64 `json:"seal_id"` // the history row whose seal the baseline was checked against (0: none)
	// Edited are the baseline rows that no seal approved: edited or added outside tripline.
	Edited []string `json:"edited,omitempty"`
	// Missing counts approved rows that are no longer in the baseline (deleted outside tripline).
	Missing int64  `json:"missing,omitempty"`
	Problem string `json:"problem,omitempty"` // one line, when not OK
}

// VerifyBaseline checks the baseline against the newest seal in the history, from a snapshot. It
// also checks that the seal row links to the rows around it in the chain, so an edited seal is
// found without walking the whole history (VerifyChain does that).
func (db *DB) VerifyBaseline(ctx context.Context) (BaselineCheck, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return BaselineCheck{}, db.wrap(err)
	}
	defer tx.Rollback()
	return db.checkBaseline(ctx, tx)
}

// ErrBaselineEdited is wrapped when the baseline is not what its newest seal approved.
var ErrBaselineEdited = errors.New("the baseline was edited outside tripline")

// CheckBaseline is VerifyBaseline inside the write transaction: what restore acts on is the
// baseline that was checked.
func (t *Tx) CheckBaseline(ctx context.Context) (BaselineCheck, error) {
	return t.db.checkBaseline(ctx, t.tx)
}

// trustBaseline checks the baseline once before a transaction changes it: sealing it again
// afterwards would approve whatever was edited in it behind tripline's back.
func (t *Tx) trustBaseline(ctx context.Context) error {
	if t.baselineTrusted {
		return nil
	}
	chk, err := t.db.checkBaseline(ctx, t.tx)
	if err != nil {
		return err
	}
	if chk.OK && chk.Paths == 0 {
		t.grown = &grownBaseline{}
	}
	if !chk.OK {
		return fmt.Errorf("database %s: %w: %s; refusing to change and seal it again (see 'tripline history --verify'; 'tripline baseline create' starts over)", t.db.path, ErrBaselineEdited, chk.Problem)
	}
	t.baselineTrusted = true
	return nil
}

// contiguous reports a problem when history rows are missing between the chain's anchor and its
// newest row: deleting the newest seal would otherwise make an older one the baseline's.
func contiguous(ctx context.Context, q *sql.Tx) (string, error) {
	aid, _, err := anchor(ctx, q)
	if err != nil {
		return "", err
	}
	var n, lo, hi int64
	if err := q.QueryRowContext(ctx, "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0) FROM history").Scan(&n, &lo, &hi); err != nil {
		return "", err
	}
	if n == 0 || (lo == aid+1 && n == hi-lo+1) {
		return "", nil
	}
	return fmt.Sprintf("history rows are missing: ids %d to %d hold %d rows, and the chain starts after row %d ('tripline history --verify' names them)", lo, hi, n, aid), nil
}

// checkBaseline is VerifyBaseline inside tx.
func (db *DB) checkBaseline(ctx context.Context, tx *sql.Tx) (BaselineCheck, error) {
	now, _, err := sealBaseline(ctx, tx)
	if err != nil {
		return BaselineCheck{}, db.wrap(err)
	}
	return db.checkSeal(ctx, tx, now)
}

// checkSeal is checkBaseline given the seal of the baseline as tx sees it now (now).
func (db *DB) checkSeal(ctx context.Context, tx *sql.Tx, now Seal) (BaselineCheck, error) {
	res := BaselineCheck{Paths: now.Paths}
	if p, err := contiguous(ctx, tx); err != nil || p != "" {
		res.Problem = p
		return res, db.wrap(err)
	}
	var sealRow chainRow
	var err error
	err = sealRow.scan(tx.QueryRowContext(ctx, "SELECT "+chainCols+" FROM "+chainFrom+" WHERE source = ? AND kind = ? ORDER BY history.id DESC LIMIT 1",
		SourceApproval, KindSealed))
	if errors.Is(err, sql.ErrNoRows) {
		if now.Paths == 0 {
			res.OK = true
			return res, nil
		}
		res.Problem = fmt.Sprintf("the baseline's %d rows were approved by no seal in the history: the seal rows were deleted, or the baseline was written outside tripline", now.Paths)
		return res, nil
	}
	if err != nil {
		return res, db.wrap(err)
	}
	res.SealID = sealRow.ID
	if p, err := db.sealLinks(ctx, tx, &sealRow); err != nil || p != "" {
		res.Problem = p
		return res, err
	}
	var recorded Seal
	if err := json.Unmarshal([]byte(sealRow.New.String), &recorded); err != nil {
		res.Problem = fmt.Sprintf("history row %d: the seal is not valid JSON", sealRow.ID)
		return res, nil
	}
	if now.Root == recorded.Root {
		res.OK = true
		return res, nil
	}
	// Not what was sealed: read it again, keeping the paths, to name the rows.
	leaves, err := baselineLeaves(ctx, tx)
	if err != nil {
		return res, db.wrap(err)
	}
	var short []byte
	err = tx.QueryRowContext(ctx, "SELECT leaves FROM approval_leaves WHERE history_id = ?", sealRow.ID).Scan(&short)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return res, db.wrap(err)
	}
	if sum := sha256.Sum256(short); err != nil || hex.EncodeToString(sum[:]) != recorded.Leaves || len(short)%shortLeaf != 0 {
		res.Problem = fmt.Sprintf("the baseline is not what history row %d sealed, and that seal's row list was edited too", sealRow.ID)
		return res, nil
	}
	approved := map[uint64]int{}
	for i := 0; i < len(short); i += shortLeaf {
		approved[binary.BigEndian.Uint64(short[i:])]++
	}
	for _, l := range leaves {
		k := binary.BigEndian.Uint64(l.sum[:shortLeaf])
		if approved[k] > 0 {
			approved[k]--
			continue
		}
		res.Edited = append(res.Edited, l.path)
	}
	for _, n := range approved {
		res.Missing += int64(n)
	}
	res.Problem = fmt.Sprintf("the baseline is not what history row %d sealed: ", sealRow.ID)
	var parts []string
	if len(res.Edited) > 0 {
		parts = append(parts, fmt.Sprintf("%d row(s) edited or added outside tripline (%s)", len(res.Edited), quoteFew(res.Edited)))
	}
	if gone := res.Missing - int64(len(res.Edited)); gone > 0 {
		parts = append(parts, fmt.Sprintf("%d approved row(s) deleted", gone))
	}
	if len(parts) == 0 {
		parts = append(parts, "rows were reordered or duplicated")
	}
	res.Problem += strings.Join(parts, "; ")
	return res, nil
}

// sealLinks checks that a seal row is linked into the chain: its hash follows from the row
// before it, and the row after it follows from its hash. It returns a problem, or "".
func (db *DB) sealLinks(ctx context.Context, tx *sql.Tx, seal *chainRow) (string, error) {
	var prev chainRow
	prevHash := ""
	err := prev.scan(tx.QueryRowContext(ctx, "SELECT "+chainCols+" FROM "+chainFrom+" WHERE history.id < ? ORDER BY history.id DESC LIMIT 1", seal.ID))
	switch {
	case err == nil:
		prevHash = prev.Hash
	case errors.Is(err, sql.ErrNoRows):
		if _, prevHash, err = anchor(ctx, tx); err != nil {
			return "", db.wrap(err)
		}
	default:
		return "", db.wrap(err)
	}
	if h, err := rowHash(prevHash, seal); err != nil || h != seal.Hash {
		return fmt.Sprintf("history row %d, the newest seal of the baseline, was edited: its content no longer matches its hash", seal.ID), nil
	}
	var next chainRow
	err = next.scan(tx.QueryRowContext(ctx, "SELECT "+chainCols+" FROM "+chainFrom+" WHERE history.id > ? ORDER BY history.id LIMIT 1", seal.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", db.wrap(err)
	}
	if h, err := rowHash(seal.Hash, &next); err != nil || h != next.Hash {
		return fmt.Sprintf("history row %d, the newest seal of the baseline, was edited together with its hash: row %d no longer follows it", seal.ID, next.ID), nil
	}
	return "", nil
}

// quoteFew names up to three paths, quoted, and how many more there are.
func quoteFew(paths []string) string {
	var b strings.Builder
	for i, p := range paths {
		if i == 3 {
			fmt.Fprintf(&b, " and %d more", len(paths)-3)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(baseline.QuotePath(p))
	}
	return b.String()
}
