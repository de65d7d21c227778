package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/tripline/tripline/proc"
)

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
	// The last actor AddHistory stored, its JSON and id: a burst of rows by one process shares
	// one *proc.Actor, encoded and looked up once.
	lastActor     *proc.Actor
	lastActorJSON string
	lastActorID   int64
	// entryBuf holds the encoded entries of the row being added.
	entryBuf []byte
	// The content store's size as this transaction left it, once read.
	contentKnown bool
	contentBytes int64
	contentFull  bool
	contentEmpty bool            // the store was empty when first looked at
	contentPut   map[uint64]bool // the keys of the contents this transaction stored (contentKey)
	// The baseline changed: Commit seals it (approvals.go), as approved by whom and when.
	baselineChanged bool
	approvedBy      string
	approvedNS      int64
	// baselineTrusted: the baseline was checked against its seal in this transaction (or
	// cleared), so it may be changed and sealed again: an acceptance never seals an edit.
	baselineTrusted bool
	// grown: the baseline was empty when this transaction first changed it and has only had rows
	// added since, in path order; leaves are those rows' leaves, so the seal need not read them
	// back (a first scan adds 200,000). nil otherwise.
	grown *grownBaseline
}

// Begin starts a write transaction, waiting up to BusyTimeoutMS for another writer (SQLite's
// wait does not end early when ctx does). Once Begin has returned, cancelling ctx fails the
// statements run with it but does not undo the transaction: what succeeded can be committed.
func (db *DB) Begin(ctx context.Context) (*Tx, error) {
	if db.w == nil {
		return nil, fmt.Errorf("database %s: opened read-only", db.path)
	}
	if ctx.Done() == nil {
		// Nothing can cancel ctx: the transaction and its statements run without the goroutine
		// per statement that database/sql and the driver start to watch a cancellable context
		// (the daemon's batches, a few thousand statements a second).
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return nil, db.wrap(err)
		}
		return &Tx{db: db, tx: tx, cancel: func() {}, stmts: map[string]*sql.Stmt{}}, nil
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
	sqlPutBaseline = "INSERT OR REPLACE INTO baseline(" + rowCols + ", approved_ns, approved_by) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	sqlPutState    = "INSERT OR REPLACE INTO state(" + rowCols + ", present, seen_ns) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
	sqlDeleteState = "DELETE FROM state WHERE path = ?"
	sqlBaselineOf  = "SELECT " + rowCols + " FROM baseline WHERE path = ?"
	sqlStateOf     = "SELECT " + rowCols + ", present, seen_ns FROM state WHERE path = ?"
	// A row of the history since schema 8 (read_ns NULL for a scan's row).
	sqlAddHistory = `INSERT INTO history(id, time_ns, run_id, source, path, location, kind, flags, old_entry, new_entry, rule, severity, verdict, hits, actor_id, by, hash, read_ns)
		VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`
)

var hotSQL = []string{sqlPutBaseline, sqlPutState, sqlDeleteState, sqlBaselineOf, sqlStateOf, sqlAddHistory, sqlActorByKey, sqlAddActor}

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
	if err := t.sealChanged(context.WithoutCancel(context.Background())); err != nil {
		t.Rollback()
		return err
	}
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
