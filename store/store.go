// Package store is tripline's SQLite database (mattn/go-sqlite3): the schema and its embedded,
// forward-only migrations, the approved baseline, the last-seen state, runs and the append-only
// history. It persists the domain types of the other packages and makes no decisions.
//
// A DB has two handles: one writer connection (transactions take the write lock up front) and a
// read-only pool, so queries work while another process writes. Both run in WAL mode with a busy
// timeout.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"golang.org/x/sys/unix"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// applicationID marks a SQLite file as tripline's ("TRIP").
const applicationID = 0x54524950

// BusyTimeoutMS is how long a statement waits for another writer before failing.
const BusyTimeoutMS = 5000

// ErrNoDatabase is returned by OpenReadOnly when the file does not exist.
var ErrNoDatabase = errors.New("no database yet (run `tripline scan` first to record a baseline)")

// ErrTooNew means the database was written by a newer tripline.
var ErrTooNew = errors.New("written by a newer tripline")

// DB is an open tripline database. It is safe for concurrent use.
type DB struct {
	path string
	w    *sql.DB // nil when read-only
	r    *sql.DB

	prepared map[string]*sql.Stmt // hot statements on w, by SQL text; read-only after Open
}

// Path returns the database file name.
func (db *DB) Path() string { return db.path }

func migrations() ([]string, error) {
	names, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		out = append(out, n.Name())
	}
	sort.Strings(out)
	return out, nil
}

// SchemaVersion is the schema this binary writes.
func SchemaVersion() int {
	m, _ := migrations()
	return len(m)
}

func dsn(path string, write bool) string {
	v := url.Values{}
	v.Set("_busy_timeout", fmt.Sprint(BusyTimeoutMS))
	v.Set("_foreign_keys", "on")
	v.Set("_synchronous", "NORMAL")
	if write {
		// No _journal_mode here: switching to WAL writes the file, and check must first make sure
		// the file is tripline's. check sets WAL, which then persists in the file.
		v.Set("_txlock", "immediate")
	} else {
		v.Set("mode", "ro")
		v.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// notRegular refuses a database path that names a directory, device or other special file.
func notRegular(path string, st os.FileInfo) error {
	if st.IsDir() {
		return fmt.Errorf("database %s: is a directory (give the name of the database file, e.g. %s)", path, filepath.Join(path, "tripline.db"))
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("database %s: not a regular file (choose another file with --db)", path)
	}
	return nil
}

// Open opens (creating when needed) the database at path for reading and writing, applies any
// pending migrations, and checks that it is a tripline database in WAL mode. The directory is
// created 0700 and the file 0600. A file that is not tripline's is refused before anything is
// written to it. Errors are one line.
func Open(ctx context.Context, path string) (*DB, error) {
	db, err := open(ctx, path)
	return db, singleLine(err)
}

func open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("database directory: %w", err)
	}
	if st, err := os.Stat(path); err == nil {
		if err := notRegular(path, st); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
		return nil, fmt.Errorf("database %s: read-only here (%v): tripline records every scan and change; choose a writable file with --db", path, errors.Unwrap(err))
	}
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	// SQLite's write-ahead log lives beside the file: a writable file in a read-only directory
	// would otherwise fail with "unable to open database file: no such file or directory".
	if err := unix.Faccessat(unix.AT_FDCWD, filepath.Dir(path), unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		f.Close()
		return nil, fmt.Errorf("database %s: its directory is read-only here (%v): SQLite keeps %s-wal and %s-shm beside the database; make the directory writable or choose another --db", path, err, filepath.Base(path), filepath.Base(path))
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if err := notRegular(path, st); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite3", dsn(path, true))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	db := &DB{path: path, w: w}
	if err := db.check(ctx, w, true); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := db.prepare(ctx); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db.r = r
	return db, nil
}

// OpenReadOnly opens an existing database for queries only. It never creates or migrates.
// Errors are one line.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	db, err := openReadOnly(ctx, path)
	return db, singleLine(err)
}

func openReadOnly(ctx context.Context, path string) (*DB, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s: %w", path, ErrNoDatabase)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if err := notRegular(path, st); err != nil {
		return nil, err
	}
	r, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db := &DB{path: path, r: r}
	if err := db.check(ctx, r, false); err != nil {
		r.Close()
		return nil, err
	}
	return db, nil
}

