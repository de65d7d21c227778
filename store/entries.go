package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
)

const entryCols = "path, location, type, mode, uid, gid, size, inode, dev, nlink, mtime_ns, ctime_ns, btime_ns, target, sha256, hash_state"

type scanner interface{ Scan(dest ...any) error }

func scanEntry(s scanner, extra ...any) (baseline.Entry, error) {
	var e baseline.Entry
	var inode, dev int64
	dest := append([]any{&e.Path, &e.Location, &e.Type, &e.Mode, &e.UID, &e.GID, &e.Size, &inode, &dev,
		&e.Nlink, &e.MtimeNS, &e.CtimeNS, &e.BtimeNS, &e.Target, &e.SHA256, &e.HashState}, extra...)
	if err := s.Scan(dest...); err != nil {
		return e, err
	}
	e.Inode, e.Dev = uint64(inode), uint64(dev)
	return e, nil
}

func entryArgs(e *baseline.Entry) []any {
	return []any{e.Path, e.Location, string(e.Type), e.Mode, e.UID, e.GID, e.Size, int64(e.Inode), int64(e.Dev),
		e.Nlink, e.MtimeNS, e.CtimeNS, e.BtimeNS, e.Target, e.SHA256, string(e.HashState)}
}

// Approved is a baseline entry with its approval.
type Approved struct {
	baseline.Entry
	ApprovedNS int64  `json:"approved_ns"`
	ApprovedBy string `json:"approved_by"`
}

// BaselineIter iterates over the baseline in the byte order of paths (the order of baseline.Walk).
type BaselineIter struct {
	db   *DB
	rows *sql.Rows
	err  error
}

// Baseline returns an iterator over the whole baseline, read from a snapshot: writes made while
// it is open are not seen. Close it when done.
func (db *DB) Baseline(ctx context.Context) (*BaselineIter, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+entryCols+", approved_ns, approved_by FROM baseline ORDER BY path")
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
	q := "SELECT " + entryCols + ", approved_ns, approved_by FROM baseline"
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
	rows, err := q.QueryContext(ctx, "SELECT "+entryCols+", present, seen_ns FROM state")
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

// Counts of the tables, for show and status.
type Counts struct {
	Baseline, State, History, Runs int64
}

// Count returns the row counts of the main tables.
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := db.r.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM baseline), (SELECT count(*) FROM state),
		(SELECT count(*) FROM history), (SELECT count(*) FROM runs)`).Scan(&c.Baseline, &c.State, &c.History, &c.Runs)
	return c, db.wrap(err)
}

// Source names who observed a change recorded in the history.
type Source string

// Sources. The values are stable: they are the history's source column and "source" in every
// JSON output.
const (
	SourceScan      Source = "scan"      // a scan compared the host with the last observation
	SourceBaseline  Source = "baseline"  // the first scan, which records the baseline (a run's kind)
	SourceEvent     Source = "event"     // the watcher, after a kernel event
	SourceReconcile Source = "reconcile" // the watcher's scan after a gap
	SourceAccept    Source = "accept"    // baseline accept or update
	SourceRestore   Source = "restore"   // tripline restore
)

// Record is one row of the history.
type Record struct {
	TimeNS   int64
	RunID    int64
	Source   Source
	Path     string
	Location string
	Kind     baseline.Kind // created, deleted, modified, accepted, restored
	Flags    []string
	Old, New *baseline.Entry
	Rule     string
	Severity string
	Verdict  policy.Verdict
	Hits     any         // JSON-encoded as given
	Actor    *proc.Actor // nil when nobody is known
	By       string
	// Set by AddHistory: the row's id and its hash in the chain.
	ID   int64
	Hash string
}

// Tx is one write transaction. It holds the write lock from Begin to Commit or Rollback.
type Tx struct {
	db     *DB
	tx     *sql.Tx
	cancel context.CancelFunc
	stmts  map[string]*sql.Stmt
	// The chain's head as this transaction left it: read once, then advanced by AddHistory.
	headKnown bool
	headID    int64
	headHash  string
	// The content store's size as this transaction left it, once read.
	contentKnown bool
	contentBytes int64
	contentFull  bool
	contentEmpty bool            // the store was empty when first looked at
	contentPut   map[string]bool // contents this transaction stored
}

// Begin starts a write transaction, waiting up to BusyTimeoutMS for another writer (SQLite's
// wait does not end early when ctx does). Once Begin has returned, cancelling ctx fails the
// statements run with it but does not undo the transaction: what succeeded can be committed.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	if db.w == nil {
		return nil, fmt.Errorf("database %s: opened read-only", db.path)
	}
	// database/sql rolls a transaction back as soon as the context given to BeginTx is done, so
	// give it one that ctx ends only until BeginTx returns; Commit or Rollback release it.
	txCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	tx, err := db.w.BeginTx(txCtx, nil)
	if !stop() {
		// ctx ended during the wait: the transaction, if any, is being rolled back.
		if err == nil {
			tx.Rollback()
			err = ctx.Err()
		}
	}
	if err != nil {
		cancel()
		return nil, db.wrap(err)
	}
	return &Tx{db: db, tx: tx, cancel: cancel, stmts: map[string]*sql.Stmt{}}, nil
}

// The statements a daemon runs for every event. They are prepared once, when the database is
// opened (the writer's single connection is free then), and bound to each transaction after.
const (
	sqlPutBaseline = "INSERT OR REPLACE INTO baseline(" + entryCols + ", approved_ns, approved_by) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	sqlPutState    = "INSERT OR REPLACE INTO state(" + entryCols + ", present, seen_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	sqlDeleteState = "DELETE FROM state WHERE path = ?"
	sqlBaselineOf  = "SELECT " + entryCols + " FROM baseline WHERE path = ?"
	sqlStateOf     = "SELECT " + entryCols + ", present, seen_ns FROM state WHERE path = ?"
	sqlAddHistory  = `INSERT INTO history(id, time_ns, run_id, source, path, location, kind, flags, old, new, rule, severity, verdict, hits, actor, by, hash)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
)

