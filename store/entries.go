package store

import (
	"context"
	"database/sql"
	"errors"
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

func entryArgs(e *baseline.Entry) []any {
	var pkg baseline.Package
	if e.Package != nil {
		pkg = *e.Package
	}
	return []any{e.Path, e.Location, string(e.Type), e.Mode, e.UID, e.GID, e.Size, int64(e.Inode), int64(e.Dev),
		e.Nlink, e.MtimeNS, e.CtimeNS, e.BtimeNS, e.Target, e.SHA256, string(e.HashState),
		pkg.Name, pkg.Version, pkg.Type, string(pkg.State), pkg.Detail}
}

// Approved is a baseline entry with its approval.
type Approved = baseline.Approved

// BaselineIter iterates over the baseline in the byte order of paths (the order of baseline.Walk).
type BaselineIter struct {
	db   *DB
	rows *sql.Rows
	err  error
}

// Baseline returns an iterator over the whole baseline, read from a snapshot: writes made while
// it is open are not seen. Close it when done.
func (db *DB) Baseline(ctx context.Context) (*BaselineIter, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+rowCols+", approved_ns, approved_by FROM baseline ORDER BY path")
	if err != nil {
		return nil, db.wrap(err)
	}
	return &BaselineIter{db: db, rows: rows}, nil
}

// Next returns the next entry, or false at the end or on error (see Err).
func (it *BaselineIter) Next() (Approved, bool) {
	if it.err != nil || !it.rows.Next() {
		return Approved{}, false
	}
	var a Approved
	var err error
	a.Entry, err = scanEntry(it.rows, &a.ApprovedNS, &a.ApprovedBy)
	if err != nil {
		it.err = it.db.wrap(err)
		return Approved{}, false
	}
	return a, true
}

// Err returns the error that ended the iteration, if any.
func (it *BaselineIter) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.db.wrap(it.rows.Err())
}

// Close releases the snapshot.
func (it *BaselineIter) Close() error { return it.rows.Close() }

// BaselineEntries returns the approved entries for the given paths, or for every path under
// prefix when prefix ends in "/", or all of them when paths is empty.
func (db *DB) BaselineEntries(ctx context.Context, paths ...string) ([]Approved, error) {
	var out []Approved
	q := "SELECT " + rowCols + ", approved_ns, approved_by FROM baseline"
	run := func(where string, args ...any) error {
		rows, err := db.r.QueryContext(ctx, q+where+" ORDER BY path", args...)
		if err != nil {
			return db.wrap(err)
		}
		defer rows.Close()
		for rows.Next() {
			var a Approved
			a.Entry, err = scanEntry(rows, &a.ApprovedNS, &a.ApprovedBy)
			if err != nil {
				return db.wrap(err)
			}
			out = append(out, a)
		}
		return db.wrap(rows.Err())
	}
	if len(paths) == 0 {
		return out, run("")
	}
	for _, p := range paths {
		var err error
		if strings.HasSuffix(p, "/") {
			err = run(" WHERE path >= ? AND path < ?", p, p[:len(p)-1]+"0") // '0' follows '/'
		} else {
			err = run(" WHERE path = ?", p)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
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
	return t.exec(ctx, sqlPutBaseline, args...)
}

// DeleteBaseline removes a path from the baseline, as approved by by at approvedNS.
func (t *Tx) DeleteBaseline(ctx context.Context, path, by string, approvedNS int64) error {
	if err := t.trustBaseline(ctx); err != nil {
		return err
	}
	t.baselineChanged, t.approvedBy, t.approvedNS = true, by, approvedNS
	return t.exec(ctx, "DELETE FROM baseline WHERE path = ?", path)
}

// ClearBaseline removes every baseline and state row (before re-creating the baseline).
func (t *Tx) ClearBaseline(ctx context.Context) error {
	t.baselineChanged, t.baselineTrusted = true, true // starting over: nothing of the old one stays
	if err := t.exec(ctx, "DELETE FROM baseline"); err != nil {
		return err
	}
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
