package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/tripline/tripline/baseline"
)

const entryCols = "path, location, type, mode, uid, gid, size, inode, dev, nlink, mtime_ns, ctime_ns, btime_ns, target, sha256, hash_state"

// pkgCols are an entry's package (schema 7), read and written with entryCols. The baseline's seal
// covers entryCols only (baselineCols): the package is derived again by every scan.
const pkgCols = "pkg_name, pkg_version, pkg_type, pkg_state, pkg_detail"

// rowCols are the columns of an entry in the baseline and state tables.
const rowCols = entryCols + ", " + pkgCols

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner, extra ...any) (baseline.Entry, error) {
	var e baseline.Entry
	var inode, dev int64
	var pkg baseline.Package
	dest := append([]any{&e.Path, &e.Location, &e.Type, &e.Mode, &e.UID, &e.GID, &e.Size, &inode, &dev,
		&e.Nlink, &e.MtimeNS, &e.CtimeNS, &e.BtimeNS, &e.Target, &e.SHA256, &e.HashState,
		&pkg.Name, &pkg.Version, &pkg.Type, &pkg.State, &pkg.Detail}, extra...)
	if err := s.Scan(dest...); err != nil {
		return e, err
	}
	e.Inode, e.Dev = uint64(inode), uint64(dev)
	if pkg.State != "" {
		e.Package = &pkg
	}
	return e, nil
}

// entryArgs are the values of rowCols for e.
func entryArgs(e *baseline.Entry) []any {
	var pkg baseline.Package
	if e.Package != nil {
		pkg = *e.Package
	}
	return append(sealedArgs(e), pkg.Name, pkg.Version, pkg.Type, string(pkg.State), pkg.Detail)
}

// sealedArgs are the values of entryCols for e: the columns a baseline leaf covers.
func sealedArgs(e *baseline.Entry) []any {
	return []any{e.Path, e.Location, string(e.Type), e.Mode, e.UID, e.GID, e.Size, int64(e.Inode), int64(e.Dev),
		e.Nlink, e.MtimeNS, e.CtimeNS, e.BtimeNS, e.Target, e.SHA256, string(e.HashState)}
}

// Approved is a baseline entry with its approval.
type Approved = baseline.Approved

// BaselineIter iterates over the baseline in the byte order of paths (the order of baseline.Walk).
// As it reads each row it also hashes it for the baseline's seal, so that a caller that reads
// the whole baseline (a scan) can check it against its seal with Verify instead of reading it
// a second time.
type BaselineIter struct {
	db    *DB
	tx    *sql.Tx
	rows  *sql.Rows
	err   error
	buf   []byte
	count int64 // rows, counted in the same snapshot before the first is read
	read  int64
	root  hash.Hash
	short []byte
}

// Baseline returns an iterator over the whole baseline, read from a snapshot: writes made while
// it is open are not seen. Close it when done.
func (db *DB) Baseline(ctx context.Context) (*BaselineIter, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, db.wrap(err)
	}
	it := &BaselineIter{db: db, tx: tx, root: sha256.New()}
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM baseline").Scan(&it.count); err != nil {
		tx.Rollback()
		return nil, db.wrap(err)
	}
	// The package columns come last: they are not part of the seal's leaf (see pkgCols).
	if it.rows, err = tx.QueryContext(ctx, "SELECT "+baselineCols+", "+pkgCols+" FROM baseline ORDER BY path"); err != nil {
		tx.Rollback()
		return nil, db.wrap(err)
	}
	it.root.Write([]byte(rootDomain))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(it.count))
	it.root.Write(n[:])
	it.short = make([]byte, 0, it.count*shortLeaf)
	return it, nil
}