var hotSQL = []string{sqlPutBaseline, sqlPutState, sqlDeleteState, sqlBaselineOf, sqlStateOf, sqlAddHistory}

// prepare readies the hot statements on the writer. Preparing later, while a transaction holds
// the only connection, would wait for that connection forever.
func (db *DB) prepare(ctx context.Context) error {
	db.prepared = map[string]*sql.Stmt{}
	for _, q := range hotSQL {
		st, err := db.w.PrepareContext(ctx, q)
		if err != nil {
			return db.wrap(err)
		}
		db.prepared[q] = st
	}
	return nil
}

// stmt returns q prepared for this transaction: a hot statement bound to it, or another prepared
// on the transaction's own connection.
func (t *Tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	var st *sql.Stmt
	if ps, ok := t.db.prepared[q]; ok {
		st = t.tx.StmtContext(ctx, ps)
	} else {
		var err error
		if st, err = t.tx.PrepareContext(ctx, q); err != nil {
			return nil, t.db.wrap(err)
		}
	}
	t.stmts[q] = st
	return st, nil
}

func (t *Tx) exec(ctx context.Context, q string, args ...any) error {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return t.db.wrap(err)
}

// queryRow runs a prepared query that returns at most one row.
func (t *Tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, q)
	if err != nil {
		// Let the caller's Scan report it, through a query that fails the same way.
		return t.tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Commit commits the transaction. The context of the statements does not apply: a commit is
// never half done because a signal arrived.
func (t *Tx) Commit() error {
	for _, st := range t.stmts {
		st.Close()
	}
	defer t.cancel()
	return t.db.wrap(t.tx.Commit())
}

// Rollback abandons the transaction; after Commit it does nothing.
func (t *Tx) Rollback() {
	for _, st := range t.stmts {
		st.Close()
	}
	t.tx.Rollback()
	t.cancel()
}

// PutBaseline approves an entry (insert or replace).
func (t *Tx) PutBaseline(ctx context.Context, e *baseline.Entry, approvedNS int64, by string) error {
	args := append(entryArgs(e), approvedNS, by)
	return t.exec(ctx, sqlPutBaseline, args...)
}

// DeleteBaseline removes a path from the baseline.
func (t *Tx) DeleteBaseline(ctx context.Context, path string) error {
	return t.exec(ctx, "DELETE FROM baseline WHERE path = ?", path)
}

// ClearBaseline removes every baseline and state row (before re-creating the baseline).
func (t *Tx) ClearBaseline(ctx context.Context) error {
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

// StartRun records the start of a run and returns its id.
func (t *Tx) StartRun(ctx context.Context, kind Source, root, by string, startedNS int64) (int64, error) {
	res, err := t.tx.ExecContext(ctx, "INSERT INTO runs(kind, started_ns, root, by) VALUES(?, ?, ?, ?)", string(kind), startedNS, root, by)
	if err != nil {
		return 0, t.db.wrap(err)
	}
	id, err := res.LastInsertId()
	return id, t.db.wrap(err)
}

// FinishRun records the end of a run.
func (t *Tx) FinishRun(ctx context.Context, id, finishedNS int64, files, findings, errs int) error {
	return t.exec(ctx, "UPDATE runs SET finished_ns = ?, files = ?, findings = ?, errors = ? WHERE id = ?", finishedNS, files, findings, errs, id)
}

func jsonOrNull(v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if e, ok := v.(*baseline.Entry); ok && e == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// AddHistory appends a record.
func (t *Tx) AddHistory(ctx context.Context, r *Record) error {
	old, err := jsonOrNull(r.Old)
	if err != nil {
		return err
	}
	cur, err := jsonOrNull(r.New)
	if err != nil {
		return err
	}
	hits, err := jsonOrNull(r.Hits)
	if err != nil {
		return err
	}
	var actor any
	if r.Actor != nil {
		if actor, err = jsonOrNull(r.Actor); err != nil {
			return err
		}
	}
	if !t.headKnown {
		if t.headID, t.headHash, err = head(ctx, t.tx); err != nil {
			return t.db.wrap(err)
		}
		t.headKnown = true
	}
	row := chainRow{ID: t.headID + 1, TimeNS: r.TimeNS, Source: string(r.Source), Path: r.Path, Location: r.Location, Kind: string(r.Kind),
		Flags: strings.Join(r.Flags, ","), Old: nullString(old), New: nullString(cur), Rule: r.Rule, Severity: r.Severity,
		Verdict: string(r.Verdict), Hits: nullString(hits), Actor: nullString(actor), By: r.By}
	var run any
	if r.RunID != 0 {
		run = r.RunID
		row.RunID = sql.NullInt64{Int64: r.RunID, Valid: true}
	}
	if row.Hash, err = rowHash(t.headHash, &row); err != nil {
		return fmt.Errorf("database %s: corrupt history (%v); 'tripline history --verify' says more", t.db.path, err)
	}
	if err := t.exec(ctx, sqlAddHistory, row.ID, r.TimeNS, run, row.Source, r.Path, r.Location, row.Kind, row.Flags, old, cur,
		r.Rule, r.Severity, row.Verdict, hits, actor, r.By, row.Hash); err != nil {
		return err
	}
	t.headID, t.headHash = row.ID, row.Hash
	r.ID, r.Hash = row.ID, row.Hash
	return nil
}

// nullString turns what jsonOrNull returns (nil or a string) into a chain column.
func nullString(v any) sql.NullString {
	if s, ok := v.(string); ok {
		return sql.NullString{String: s, Valid: true}
	}
	return sql.NullString{}
}

// AcceptResult says what an acceptance changed.
type AcceptResult struct {
	Approved []string // paths whose observed change is now the baseline
	Removed  []string // paths removed from the baseline (observed deleted)
	// Refreshed are paths whose drift carried no change (a new ctime or inode with the same
	// content and attributes): the baseline row is updated, no history row is written.
	Refreshed []string
	Unknown   []string // paths asked for that have no drift recorded
}

// Accept makes the last observed state the baseline: for every path in paths, or for every path
// with drift (in path order) when paths is empty. Each acceptance is recorded in the history with
// who ran it.
func (db *DB) Accept(ctx context.Context, paths []string, by string, nowNS int64) (AcceptResult, error) {
	var res AcceptResult
	tx, err := db.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	// Read the drift under the write lock: a state a writer records meanwhile must not be
	// deleted without being accepted.
	states, err := db.states(ctx, tx.tx)
	if err != nil {
		return res, err
	}
	var todo []State
	if len(paths) == 0 {
		for _, s := range states {
			todo = append(todo, s)
		}
		sort.Slice(todo, func(i, j int) bool { return todo[i].Path < todo[j].Path })
	} else {
		seen := map[string]bool{}
		for _, p := range paths {
			if seen[p] {
				continue
			}
			seen[p] = true
			s, ok := states[p]
			if !ok {
				res.Unknown = append(res.Unknown, p)
				continue
			}
			todo = append(todo, s)
		}
	}
	run, err := tx.StartRun(ctx, SourceAccept, "", by, nowNS)
	if err != nil {
		return res, err
	}
	for i := range todo {
		s := &todo[i]
		old, err := db.baselineEntry(ctx, tx, s.Path)
		if err != nil {
			return res, err
		}
		rec := &Record{TimeNS: nowNS, RunID: run, Source: SourceAccept, Path: s.Path, Location: s.Location,
			Kind: baseline.Accepted, Old: old, Rule: "", Severity: policy.SevNone.String(), Verdict: policy.VerdictAccepted, By: by}
		if s.Present {
			if err := tx.PutBaseline(ctx, &s.Entry, nowNS, by); err != nil {
				return res, err
			}
			if _, changed := baseline.Diff(old, &s.Entry); !changed {
				res.Refreshed = append(res.Refreshed, s.Path)
				if err := tx.DeleteState(ctx, s.Path); err != nil {
					return res, err
				}
				continue
			}
			rec.New = &s.Entry
			res.Approved = append(res.Approved, s.Path)
		} else {
			if err := tx.DeleteBaseline(ctx, s.Path); err != nil {
				return res, err
			}
			res.Removed = append(res.Removed, s.Path)
		}
		if err := tx.AddHistory(ctx, rec); err != nil {
			return res, err
		}
		if err := tx.DeleteState(ctx, s.Path); err != nil {
			return res, err
		}
	}
	if err := tx.FinishRun(ctx, run, nowNS, len(todo), 0, 0); err != nil {
		return res, err
	}
	return res, tx.Commit()
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
