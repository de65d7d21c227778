package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A write lock held by another connection and a full database are ErrUnavailable, with messages
// that say which; the last observation can still be read meanwhile; an error of another kind is
// not ErrUnavailable.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db, path := openTest(t)
	e := testEntry("/etc/cron.daily/x", 1)
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.PutState(ctx, &e, true, 7) })

	t.Run("locked", func(t *testing.T) {
		other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		held, err := other.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer held.Rollback()
		if err := db.SetWriteWait(ctx, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		defer db.SetWriteWait(ctx, BusyTimeoutMS*time.Millisecond)
		_, err = db.Begin(ctx)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "locked by another process") {
			t.Fatalf("Begin under another's write lock: %v; want ErrUnavailable saying it is locked", err)
		}
		st, _, err := db.LookupLast(ctx, e.Path)
		if err != nil || st == nil || !st.Present || st.Mode != e.Mode {
			t.Errorf("LookupLast under the lock: %+v, %v; want the drift row", st, err)
		}
	})

	t.Run("full", func(t *testing.T) {
		// The file may not grow: SQLITE_FULL, as on a full filesystem.
		var pages int64
		if err := db.w.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if _, err := db.w.Exec("PRAGMA max_page_count = " + strconv.FormatInt(pages, 10)); err != nil {
			t.Fatal(err)
		}
		defer db.w.Exec("PRAGMA max_page_count = 4294967294")
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for i := 0; i < 10000 && err == nil; i++ {
			err = tx.AddHistory(ctx, &Record{TimeNS: int64(i), Source: SourceEvent, Path: "/etc/cron.daily/" + strings.Repeat("x", 500) + strconv.Itoa(i),
				Kind: "modified", Severity: "high", Verdict: "alert", By: "root"})
		}
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "full") {
			t.Fatalf("AddHistory on a full database: %v; want ErrUnavailable saying it is full", err)
		}
		st, _, err := db.LookupLast(ctx, e.Path)
		if err != nil || st == nil {
			t.Errorf("LookupLast on a full database: %+v, %v", st, err)
		}
	})

	t.Run("other", func(t *testing.T) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		err = tx.exec(ctx, "INSERT INTO no_such_table VALUES(1)")
		if err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("a statement's own error: %v; want an error that is not ErrUnavailable", err)
		}
	})
}

// The heartbeat says when a daemon last ran; before the first one, the newest history row or run
// does; an empty database says 0.
func TestLastAlive(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if ns, err := db.LastAlive(ctx); err != nil || ns != 0 {
		t.Fatalf("an empty database: %d, %v; want 0", ns, err)
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error {
		if _, err := tx.StartRun(ctx, SourceScan, "/", "root", 100); err != nil {
			return err
		}
		return tx.AddHistory(ctx, &Record{TimeNS: 300, Source: SourceEvent, Path: "/p", Kind: "modified", Severity: "high", Verdict: "alert", By: "root"})
	})
	if ns, err := db.LastAlive(ctx); err != nil || ns != 300 {
		t.Fatalf("without a heartbeat: %d, %v; want the newest row's 300", ns, err)
	}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.Heartbeat(ctx, 250) })
	if ns, err := db.LastAlive(ctx); err != nil || ns != 250 {
		t.Fatalf("with a heartbeat: %d, %v; want 250", ns, err)
	}
}
