package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tripline/tripline/baseline"
)

// ErrUnavailable is wrapped by every error that says the database cannot be written now, for a
// reason outside tripline that may pass: another process holds the write lock (SQLITE_BUSY,
// SQLITE_LOCKED), the filesystem is full (SQLITE_FULL), it is read-only (SQLITE_READONLY, a
// read-only remount), an I/O error (SQLITE_IOERR), or the file cannot be opened
// (SQLITE_CANTOPEN). A transaction that failed so was rolled back. Callers tell it from a bug
// with errors.Is and try again later; every other error is one to stop on.
var ErrUnavailable = errors.New("database unavailable")

// unavailableError is a wrapped SQLite error that is ErrUnavailable too; its message is the one
// written for people.
type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string   { return e.msg }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }
func unavailablef(err error, format string, a ...any) error {
	return &unavailableError{msg: fmt.Sprintf(format, a...), err: err}
}

// LookupLast returns what is known of a path, as Tx.Lookup does, read from the read-only pool:
// in WAL mode it is not blocked by another process's write lock, and it works on a full disk,
// so a daemon whose writes fail can still judge a change against the last recorded observation.
func (db *DB) LookupLast(ctx context.Context, path string) (*State, *baseline.Entry, error) {
	var st *State
	var present int
	var seen int64
	e, err := scanEntry(db.r.QueryRowContext(ctx, sqlStateOf, path), &present, &seen)
	switch {
	case err == nil:
		st = &State{Entry: e, Present: present != 0, SeenNS: seen}
	case !errors.Is(err, sql.ErrNoRows):
		return nil, nil, db.wrap(err)
	}
	be, err := scanEntry(db.r.QueryRowContext(ctx, sqlBaselineOf, path))
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil, nil
	}
	if err != nil {
		return nil, nil, db.wrap(err)
	}
	return st, &be, nil
}

// SetWriteWait sets how long the writer waits for another process's write lock before a
// statement fails with ErrUnavailable (BusyTimeoutMS by default). A daemon sets it short, so a
// held lock queues its observations instead of holding back its alerts. It applies to the
// writer's one connection; should database/sql replace that connection, the default applies
// again.
func (db *DB) SetWriteWait(ctx context.Context, d time.Duration) error {
	if db.w == nil {
		return fmt.Errorf("database %s: opened read-only", db.path)
	}
	_, err := db.w.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(d.Milliseconds(), 10))
	return db.wrap(err)
}

// Meta key of the daemon's heartbeat: the last moment a daemon is known to have run.
const metaHeartbeat = "daemon_heartbeat_ns"

// Heartbeat records that a daemon runs at nowNS, in this transaction: the daemon writes it with
// each of its commits and when it stops, so the next start knows where its gap begins.
func (t *Tx) Heartbeat(ctx context.Context, nowNS int64) error {
	return t.SetMeta(ctx, metaHeartbeat, strconv.FormatInt(nowNS, 10))
}

// LastAlive returns the last moment a daemon (or, before the first heartbeat, anything that
// wrote the history or a run) is known to have run on this database; 0 when nothing did.
func (db *DB) LastAlive(ctx context.Context) (int64, error) {
	if v, ok, err := db.Meta(ctx, metaHeartbeat); err != nil {
		return 0, err
	} else if ok {
		ns, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("database %s: meta %s %q: not a time", db.path, metaHeartbeat, v)
		}
		return ns, nil
	}
	var ns int64
	err := db.r.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(time_ns) FROM history), 0),
		coalesce((SELECT max(max(started_ns, finished_ns)) FROM runs), 0))`).Scan(&ns)
	return ns, db.wrap(err)
}