// Close closes both handles.
func (db *DB) Close() error {
	// The reader goes first: SQLite checkpoints the WAL into the database file and removes it
	// when the last connection closes, which a read-only connection cannot do.
	var errs []error
	for _, st := range db.prepared {
		st.Close()
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	return errors.Join(errs...)
}

// lineError prints an error on one line and keeps its chain for errors.Is and errors.As.
type lineError struct {
	msg string
	err error
}

func (e *lineError) Error() string { return e.msg }
func (e *lineError) Unwrap() error { return e.err }

// singleLine escapes line breaks in err's message: SQLite quotes schema text, which may hold
// newlines, in its messages, and a caller's log line must stay one line.
func singleLine(err error) error {
	if err == nil || !strings.ContainsAny(err.Error(), "\r\n") {
		return err
	}
	msg := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(err.Error())
	return &lineError{msg: msg, err: err}
}

// wrap turns SQLite's errors into one-line messages that say what to do.
func (db *DB) wrap(err error) error {
	return singleLine(db.wrapSQLite(err))
}

func (db *DB) wrapSQLite(err error) error {
	if err == nil {
		return nil
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB:
			return fmt.Errorf("database %s: not a SQLite database (move it aside or choose another file with --db)", db.path)
		case sqlite3.ErrCorrupt:
			return fmt.Errorf("database %s: corrupt (%v); move it aside and run `tripline scan` to record a new baseline", db.path, err)
		case sqlite3.ErrBusy, sqlite3.ErrLocked:
			return unavailablef(err, "database %s: locked by another process (another tripline writing, or a transaction left open?); try again", db.path)
		case sqlite3.ErrFull:
			return unavailablef(err, "database %s: the filesystem is full (%v); free space there", db.path, err)
		case sqlite3.ErrIoErr:
			return unavailablef(err, "database %s: I/O error (%v); check the disk and the kernel log", db.path, err)
		case sqlite3.ErrReadonly:
			return unavailablef(err, "database %s: read-only (%v)", db.path, err)
		case sqlite3.ErrCantOpen:
			return unavailablef(err, "database %s: cannot open (%v)", db.path, err)
		}
	}
	if strings.HasPrefix(err.Error(), "sql: Scan error on column") {
		// Every table is STRICT: a value of another type than its column's can only be damage.
		return fmt.Errorf("database %s: corrupt (%v); move it aside and run `tripline scan` to record a new baseline", db.path, err)
	}
	return fmt.Errorf("database %s: %w", db.path, err)
}

// check verifies the file is SQLite and tripline's (or empty), then, for the writer, puts it in
// WAL mode. Nothing is written before the file is known to be tripline's.
func (db *DB) check(ctx context.Context, h *sql.DB, write bool) error {
	// One statement, so one snapshot: another process may be migrating the file right now.
	var app, ver, tables int
	err := h.QueryRowContext(ctx, `SELECT (SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM sqlite_schema)`).Scan(&app, &ver, &tables)
	if err != nil {
		return db.wrap(err)
	}
	// Only a pristine file (what Open creates) may become tripline's.
	if app != applicationID && (tables > 0 || app != 0 || ver != 0) {
		return fmt.Errorf("database %s: a SQLite database of another program, not tripline's (choose another file with --db)", db.path)
	}
	if ver < 0 {
		return fmt.Errorf("database %s: invalid schema version %d (damaged or not tripline's; move it aside or choose another file with --db)", db.path, ver)
	}
	if ver > SchemaVersion() {
		return fmt.Errorf("database %s: schema version %d, %w (this one reads up to %d); upgrade tripline", db.path, ver, ErrTooNew, SchemaVersion())
	}
	if !write && ver < SchemaVersion() {
		return fmt.Errorf("database %s: schema version %d is older than this tripline's (%d); run `tripline scan` once as the database's owner to upgrade it", db.path, ver, SchemaVersion())
	}
	if write {
		if tables == 0 {
			// A new file gets incremental auto-vacuum, so that pruning can give pages back
			// (reclaim); it must be set before switching to WAL writes the file's first page.
			// Older files switch at their first prune.
			if _, err := h.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
				return db.wrap(err)
			}
		}
		mode, err := db.setWAL(ctx, h)
		if err != nil {
			return db.wrap(err)
		}
		if !strings.EqualFold(mode, "wal") {
			return fmt.Errorf("database %s: journal mode is %q, not wal (is it on a filesystem without shared memory?)", db.path, mode)
		}
	}
	return nil
}

