package store

import (
	"context"
	"flag"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the committed seeds of FuzzOpen in testdata/fuzz/FuzzOpen")

const seedDir = "testdata/fuzz/FuzzOpen"

// maxSeedBytes bounds a committed seed file; a database is cut to fit.
const maxSeedBytes = 60 << 10

// trackedDB returns the bytes of a tripline database with a few rows of every table, with pages
// of pageSize bytes (0: SQLite's default). The WAL is checkpointed into the file.
func trackedDB(t testing.TB, pageSize int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	if pageSize != 0 {
		// A pristine file (no tables, no ids) with the page size; Open takes it.
		rawExec(t, path, "PRAGMA page_size = "+strconv.Itoa(pageSize), "CREATE TABLE x(a)", "DROP TABLE x", "VACUUM")
	}
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		run, err := tx.StartRun(ctx, "baseline", "/", "root", 1)
		if err != nil {
			return err
		}
		if err := tx.SetMeta(ctx, "root", "/"); err != nil {
			return err
		}
		for i, p := range []string{"/etc/cron.d/a", "/etc/cron.d/b\n", "/etc/rc.local"} {
			e := testEntry(p, i)
			if err := tx.PutBaseline(ctx, &e, 2, "root"); err != nil {
				return err
			}
			if err := tx.AddHistory(ctx, &Record{TimeNS: 3, RunID: run, Source: "scan", Path: p, Kind: "created", New: &e}); err != nil {
				return err
			}
		}
		e := testEntry("/etc/cron.d/a", 9)
		return tx.PutState(ctx, &e, true, 4)
	})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("the WAL was not checkpointed on Close")
	}
	return b
}

// sqliteFile returns the bytes of a SQLite file with 512-byte pages made by stmts.
func sqliteFile(t testing.TB, stmts ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seed.db")
	rawExec(t, path, append([]string{"PRAGMA page_size = 512"}, stmts...)...)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seeds are the committed inputs of FuzzOpen, each a case that once went wrong or is at an edge.
func seeds(t testing.TB) map[string][]byte {
	small := trackedDB(t, 512)
	// A tripline database whose schema text, quoted in SQLite's error, holds a newline.
	newline := filepath.Join(t.TempDir(), "newline.db")
	if err := os.WriteFile(newline, small, 0o600); err != nil {
		t.Fatal(err)
	}
	rawExec(t, newline, "PRAGMA writable_schema = ON",
		"UPDATE sqlite_schema SET sql = 'CREATE TABLE meta(key) ''x'||char(10)||'y''' WHERE name = 'meta'")
	newlineBytes, err := os.ReadFile(newline)
	if err != nil {
		t.Fatal(err)
	}
	big := trackedDB(t, 0)
	return map[string][]byte{
		"tripline-512":               small,
		"tripline-4096-cut":          big[:min(len(big), 8<<10)],
		"schema-error-with-newline":  newlineBytes,
		"negative-user-version":      sqliteFile(t, "PRAGMA user_version = -1"),
		"tripline-id-negative":       sqliteFile(t, "PRAGMA application_id = 1414678864", "PRAGMA user_version = -7"),
		"tripline-id-tables-exist":   sqliteFile(t, "PRAGMA application_id = 1414678864", "CREATE TABLE meta(a)"),
		"another-program":            sqliteFile(t, "CREATE TABLE foo(a TEXT)", "INSERT INTO foo VALUES('x')"),
		"another-program-id-version": sqliteFile(t, "PRAGMA application_id = 7", "PRAGMA user_version = 1"),
	}
}

func encodeSeed(b []byte) []byte {
	return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n")
}

// TestFuzzOpenSeeds checks the committed seeds; with -update it writes them anew.
func TestFuzzOpenSeeds(t *testing.T) {
	if *update {
		if err := os.MkdirAll(seedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds(t) {
			enc := encodeSeed(b)
			for len(enc) > maxSeedBytes {
				b = b[:len(b)*3/4]
				enc = encodeSeed(b)
			}
			if err := os.WriteFile(filepath.Join(seedDir, name), enc, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	ents, err := os.ReadDir(seedDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) < 3 {
		t.Errorf("%d seeds in %s, want at least 3 (regenerate with -update)", len(ents), seedDir)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(seedDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "go test fuzz v1\n[]byte(") {
			t.Errorf("%s: not a go test fuzz v1 file of one []byte", e.Name())
		}
		if len(b) > 64<<10 {
			t.Errorf("%s: %d bytes, want under 64 KiB", e.Name(), len(b))
		}
	}
}

// exercise runs the store's reads on db and reports errors that are not one line.
func exercise(t *testing.T, ctx context.Context, db *DB) {
	oneLine := func(what string, err error) {
		if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
			t.Errorf("%s: error is not one line: %q", what, err)
		}
	}
	_, err := db.States(ctx)
	oneLine("States", err)
	_, err = db.Count(ctx)
	oneLine("Count", err)
	_, _, err = db.Meta(ctx, "root")
	oneLine("Meta", err)
	_, err = db.BaselineEntries(ctx, "/etc/")
	oneLine("BaselineEntries", err)
	it, err := db.Baseline(ctx)
	oneLine("Baseline", err)
	if err == nil {
		for n := 0; n < 10000; n++ {
			if _, ok := it.Next(); !ok {
				break
			}
		}
		oneLine("Baseline iteration", it.Err())
		oneLine("BaselineIter.Close", it.Close())
	}
	oneLine("Close", db.Close())
}

func FuzzOpen(f *testing.F) {
	// 512-byte pages keep the database small (~10 KiB rather than ~40 KiB): the fuzzer mutates
	// and, for each new input, minimizes it byte by byte, at about a millisecond an execution.
	fresh := trackedDB(f, 512)
	flipped := slices.Clone(fresh)
	for _, off := range []int{19, 60, 63, 100, 512 + 8, 2*512 + 3, len(flipped) / 2, len(flipped) - 7} {
		flipped[off] ^= 0x5a
	}
	r := rand.New(rand.NewSource(1))
	text := make([]byte, 4096)
	for i := range text {
		text[i] = " \netaoinshrdlu/#*"[r.Intn(17)]
	}
	f.Add([]byte{})
	f.Add(fresh)
	f.Add(flipped)
	f.Add(text)

	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "tripline.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// Bounds, so that a hang fails rather than stalls the fuzzer: the context for what
		// honours it, and a watchdog that crashes the worker (recording the input) otherwise.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		wd := time.AfterFunc(20*time.Second, func() {
			buf := make([]byte, 1<<20)
			os.Stderr.Write(buf[:runtime.Stack(buf, true)])
			panic("FuzzOpen: the store hung")
		})
		defer wd.Stop()
		if db, err := OpenReadOnly(ctx, path); err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("OpenReadOnly: error is not one line: %q", err)
			}
		} else {
			exercise(t, ctx, db)
		}
		db, err := Open(ctx, path)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("Open: error is not one line: %q", err)
			}
			return
		}
		exercise(t, ctx, db)
		if ctx.Err() != nil {
			t.Errorf("the store took more than 10 s on %d bytes", len(data))
		}
	})
}
