package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openTest opens a fresh database in t.TempDir and closes it when the test ends.
func openTest(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tripline.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// rawOpen opens path with plain database/sql, bypassing the store; params are DSN parameters
// ("mode=ro"). It sets none of the store's pragmas.
func rawOpen(t testing.TB, path, params string) *sql.DB {
	t.Helper()
	dsn := "file:" + path
	if params != "" {
		dsn += "?" + params
	}
	h, err := sql.Open("sqlite3", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func rawExec(t testing.TB, path string, stmts ...string) {
	t.Helper()
	h, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetMaxOpenConns(1) // pragmas such as page_size apply to the connection
	for _, s := range stmts {
		if _, err := h.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func pragma(t testing.TB, h *sql.DB, name string) string {
	t.Helper()
	var v string
	if err := h.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

// checkMessage asserts err is a single line that names path and contains every want.
func checkMessage(t testing.TB, err error, path string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	if !strings.Contains(msg, path) {
		t.Errorf("error %q does not name %s", msg, path)
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not contain %q", msg, w)
		}
	}
}

func perm(t testing.TB, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode()
}

func TestOpenCreates(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "var", "lib")
	path := filepath.Join(dir, "tripline", "tripline.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	for _, d := range []string{filepath.Join(dir, ".."), dir, filepath.Dir(path)} {
		if m := perm(t, d); !m.IsDir() || m.Perm() != 0o700 {
			t.Errorf("%s: mode %v, want drwx------", d, m)
		}
	}
	if m := perm(t, path); !m.IsRegular() || m.Perm() != 0o600 {
		t.Errorf("%s: mode %v, want -rw-------", path, m)
	}

	// The WAL and its index hold the same data as the file; they must be as private.
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if m := perm(t, path+suffix); m.Perm() != 0o600 {
			t.Errorf("%s%s: mode %v, want -rw-------", path, suffix, m)
		}
	}

	// Read back through a connection of our own: the settings are in the file, not the DSN.
	raw := rawOpen(t, path, "mode=ro")
	if got := pragma(t, raw, "journal_mode"); got != "wal" {
		t.Errorf("journal_mode = %q, want wal", got)
	}
	if got, want := pragma(t, raw, "user_version"), fmt.Sprint(SchemaVersion()); got != want {
		t.Errorf("user_version = %s, want %s", got, want)
	}
	if got, want := pragma(t, raw, "application_id"), fmt.Sprint(0x54524950); got != want {
		t.Errorf("application_id = %s, want %s (TRIP)", got, want)
	}
	if SchemaVersion() < 1 {
		t.Errorf("SchemaVersion() = %d, want the number of migrations (>= 1)", SchemaVersion())
	}
	// The writer's connection settings.
	var fk, timeout int
	if err := db.w.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("writer foreign_keys = %d, %v; want 1", fk, err)
	}
	if err := db.w.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != BusyTimeoutMS {
		t.Errorf("writer busy_timeout = %d, %v; want %d", timeout, err, BusyTimeoutMS)
	}
	if err := db.r.QueryRow("PRAGMA busy_timeout").Scan(&timeout); err != nil || timeout != BusyTimeoutMS {
		t.Errorf("reader busy_timeout = %d, %v; want %d", timeout, err, BusyTimeoutMS)
	}
}

func schemaOf(t testing.TB, path string) string {
	t.Helper()
	rows, err := rawOpen(t, path, "mode=ro").Query("SELECT type, name, sql FROM sqlite_schema ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name string
		var text sql.NullString
		if err := rows.Scan(&typ, &name, &text); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, text.String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tripline.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry("/etc/passwd", 1)
	if err := tx.PutBaseline(ctx, &e, 7, "root"); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMeta(ctx, "root", "/"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	schema := schemaOf(t, path)
	if !strings.Contains(schema, "table baseline") || !strings.Contains(schema, "table history") {
		t.Fatalf("schema lacks the tables:\n%s", schema)
	}

	for i := 0; i < 3; i++ {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if v, ok, err := db.Meta(ctx, "root"); err != nil || !ok || v != "/" {
			t.Errorf("reopen %d: Meta(root) = %q, %v, %v; want /", i, v, ok, err)
		}
		c, err := db.Count(ctx)
		if err != nil || c.Baseline != 1 {
			t.Errorf("reopen %d: Count = %+v, %v; want 1 baseline row", i, c, err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if got := schemaOf(t, path); got != schema {
			t.Errorf("reopen %d changed the schema:\n%s\nwant:\n%s", i, got, schema)
		}
		if got := pragma(t, rawOpen(t, path, "mode=ro"), "user_version"); got != fmt.Sprint(SchemaVersion()) {
			t.Errorf("reopen %d: user_version = %s", i, got)
		}
	}

	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if v, ok, err := ro.Meta(ctx, "root"); err != nil || !ok || v != "/" {
		t.Errorf("read-only Meta(root) = %q, %v, %v; want /", v, ok, err)
	}
	if _, err := ro.Begin(ctx); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Begin on a read-only DB: %v, want an error saying read-only", err)
	}
}

// Two processes starting on a new file (the daemon and a scan at first boot) both migrate it.
func TestOpenConcurrentFirstOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		path := filepath.Join(t.TempDir(), "tripline.db")
		errs := make(chan error, 4)
		for j := 0; j < cap(errs); j++ {
			go func() {
				db, err := Open(ctx, path)
				if err == nil {
					_, err = db.Count(ctx)
					db.Close()
				}
				errs <- err
			}()
		}
		for j := 0; j < cap(errs); j++ {
			if err := <-errs; err != nil {
				t.Errorf("round %d: concurrent Open: %v", i, err)
			}
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A database of another version of tripline, with user_version set as given.
	tripline := func(t *testing.T, path string, version int) {
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		rawExec(t, path, fmt.Sprintf("PRAGMA user_version = %d", version))
	}
	tests := []struct {
		name     string
		make     func(t *testing.T, path string)
		readOnly bool     // call OpenReadOnly instead of Open
		is       error    // errors.Is target, if any
		want     []string // substrings of the message
	}{
		{
			name: "not SQLite",
			make: func(t *testing.T, path string) {
				line := "# crontab: m h dom mon dow command\n"
				os.WriteFile(path, []byte(strings.Repeat(line, 4096/len(line)+1)[:4096]), 0o600)
			},
			want: []string{"not a SQLite database", "--db"},
		},
		{
			name: "not SQLite read-only",
			make: func(t *testing.T, path string) {
				os.WriteFile(path, []byte(strings.Repeat("x", 4096)), 0o600)
			},
			readOnly: true,
			want:     []string{"not a SQLite database", "--db"},
		},
		{
			name: "another program",
			make: func(t *testing.T, path string) {
				rawExec(t, path, "CREATE TABLE foo(a TEXT, b INTEGER)", "INSERT INTO foo VALUES('x', 1)")
			},
			want: []string{"another program", "--db"},
		},
		{
			name: "another program read-only",
			make: func(t *testing.T, path string) {
				rawExec(t, path, "CREATE TABLE foo(a TEXT, b INTEGER)")
			},
			readOnly: true,
			want:     []string{"another program", "--db"},
		},
		{
			name: "another program empty with its application_id",
			make: func(t *testing.T, path string) { rawExec(t, path, "PRAGMA application_id = 42") },
			want: []string{"another program"},
		},
		{
			name: "another program empty with a user_version",
			make: func(t *testing.T, path string) { rawExec(t, path, "PRAGMA user_version = 1") },
			want: []string{"another program"},
		},
		{
			name: "too new",
			make: func(t *testing.T, path string) { tripline(t, path, SchemaVersion()+1) },
			is:   ErrTooNew,
			want: []string{"upgrade tripline", fmt.Sprint(SchemaVersion() + 1)},
		},
		{
			name:     "too new read-only",
			make:     func(t *testing.T, path string) { tripline(t, path, SchemaVersion()+1) },
			readOnly: true,
			is:       ErrTooNew,
			want:     []string{"upgrade tripline"},
		},
		{
			name: "negative schema version",
			make: func(t *testing.T, path string) { tripline(t, path, -1) },
			want: []string{"invalid schema version -1", "move it aside"},
		},
		{
			name:     "negative schema version read-only",
			make:     func(t *testing.T, path string) { tripline(t, path, -1) },
			readOnly: true,
			want:     []string{"invalid schema version -1"},
		},
		{
			name: "pristine with a negative version",
			make: func(t *testing.T, path string) { rawExec(t, path, "PRAGMA user_version = -1") },
			want: []string{"another program"},
		},
		{
			name:     "missing read-only",
			make:     func(t *testing.T, path string) {},
			readOnly: true,
			is:       ErrNoDatabase,
			want:     []string{"tripline scan"},
		},
		{
			name:     "empty file read-only",
			make:     func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) },
			readOnly: true,
			want:     []string{"older", "tripline scan"},
		},
		{
			name: "directory",
			make: func(t *testing.T, path string) { os.Mkdir(path, 0o700) },
			want: []string{"is a directory", filepath.Join("tripline.db", "tripline.db")},
		},
		{
			name:     "directory read-only",
			make:     func(t *testing.T, path string) { os.Mkdir(path, 0o700) },
			readOnly: true,
			want:     []string{"is a directory"},
		},
		{
			name: "fifo",
			make: func(t *testing.T, path string) {
				if err := syscall.Mkfifo(path, 0o600); err != nil {
					t.Skip(err)
				}
			},
			want: []string{"not a regular file", "--db"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tripline.db")
			tt.make(t, path)
			var before []byte // nil for a directory, a FIFO or a missing file
			if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
				before, _ = os.ReadFile(path)
			}
			var db *DB
			var err error
			if tt.readOnly {
				db, err = OpenReadOnly(ctx, path)
			} else {
				db, err = Open(ctx, path)
			}
			if err == nil {
				db.Close()
				t.Fatal("opened, want a refusal")
			}
			if db != nil {
				t.Error("refusal returned a non-nil DB")
			}
			checkMessage(t, err, path, tt.want...)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			// A refused file is left as it was: not converted to WAL, not created.
			var after []byte
			if st, err := os.Lstat(path); err == nil && st.Mode().IsRegular() {
				after, _ = os.ReadFile(path)
			}
			if string(after) != string(before) {
				t.Errorf("the refused file was modified")
			}
			// (A reader of a WAL database needs the WAL and its index: OpenReadOnly may create them.)
			if _, err := os.Stat(path + "-wal"); err == nil && !tt.readOnly {
				t.Errorf("a WAL was created next to the refused file")
			}
			if tt.is == ErrNoDatabase {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("OpenReadOnly created %s (stat: %v)", path, err)
				}
			}
		})
	}
}

// corrupted returns the path of a copy of a real database, damaged by damage.
func corrupted(t *testing.T, damage func(b []byte, pageSize int) []byte) string {
	t.Helper()
	ctx := context.Background()
	db, path := openTest(t)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Enough rows for every table to span pages beyond the second.
	for i := 0; i < 400; i++ {
		e := testEntry(fmt.Sprintf("/etc/cron.d/job-%04d", i), i)
		if err := tx.PutBaseline(ctx, &e, int64(i), "root"); err != nil {
			t.Fatal(err)
		}
		if i%4 == 0 {
			if err := tx.PutState(ctx, &e, i%8 == 0, int64(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.AddHistory(ctx, &Record{TimeNS: int64(i), Source: "scan", Path: e.Path, Kind: "created", New: &e}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.SetMeta(ctx, "root", "/"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close() // checkpoints the WAL into the file and removes it
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(b[16])<<8 | int(b[17])
	if pageSize == 1 {
		pageSize = 65536
	}
	if len(b) < 8*pageSize {
		t.Fatalf("database has %d bytes, want several pages of %d", len(b), pageSize)
	}
	out := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(out, damage(b, pageSize), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// useAll runs every read of the store and a write on a damaged database and returns the errors.
func useAll(ctx context.Context, path string) []error {
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	db, err := Open(ctx, path)
	if err != nil {
		return []error{err}
	}
	defer db.Close()
	_, err = db.States(ctx)
	note(err)
	_, err = db.Count(ctx)
	note(err)
	_, _, err = db.Meta(ctx, "root")
	note(err)
	_, err = db.BaselineEntries(ctx, "/etc/cron.d/")
	note(err)
	if it, err := db.Baseline(ctx); err != nil {
		note(err)
	} else {
		for n := 0; n < 10000; n++ {
			if _, ok := it.Next(); !ok {
				break
			}
		}
		note(it.Err())
		it.Close()
	}
	if tx, err := db.Begin(ctx); err != nil {
		note(err)
	} else {
		e := testEntry("/etc/cron.d/zz-new", 1)
		note(tx.PutBaseline(ctx, &e, 1, "root"))
		note(tx.AddHistory(ctx, &Record{Source: "scan", Path: e.Path, Kind: "created", New: &e}))
		note(tx.Commit())
	}
	return errs
}

func TestOpenCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(b []byte, pageSize int) []byte
	}{
		{"garbage from the middle of page 2", func(b []byte, ps int) []byte {
			rand.New(rand.NewSource(1)).Read(b[ps+ps/2:])
			return b
		}},
		{"garbage in the middle of every page after the first", func(b []byte, ps int) []byte {
			r := rand.New(rand.NewSource(2))
			for off := ps; off+ps <= len(b); off += ps {
				r.Read(b[off+ps/4 : off+3*ps/4])
			}
			return b
		}},
		{"page headers zeroed", func(b []byte, ps int) []byte {
			for off := ps; off+ps <= len(b); off += ps {
				clear(b[off : off+12])
			}
			return b
		}},
		{"truncated to one and a half pages", func(b []byte, ps int) []byte { return b[:ps+ps/2] }},
		{"truncated to half", func(b []byte, ps int) []byte { return b[:len(b)/2] }},
		{"truncated inside the header", func(b []byte, ps int) []byte { return b[:50] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := corrupted(t, tt.damage)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			done := make(chan []error, 1)
			go func() { done <- useAll(ctx, path) }()
			var errs []error
			select {
			case errs = <-done:
			case <-time.After(15 * time.Second):
				t.Fatal("the damaged database hung the store")
			}
			if len(errs) == 0 {
				t.Fatal("every operation on the damaged database succeeded")
			}
			for _, err := range errs {
				if errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("operation ran into the deadline: %v", err)
				}
				checkMessage(t, err, path)
				msg := err.Error()
				if !strings.Contains(msg, "corrupt") && !strings.Contains(msg, "not a SQLite database") {
					t.Errorf("error %q says neither corrupt nor not a SQLite database", msg)
				}
			}
			t.Logf("%d errors, first: %v", len(errs), errs[0])
		})
	}
}

// A writer holding its transaction blocks other writers for BusyTimeoutMS, never readers.
func TestLocking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db1, path := openTest(t)
	tx, err := db1.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry("/etc/shadow", 1)
	if err := tx.PutBaseline(ctx, &e, 1, "root"); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetMeta(ctx, "root", "/"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	// db1 now holds the write lock with uncommitted writes.
	tx1, err := db1.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback()
	e2 := testEntry("/etc/sudoers", 2)
	if err := tx1.PutBaseline(ctx, &e2, 2, "root"); err != nil {
		t.Fatal(err)
	}
	if err := tx1.PutState(ctx, &e2, true, 2); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	db2, err := Open(ctx, path) // up to date: needs no write lock
	if err != nil {
		t.Fatalf("Open while another handle writes: %v", err)
	}
	defer db2.Close()
	if d := time.Since(start); d > time.Second {
		t.Errorf("Open waited %v for the writer", d)
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatalf("OpenReadOnly while another handle writes: %v", err)
	}
	defer ro.Close()

	reads := func(when string) {
		for _, h := range []*DB{db2, ro} {
			it, err := h.Baseline(ctx)
			if err != nil {
				t.Fatalf("%s: Baseline: %v", when, err)
			}
			var paths []string
			for a, ok := it.Next(); ok; a, ok = it.Next() {
				paths = append(paths, a.Path)
			}
			if err := it.Err(); err != nil {
				t.Errorf("%s: Baseline iteration: %v", when, err)
			}
			it.Close()
			if len(paths) != 1 || paths[0] != "/etc/shadow" {
				t.Errorf("%s: Baseline = %q, want only the committed /etc/shadow", when, paths)
			}
			if st, err := h.States(ctx); err != nil || len(st) != 0 {
				t.Errorf("%s: States = %v, %v; want none (uncommitted)", when, st, err)
			}
			if v, ok, err := h.Meta(ctx, "root"); err != nil || !ok || v != "/" {
				t.Errorf("%s: Meta = %q, %v, %v", when, v, ok, err)
			}
			if c, err := h.Count(ctx); err != nil || c.Baseline != 1 || c.State != 0 {
				t.Errorf("%s: Count = %+v, %v; want 1 baseline row, no state", when, c, err)
			}
			if got, err := h.BaselineEntries(ctx, "/etc/"); err != nil || len(got) != 1 {
				t.Errorf("%s: BaselineEntries = %d rows, %v", when, len(got), err)
			}
		}
	}
	reads("before the second Begin")

	type result struct {
		tx  *Tx
		err error
		dur time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		tx, err := db2.Begin(ctx)
		done <- result{tx, err, time.Since(start)}
	}()
	reads("while the second Begin waits")
	var r result
	select {
	case r = <-done:
	case <-time.After(BusyTimeoutMS*time.Millisecond + 10*time.Second):
		t.Fatal("second Begin did not give up after the busy timeout")
	}
	if r.err == nil {
		r.tx.Rollback()
		t.Fatal("second Begin succeeded while the first writer holds its transaction")
	}
	t.Logf("second Begin failed after %v: %v", r.dur, r.err)
	checkMessage(t, r.err, path, "locked", "try again")
	if min := BusyTimeoutMS * time.Millisecond * 9 / 10; r.dur < min {
		t.Errorf("second Begin failed after %v, want about %v (the busy timeout)", r.dur, min)
	}

	// Once the first writer commits, the second handle writes.
	if err := tx1.Commit(); err != nil {
		t.Fatal(err)
	}
	tx2, err := db2.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin after the writer committed: %v", err)
	}
	if err := tx2.DeleteState(ctx, e2.Path); err != nil {
		t.Fatal(err)
	}
	if err := tx2.Commit(); err != nil {
		t.Fatal(err)
	}
	if c, err := ro.Count(ctx); err != nil || c.Baseline != 2 || c.State != 0 {
		t.Errorf("Count after both commits = %+v, %v; want 2 baseline rows, no state", c, err)
	}
}

// Begin fails at once with a cancelled context, and a failed Begin leaves the handle usable.
func TestBeginCancelled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, path := openTest(t)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	tx, err := db.Begin(cctx)
	if err == nil {
		tx.Rollback()
		t.Fatal("Begin with a cancelled context succeeded")
	}
	checkMessage(t, err, path)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Begin with a cancelled context: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Begin with a cancelled context took %v", d)
	}
	tx, err = db.Begin(ctx)
	if err != nil {
		t.Fatalf("Begin after a cancelled Begin: %v", err)
	}
	tx.Rollback()
}