// setWAL puts the file in WAL mode and returns the journal mode it is in then. Switching takes
// an exclusive lock for which SQLite does not wait (it fails with SQLITE_BUSY at once while
// another process opens the same new file), so it is retried for up to BusyTimeoutMS.
func (db *DB) setWAL(ctx context.Context, h *sql.DB) (string, error) {
	var mode string
	if err := h.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || strings.EqualFold(mode, "wal") {
		return mode, err
	}
	deadline := time.Now().Add(BusyTimeoutMS * time.Millisecond)
	for {
		err := h.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		var se sqlite3.Error
		if err == nil || !errors.As(err, &se) || se.Code != sqlite3.ErrBusy || time.Now().After(deadline) {
			return mode, err
		}
		t := time.NewTimer(10 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return mode, ctx.Err()
		case <-t.C:
		}
	}
}

// rolledBack refuses a database whose schema version is older than what it holds: seal rows
// (schema 4) under a version before 4 mean the version was set back, and migrating it would
// seal, or re-hash, whatever was edited meanwhile.
func rolledBack(ctx context.Context, tx *sql.Tx, ver int) error {
	if ver < 1 || ver >= 4 {
		return nil
	}
	var n int64
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM history WHERE source = ?", string(SourceApproval)).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("its schema version says %d, but it holds %d seals of the baseline, which schema 4 brought: the version was set back; refusing to migrate it (keep it as evidence, and start a new database with --db)", ver, n)
	}
	return nil
}

// goSteps complete a migration with work SQL cannot do, in its transaction.
var goSteps = map[string]func(context.Context, *sql.Tx) error{
	"003_chain.sql":           backfillChain,
	"004_approvals.sql":       sealAtUpgrade,
	"008_compact_history.sql": keyActors,
}

func (db *DB) migrate(ctx context.Context) error {
	names, err := migrations()
	if err != nil {
		return err
	}
	var ver int
	if err := db.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return db.wrap(err)
	}
	// Up to date: no write lock, so opening works while another process writes.
	for ver < len(names) {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return db.wrap(err)
		}
		// Read again under the write lock: another process opening the same new file may have
		// applied this migration while we waited.
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
			tx.Rollback()
			return db.wrap(err)
		}
		if ver >= len(names) {
			tx.Rollback()
			break
		}
		if ver < 0 {
			tx.Rollback()
			return fmt.Errorf("database %s: invalid schema version %d (damaged or not tripline's; move it aside or choose another file with --db)", db.path, ver)
		}
		if err := rolledBack(ctx, tx, ver); err != nil {
			tx.Rollback()
			return fmt.Errorf("database %s: %w", db.path, err)
		}
		body, err := migrationFS.ReadFile("migrations/" + names[ver])
		if err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", names[ver], db.wrap(err))
		}
		if step := goSteps[names[ver]]; step != nil {
			if err := step(ctx, tx); err != nil {
				tx.Rollback()
				return fmt.Errorf("migration %s: %w", names[ver], db.wrap(err))
			}
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", ver+1, applicationID)); err != nil {
			tx.Rollback()
			return db.wrap(err)
		}
		if err := tx.Commit(); err != nil {
			return db.wrap(err)
		}
		ver++
	}
	return nil
}

// reclaim gives the pages freed by a delete back to the filesystem. A database created before
// incremental auto-vacuum was the default is rebuilt once (VACUUM: it needs the database's size
// again in free disk space for a while and holds the write lock meanwhile); after that each call
// only truncates the free pages. The write-ahead log is then checkpointed so that the file's own
// size drops.
func (db *DB) reclaim(ctx context.Context) error {
	var mode int
	if err := db.w.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return db.wrap(err)
	}
	if mode != 2 { // 2: incremental
		if _, err := db.w.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL; VACUUM"); err != nil {
			return db.wrap(err)
		}
	} else {
		// incremental_vacuum frees one page per step: Exec would step it once, so it is read
		// to the end.
		rows, err := db.w.QueryContext(ctx, "PRAGMA incremental_vacuum")
		if err != nil {
			return db.wrap(err)
		}
		for rows.Next() {
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return db.wrap(err)
		}
	}
	_, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	return db.wrap(err)
}