// Next returns the next entry, or false at the end or on error (see Err).
func (it *BaselineIter) Next() (Approved, bool) {
	if it.err != nil || !it.rows.Next() {
		return Approved{}, false
	}
	var a Approved
	e := &a.Entry
	var typ, hs string
	var n [11]int64 // mode, uid, gid, size, inode, dev, nlink, mtime, ctime, btime, approved_ns
	var pkg baseline.Package
	if err := it.rows.Scan(&e.Path, &e.Location, &typ, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5], &n[6], &n[7], &n[8], &n[9],
		&e.Target, &e.SHA256, &hs, &n[10], &a.ApprovedBy, &pkg.Name, &pkg.Version, &pkg.Type, &pkg.State, &pkg.Detail); err != nil {
		it.err = it.db.wrap(err)
		return Approved{}, false
	}
	if pkg.State != "" {
		e.Package = &pkg
	}
	e.Type, e.HashState = baseline.Type(typ), baseline.HashState(hs)
	e.Mode, e.UID, e.GID, e.Size = uint32(n[0]), uint32(n[1]), uint32(n[2]), n[3]
	e.Inode, e.Dev, e.Nlink = uint64(n[4]), uint64(n[5]), uint32(n[6])
	e.MtimeNS, e.CtimeNS, e.BtimeNS, a.ApprovedNS = n[7], n[8], n[9], n[10]
	// The leaf of eachLeaf: the columns as the text SQLite gives for them (the table is STRICT:
	// an INTEGER column holds integers, whose text is their decimal digits).
	b := append(it.buf[:0], leafDomain...)
	var v [binary.MaxVarintLen64]byte
	var num [20]byte
	col := func(c []byte) {
		b = append(b, v[:binary.PutUvarint(v[:], uint64(len(c)))]...)
		b = append(b, c...)
	}
	str := func(s string) {
		b = append(b, v[:binary.PutUvarint(v[:], uint64(len(s)))]...)
		b = append(b, s...)
	}
	str(e.Path)
	str(e.Location)
	str(typ)
	for _, x := range n[:10] {
		col(strconv.AppendInt(num[:0], x, 10))
	}
	str(e.Target)
	str(e.SHA256)
	str(hs)
	col(strconv.AppendInt(num[:0], n[10], 10))
	str(a.ApprovedBy)
	it.buf = b
	sum := sha256.Sum256(b)
	it.root.Write(sum[:])
	it.short = append(it.short, sum[:shortLeaf]...)
	it.read++
	return a, true
}

// Err returns the error that ended the iteration, if any.
func (it *BaselineIter) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.db.wrap(it.rows.Err())
}

// Verify checks the rows read against the newest seal in the history, as VerifyBaseline does,
// from the same snapshot. It may be called only once Next has returned false without an error:
// every row has then been hashed on the way.
func (it *BaselineIter) Verify(ctx context.Context) (BaselineCheck, error) {
	if err := it.Err(); err != nil {
		return BaselineCheck{}, err
	}
	if it.rows.Next() || it.read != it.count {
		return BaselineCheck{}, fmt.Errorf("database %s: the baseline was not read to its end (%d of %d rows) before its check", it.db.path, it.read, it.count)
	}
	short := append([]byte(nil), it.short...)
	sortShort(short)
	ls := sha256.Sum256(short)
	now := Seal{Paths: it.count, Root: hex.EncodeToString(it.root.Sum(nil)), Leaves: hex.EncodeToString(ls[:])}
	return it.db.checkSeal(ctx, it.tx, now)
}

// Close releases the snapshot.
func (it *BaselineIter) Close() error {
	err := it.rows.Close()
	it.tx.Rollback()
	return err
}

// BaselineEntries returns the approved entries for the given paths, or for every path under
// prefix when prefix ends in "/", or all of them when paths is empty.
func (db *DB) BaselineEntries(ctx context.Context, paths ...string) ([]Approved, error) {
	var out []Approved
	err := db.EachBaselineEntry(ctx, paths, nil, func(a *Approved) error {
		out = append(out, *a)
		return nil
	})
	return out, err
}

