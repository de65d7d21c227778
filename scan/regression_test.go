package scan

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

// An observation whose content could not be read must not hide a content change: Diff falls back
// to size and mtime when one side has no hash.
func TestUnreadableObservationKeepsContentChange(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/cron.daily"), 0o755)
	f := filepath.Join(root, "etc/cron.daily/job")
	os.WriteFile(f, []byte("old\n"), 0o755)
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pol := policy.Default()
	if _, err := Run(ctx, Options{Root: root, Policy: pol, DB: db}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f, []byte("evil payload\n"), 0o755)
	e, err := baseline.Stat(root, "/etc/cron.daily/job", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.SHA256, e.HashState = "", baseline.HashUnreadable // what a failed open or read leaves
	e.Location = "cron-periodic"
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := journal.Observe(ctx, tx, pol, journal.Observation{Path: "/etc/cron.daily/job", Cur: &e, Source: store.SourceEvent, TimeNS: 1})
	if err != nil {
		t.Fatal(err)
	}
	changed := out.Changed
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Error("the content change (size 4 -> 13) was not seen through an unreadable observation")
	}
}
