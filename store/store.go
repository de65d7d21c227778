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

	"github.com/mattn/go-sqlite3"
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
		v.Set("_journal_mode", "WAL")
		v.Set("_txlock", "immediate")
	} else {
		v.Set("mode", "ro")
		v.Set("_query_only", "1")
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

// Open opens (creating when needed) the database at path for reading and writing, applies any
// pending migrations, and checks that it is a tripline database in WAL mode. The directory is
// created 0700 and the file 0600.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("database directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("database %s: not a regular file", path)
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
	r, err := sql.Open("sqlite3", dsn(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	db.r = r
	return db, nil
}

// OpenReadOnly opens an existing database for queries only. It never creates or migrates.
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("database %s: %w", path, ErrNoDatabase)
		}
		return nil, fmt.Errorf("database %s: %w", path, err)
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
	var errs []error
	if db.w != nil {
		errs = append(errs, db.w.Close())
	}
	if db.r != nil {
		errs = append(errs, db.r.Close())
	}
	return errors.Join(errs...)
}

// wrap turns SQLite's errors into messages that say what to do.
func (db *DB) wrap(err error) error {
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
			return fmt.Errorf("database %s: locked by another process for more than %d ms (another tripline writing?); try again", db.path, BusyTimeoutMS)
		case sqlite3.ErrReadonly:
			return fmt.Errorf("database %s: read-only (%v)", db.path, err)
		case sqlite3.ErrCantOpen:
			return fmt.Errorf("database %s: cannot open (%v)", db.path, err)
		}
	}
	return fmt.Errorf("database %s: %w", db.path, err)
}

// check verifies the file is SQLite, in WAL mode, and tripline's (or empty).
func (db *DB) check(ctx context.Context, h *sql.DB, write bool) error {
	var mode string
	if err := h.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return db.wrap(err)
	}
	if write && !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("database %s: journal mode is %q, not wal (is it on a filesystem without shared memory?)", db.path, mode)
	}
	var app, ver int
	if err := h.QueryRowContext(ctx, "PRAGMA application_id").Scan(&app); err != nil {
		return db.wrap(err)
	}
	if err := h.QueryRowContext(ctx, "PRAGMA user_version").Scan(&ver); err != nil {
		return db.wrap(err)
	}
	var tables int
	if err := h.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil {
		return db.wrap(err)
	}
	if app != applicationID && (tables > 0 || app != 0) {
		return fmt.Errorf("database %s: a SQLite database of another program, not tripline's (choose another file with --db)", db.path)
	}
	if ver > SchemaVersion() {
		return fmt.Errorf("database %s: schema version %d, %w (this one reads up to %d); upgrade tripline", db.path, ver, ErrTooNew, SchemaVersion())
	}
	if !write && ver < SchemaVersion() {
		return fmt.Errorf("database %s: schema version %d is older than this tripline's (%d); run `tripline scan` once as the database's owner to upgrade it", db.path, ver, SchemaVersion())
	}
	return nil
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
	for i := ver; i < len(names); i++ {
		body, err := migrationFS.ReadFile("migrations/" + names[i])
		if err != nil {
			return err
		}
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return db.wrap(err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("database %s: migration %s: %w", db.path, names[i], db.wrap(err))
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", i+1, applicationID)); err != nil {
			tx.Rollback()
			return db.wrap(err)
		}
		if err := tx.Commit(); err != nil {
			return db.wrap(err)
		}
	}
	return nil
}

// Meta returns a value of the meta table.
func (db *DB) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := db.r.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, db.wrap(err)
	}
	return v, true, nil
}