// EachBaselineEntry calls f with each entry BaselineEntries would return, in the same order,
// one at a time, from one snapshot; count, when not nil, is first called with how many there
// are. a is valid only during the call. An error from count or f stops it and is returned.
func (db *DB) EachBaselineEntry(ctx context.Context, paths []string, count func(int64) error, f func(a *Approved) error) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return db.wrap(err)
	}
	defer tx.Rollback()
	var wheres []string
	var args [][]any
	if len(paths) == 0 {
		wheres, args = append(wheres, ""), append(args, nil)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, "/") {
			wheres, args = append(wheres, " WHERE path >= ? AND path < ?"), append(args, []any{p, p[:len(p)-1] + "0"}) // '0' follows '/'
		} else {
			wheres, args = append(wheres, " WHERE path = ?"), append(args, []any{p})
		}
	}
	if count != nil {
		var total int64
		for i, w := range wheres {
			var n int64
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM baseline"+w, args[i]...).Scan(&n); err != nil {
				return db.wrap(err)
			}
			total += n
		}
		if err := count(total); err != nil {
			return err
		}
	}
	q := "SELECT " + rowCols + ", approved_ns, approved_by FROM baseline"
	for i, w := range wheres {
		if err := db.eachApproved(ctx, tx, q+w+" ORDER BY path", args[i], f); err != nil {
			return err
		}
	}
	return nil
}

// BaselinePackaged reports whether any baseline entry carries its package: the baseline was
// verified against a package database (pkgdb).
func (db *DB) BaselinePackaged(ctx context.Context) (bool, error) {
	var yes bool
	err := db.r.QueryRowContext(ctx, "SELECT EXISTS(SELECT 1 FROM baseline WHERE pkg_state != '')").Scan(&yes)
	return yes, db.wrap(err)
}

func (db *DB) eachApproved(ctx context.Context, tx *sql.Tx, q string, args []any, f func(*Approved) error) error {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return db.wrap(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Approved
		if a.Entry, err = scanEntry(rows, &a.ApprovedNS, &a.ApprovedBy); err != nil {
			return db.wrap(err)
		}
		if err := f(&a); err != nil {
			return err
		}
	}
	return db.wrap(rows.Err())
}

// State is the last observed state of a path that differs from its baseline.
type State struct {
	baseline.Entry
	Present bool  // false: deleted since the baseline
	SeenNS  int64 // when it was observed
}

// States returns the whole state table (small: only drift from the baseline), keyed by path.
func (db *DB) States(ctx context.Context) (map[string]State, error) {
	return db.states(ctx, db.r)
}

// StateIter iterates over the drift rows in the byte order of paths, as BaselineIter does over
// the baseline, so that a scan merges them with its walk instead of holding them all.
type StateIter struct {
	db   *DB
	rows *sql.Rows
	err  error
}

// StateRows returns an iterator over every drift row, from a snapshot. Close it when done.
func (db *DB) StateRows(ctx context.Context) (*StateIter, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+rowCols+", present, seen_ns FROM state ORDER BY path")
	if err != nil {
		return nil, db.wrap(err)
	}
	return &StateIter{db: db, rows: rows}, nil
}

// Next returns the next drift row, or false at the end or on error (see Err).
func (it *StateIter) Next() (State, bool) {
	if it.err != nil || !it.rows.Next() {
		return State{}, false
	}
	var s State
	var present int
	var err error
	if s.Entry, err = scanEntry(it.rows, &present, &s.SeenNS); err != nil {
		it.err = it.db.wrap(err)
		return State{}, false
	}
	s.Present = present != 0
	return s, true
}

// Err returns the error that ended the iteration, if any.
func (it *StateIter) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.db.wrap(it.rows.Err())
}

// Close releases the snapshot.
func (it *StateIter) Close() error { return it.rows.Close() }

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (db *DB) states(ctx context.Context, q querier) (map[string]State, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+rowCols+", present, seen_ns FROM state")
	if err != nil {
		return nil, db.wrap(err)
	}
	defer rows.Close()
	out := map[string]State{}
	for rows.Next() {
		var s State
		var present int
		s.Entry, err = scanEntry(rows, &present, &s.SeenNS)
		if err != nil {
			return nil, db.wrap(err)
		}
		s.Present = present != 0
		out[s.Path] = s
	}
	return out, db.wrap(rows.Err())
}

// Lookup returns what is known of a path: its drift row (nil when it has none; Present false when
// it was last seen deleted) and its baseline entry (nil when it has none).
func (t *Tx) Lookup(ctx context.Context, path string) (*State, *baseline.Entry, error) {
	var st *State
	var present int
	var seen int64
	e, err := scanEntry(t.queryRow(ctx, sqlStateOf, path), &present, &seen)
	switch {
	case err == nil:
		st = &State{Entry: e, Present: present != 0, SeenNS: seen}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, nil, t.db.wrap(err)
	}
	base, err := t.db.baselineEntry(ctx, t, path)
	return st, base, err
}

func (db *DB) baselineEntry(ctx context.Context, tx *Tx, path string) (*baseline.Entry, error) {
	row := tx.queryRow(ctx, sqlBaselineOf, path)
	e, err := scanEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, db.wrap(err)
	}
	return &e, nil
}

// PutBaseline approves an entry (insert or replace).
func (t *Tx) PutBaseline(ctx context.Context, e *baseline.Entry, approvedNS int64, by string) error {
	if err := t.trustBaseline(ctx); err != nil {
		return err
	}
	args := append(entryArgs(e), approvedNS, by)
	t.baselineChanged, t.approvedBy, t.approvedNS = true, by, approvedNS
	if err := t.exec(ctx, sqlPutBaseline, args...); err != nil {
		t.grown = nil
		return err
	}
	if t.grown != nil {
		t.grown.add(e, approvedNS, by, &t.grown)
	}
	return nil
}

// DeleteBaseline removes a path from the baseline, as approved by by at approvedNS.
func (t *Tx) DeleteBaseline(ctx context.Context, path, by string, approvedNS int64) error {
	if err := t.trustBaseline(ctx); err != nil {
		return err
	}
	t.baselineChanged, t.approvedBy, t.approvedNS = true, by, approvedNS
	t.grown = nil
	return t.exec(ctx, "DELETE FROM baseline WHERE path = ?", path)
}

// ClearBaseline removes every baseline and state row (before re-creating the baseline).
func (t *Tx) ClearBaseline(ctx context.Context) error {
	t.baselineChanged, t.baselineTrusted = true, true // starting over: nothing of the old one stays
	t.grown = nil
	if err := t.exec(ctx, "DELETE FROM baseline"); err != nil {
		return err
	}
	t.grown = &grownBaseline{}
	return t.exec(ctx, "DELETE FROM state")
}

// PutState records the last observed state of a path; present=false records a deletion.
func (t *Tx) PutState(ctx context.Context, e *baseline.Entry, present bool, seenNS int64) error {
	p := 0
	if present {
		p = 1
	}
	args := append(entryArgs(e), p, seenNS)
	return t.exec(ctx, sqlPutState, args...)
}

// DeleteState forgets the drift of a path (it is as the baseline says again).
func (t *Tx) DeleteState(ctx context.Context, path string) error {
	return t.exec(ctx, sqlDeleteState, path)
}

// Counts of the tables, for show and status.
type Counts struct {
	Baseline, State, History, Runs int64
}

// Count returns the row counts of the main tables. History counts changes and acceptances, not
// the seals of the baseline (approvals.go).
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := db.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM baseline), (SELECT count(*) FROM state),
		(SELECT count(*) FROM history WHERE source != '`+string(SourceApproval)+`'), (SELECT count(*) FROM runs)`).Scan(&c.Baseline, &c.State, &c.History, &c.Runs)
	return c, db.wrap(err)
}

// States returns every drift row, read inside the transaction: under the write lock, so no other
// writer changes one before this transaction commits.
func (t *Tx) States(ctx context.Context) (map[string]State, error) {
	return t.db.states(ctx, t.tx)
}
