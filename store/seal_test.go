package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
)

// sealedDB makes a database whose baseline of n rows was written, and so sealed, by the store.
func sealedDB(t *testing.T, n int) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	db, path := openTest(t)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		e := testEntry(fmt.Sprintf("/etc/init.d/s%02d", i), i)
		e.Mode = 0o644
		if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db, path
}

func verifyBaseline(t *testing.T, db *DB) BaselineCheck {
	t.Helper()
	c, err := db.VerifyBaseline(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Every way of changing the baseline behind tripline's back is found, and the rows are named.
func TestSealFindsEditedBaseline(t *testing.T) {
	for _, tt := range []struct {
		name    string
		sql     string
		edited  []string
		missing int64
		problem string
	}{
		{"setuid bit set on a row", "UPDATE baseline SET mode = 2541 WHERE path = '/etc/init.d/s03'",
			[]string{"/etc/init.d/s03"}, 1, `1 row(s) edited or added outside tripline (/etc/init.d/s03)`},
		{"hash replaced", "UPDATE baseline SET sha256 = '" + strings.Repeat("ab", 32) + "' WHERE path = '/etc/init.d/s01'",
			[]string{"/etc/init.d/s01"}, 1, "/etc/init.d/s01"},
		{"row added", "INSERT INTO baseline(" + baselineCols + ") SELECT '/etc/init.d/evil', location, type, 2541, uid, gid, size, inode, dev, nlink, mtime_ns, ctime_ns, btime_ns, target, sha256, hash_state, approved_ns, approved_by FROM baseline WHERE path = '/etc/init.d/s00'",
			[]string{"/etc/init.d/evil"}, 0, "/etc/init.d/evil"},
		{"row deleted", "DELETE FROM baseline WHERE path = '/etc/init.d/s04'", nil, 1, "1 approved row(s) deleted"},
		{"approver rewritten", "UPDATE baseline SET approved_by = 'alice' WHERE path = '/etc/init.d/s02'",
			[]string{"/etc/init.d/s02"}, 1, "/etc/init.d/s02"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, path := sealedDB(t, 6)
			if c := verifyBaseline(t, db); !c.OK || c.Paths != 6 || c.SealID == 0 {
				t.Fatalf("sealed by the store: %+v", c)
			}
			rawExec(t, path, tt.sql)
			c := verifyBaseline(t, db)
			if c.OK || fmt.Sprint(c.Edited) != fmt.Sprint(tt.edited) || c.Missing != tt.missing || !strings.Contains(c.Problem, tt.problem) {
				t.Errorf("after %s: %+v", tt.sql, c)
			}
			if !strings.Contains(c.Problem, fmt.Sprintf("history row %d sealed", c.SealID)) {
				t.Errorf("the problem does not name the seal: %q", c.Problem)
			}
		})
	}
}

// An attacker who edits the seal too is found by the seal's place in the chain, or by the leaves.
func TestSealFindsEditedSeal(t *testing.T) {
	ctx := context.Background()
	t.Run("root rewritten", func(t *testing.T) {
		db, path := sealedDB(t, 3)
		rawExec(t, path, "UPDATE baseline SET mode = 2541 WHERE path = '/etc/init.d/s00'")
		rawExec(t, path, "UPDATE history SET new = json_set(new, '$.root', '"+strings.Repeat("0", 64)+"') WHERE source = 'approval'")
		if c := verifyBaseline(t, db); c.OK || !strings.Contains(c.Problem, "was edited") {
			t.Errorf("%+v", c)
		}
		if r, err := db.VerifyChain(ctx); err != nil || r.OK {
			t.Errorf("the chain does not see the edited seal: %+v %v", r, err)
		}
	})
	t.Run("leaves rewritten", func(t *testing.T) {
		db, path := sealedDB(t, 3)
		rawExec(t, path, "UPDATE baseline SET mode = 2541 WHERE path = '/etc/init.d/s00'")
		rawExec(t, path, "UPDATE approval_leaves SET leaves = zeroblob(24)")
		if c := verifyBaseline(t, db); c.OK || !strings.Contains(c.Problem, "row list was edited too") {
			t.Errorf("%+v", c)
		}
	})
	t.Run("seals deleted", func(t *testing.T) {
		db, path := sealedDB(t, 3)
		rawExec(t, path, "DELETE FROM history WHERE source = 'approval'")
		if c := verifyBaseline(t, db); c.OK || !strings.Contains(c.Problem, "approved by no seal") {
			t.Errorf("%+v", c)
		}
	})
}

// Acceptances and refreshes seal what they wrote: an accepted change is not an edit.
func TestSealFollowsAccept(t *testing.T) {
	ctx := context.Background()
	db, _ := sealedDB(t, 3)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry("/etc/init.d/s01", 1)
	e.Mode = 0o4755
	if err := tx.PutState(ctx, &e, true, 5); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	before := verifyBaseline(t, db)
	accepted(t, db, "/etc/init.d/s01", "alice", 10)
	after := verifyBaseline(t, db)
	if !before.OK || !after.OK || after.SealID <= before.SealID {
		t.Errorf("before %+v, after %+v", before, after)
	}
	if r, err := db.VerifyChain(ctx); err != nil || !r.OK {
		t.Errorf("chain: %+v %v", r, err)
	}
}

// Retention never leaves the baseline unsealed, and never prunes the seal of an edited one.
func TestPruneKeepsTheBaselineSealed(t *testing.T) {
	ctx := context.Background()
	db, path := sealedDB(t, 3)
	addRows := func(n int) {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := tx.AddHistory(ctx, &Record{TimeNS: 100, Source: "event", Path: "/etc/init.d/s00", Kind: "modified", Severity: "low", Verdict: "alert", By: "t"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	addRows(5)
	res, err := db.Prune(ctx, 0, 2)
	if err != nil || res.Rows != 4 || res.KeptSeal != "" {
		t.Fatalf("prune: %+v %v", res, err)
	}
	if c := verifyBaseline(t, db); !c.OK || c.SealID <= 6 {
		t.Errorf("after the prune that took the seal: %+v", c)
	}
	if r, err := db.VerifyChain(ctx); err != nil || !r.OK {
		t.Errorf("chain after prune: %+v %v", r, err)
	}
	// An edited baseline keeps its seal, and what follows it, whatever retention asks.
	rawExec(t, path, "UPDATE baseline SET mode = 2541 WHERE path = '/etc/init.d/s00'")
	addRows(5)
	seal := verifyBaseline(t, db).SealID
	res, err = db.Prune(ctx, 0, 1)
	if err != nil || !strings.Contains(res.KeptSeal, "/etc/init.d/s00") || res.AnchorID >= seal {
		t.Fatalf("prune of an edited baseline: %+v %v", res, err)
	}
	if c := verifyBaseline(t, db); c.OK || c.SealID != seal {
		t.Errorf("the edit was laundered: %+v", c)
	}
}

// A head kept off the host finds a history cut back below it, which the chain alone cannot.
func TestVerifyChainHeadFindsTruncation(t *testing.T) {
	ctx := context.Background()
	db, path := sealedDB(t, 2)
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*Record
	for i := 0; i < 6; i++ {
		r := &Record{TimeNS: int64(100 + i), Source: "event", Path: "/etc/init.d/s00", Kind: "modified", Severity: "high", Verdict: "alert", By: "t"}
		if err := tx.AddHistory(ctx, r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	kept := recs[4].Hash // what the SIEM received with the fifth event
	if r, err := db.VerifyChainHead(ctx, kept); err != nil || !r.OK || r.KeptID != recs[4].ID {
		t.Fatalf("intact history: %+v %v", r, err)
	}
	rawExec(t, path, fmt.Sprintf("DELETE FROM history WHERE id >= %d", recs[3].ID))
	r, err := db.VerifyChain(ctx)
	if err != nil || !r.OK {
		t.Fatalf("the chain alone cannot see a cut tail (the documented limit): %+v %v", r, err)
	}
	r, err = db.VerifyChainHead(ctx, kept)
	if err != nil || r.OK || r.KeptID != 0 || !strings.Contains(r.Problem, "is not in this history, which ends at row "+fmt.Sprint(recs[2].ID)) {
		t.Errorf("cut history against the kept head: %+v %v", r, err)
	}
}

// A database of schema 3 (before seals) is sealed as it is when it is first opened by this one.
func TestUpgradeSealsTheBaseline(t *testing.T) {
	path := t.TempDir() + "/old.db"
	for _, name := range []string{"001_init.sql", "002_gaps.sql", "003_chain.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		rawExec(t, path, string(body))
	}
	rawExec(t, path, fmt.Sprintf("PRAGMA user_version = 3; PRAGMA application_id = %d", applicationID))
	rawExec(t, path, "INSERT INTO baseline VALUES('/etc/rc.local','rc-local','file',493,0,0,10,5,6,1,7,8,9,'','"+strings.Repeat("cd", 32)+"','ok',1,'installer')")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := verifyBaseline(t, db)
	if !c.OK || c.Paths != 1 || c.SealID != 1 {
		t.Errorf("upgraded: %+v", c)
	}
	rows := historyRowsAll(t, path)
	if len(rows) != 1 || rows[0].source != string(SourceApproval) || !strings.Contains(rows[0].by, "schema 4") {
		t.Errorf("seal rows %+v", rows)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// historyRowsAll is historyRows with the seals.
func historyRowsAll(t *testing.T, path string) []historyRow {
	t.Helper()
	rows, err := rawOpen(t, path, "mode=ro").Query("SELECT source, by FROM history ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []historyRow
	for rows.Next() {
		var r historyRow
		if err := rows.Scan(&r.source, &r.by); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Review attack 1: a legitimate acceptance must not seal rows an attacker put in the baseline.
func TestAcceptRefusesToSealAnEditedBaseline(t *testing.T) {
	ctx := context.Background()
	db, path := sealedDB(t, 3)
	rawExec(t, path, "INSERT INTO baseline("+baselineCols+") SELECT '/etc/cron.d/evil', location, type, mode, uid, gid, size, inode, dev, nlink, mtime_ns, ctime_ns, btime_ns, target, sha256, hash_state, 1, 'root (uid 0)' FROM baseline WHERE path = '/etc/init.d/s00'")
	tx, err := db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := testEntry("/etc/init.d/s01", 9)
	err = tx.PutBaseline(ctx, &e, 10, "alice")
	tx.Rollback()
	if !errors.Is(err, ErrBaselineEdited) || !strings.Contains(err.Error(), "/etc/cron.d/evil") {
		t.Fatalf("accept over an edited baseline: %v", err)
	}
	if c := verifyBaseline(t, db); c.OK {
		t.Errorf("the edit was sealed: %+v", c)
	}
	// Starting over (baseline create) is allowed: it keeps nothing of the edited baseline.
	tx, _ = db.Begin(ctx)
	if err := tx.ClearBaseline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.PutBaseline(ctx, &e, 10, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if c := verifyBaseline(t, db); !c.OK || c.Paths != 1 {
		t.Errorf("after starting over: %+v", c)
	}
}

// Review attack 3: deleting the newest seal would make an older one the baseline's, and a prune
// over the hole would remove the evidence.
func TestDeletedSealIsFound(t *testing.T) {
	ctx := context.Background()
	db, path := sealedDB(t, 3)
	rawExec(t, path, "CREATE TABLE old AS SELECT * FROM baseline")
	tx, _ := db.Begin(ctx)
	e := testEntry("/etc/init.d/s01", 9)
	if err := tx.PutBaseline(ctx, &e, 10, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	newest := verifyBaseline(t, db).SealID
	// Something happened after the acceptance (a scan's finding): the seal is not the last row.
	// (With the seal last, deleting it is cutting the tail, which only a kept head shows.)
	tx, _ = db.Begin(ctx)
	if err := tx.AddHistory(ctx, &Record{TimeNS: 20, Source: SourceScan, Path: "/etc/init.d/s02", Kind: baseline.Modified, Severity: "low", Verdict: policy.VerdictAlert, By: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	rawExec(t, path, fmt.Sprintf("DELETE FROM history WHERE id = %d; DELETE FROM approval_leaves WHERE history_id = %d; DELETE FROM baseline; INSERT INTO baseline SELECT * FROM old; DROP TABLE old", newest, newest))
	c := verifyBaseline(t, db)
	if c.OK || !strings.Contains(c.Problem, "history rows are missing") {
		t.Errorf("rolled back to the older seal: %+v", c)
	}
	if _, err := db.Prune(ctx, 0, 1); err == nil || !strings.Contains(err.Error(), "retention prunes nothing over it") {
		t.Errorf("prune over the hole: %v", err)
	}
}

// Review attack 5: setting the schema version back below seals would have the upgrade seal (or
// re-hash) whatever was edited meanwhile.
func TestRolledBackSchemaIsRefused(t *testing.T) {
	db, path := sealedDB(t, 2)
	db.Close()
	rawExec(t, path, "INSERT INTO baseline("+baselineCols+") SELECT '/etc/cron.d/evil', location, type, mode, uid, gid, size, inode, dev, nlink, mtime_ns, ctime_ns, btime_ns, target, sha256, hash_state, 1, 'x' FROM baseline LIMIT 1",
		"DROP TABLE approval_leaves", "ALTER TABLE history DROP COLUMN read_ns", "PRAGMA user_version = 3")
	_, err := Open(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "the version was set back") {
		t.Fatalf("open of a rolled-back database: %v", err)
	}
}

// A head is taken as given by a SIEM: any case, with spaces around it.
func TestVerifyChainHeadNormalises(t *testing.T) {
	db, _ := sealedDB(t, 1)
	h, err := db.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.VerifyChainHead(context.Background(), "  "+strings.ToUpper(h.Hash)+"\n")
	if err != nil || !r.OK || r.KeptID != h.LastID {
		t.Errorf("%+v %v", r, err)
	}
}

// The seal computed in one streaming pass is the seal of the leaves as baselineLeaves reads them,
// so a baseline sealed by an older version still verifies.
func TestSealBaselineStreams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, n := range []int{0, 1, 37} {
		db, _ := sealedDB(t, n)
		tx, err := db.r.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		leaves, err := baselineLeaves(ctx, tx)
		if err != nil {
			t.Fatal(err)
		}
		want, wantShort := sealOf(leaves)
		got, short, err := sealBaseline(ctx, tx)
		tx.Rollback()
		if err != nil || got != want || string(short) != string(wantShort) {
			t.Errorf("%d rows: sealBaseline = %+v (%d short bytes), %v; sealOf = %+v (%d)", n, got, len(short), err, want, len(wantShort))
		}
		if c := verifyBaseline(t, db); !c.OK || c.Paths != int64(n) {
			t.Errorf("%d rows: VerifyBaseline = %+v", n, c)
		}
	}
}

// A transaction that grows an empty baseline seals it from the leaves of the values it bound
// (Tx.grown); the seal is the one read back from the rows, whatever bytes and numbers they hold,
// and rows put out of path order (or replaced) fall back to reading them.
func TestSealOfGrownBaseline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, paths := range map[string][]string{
		"in order":     {"/etc/a", "/etc/b\xff\xfe", "/etc/c d", "/etc/\u00e9t\u00e9"},
		"out of order": {"/etc/b", "/etc/a", "/etc/c"},
		"replaced":     {"/etc/a", "/etc/b", "/etc/b"},
	} {
		db, _ := openTest(t)
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range paths {
			e := testEntry(p, i) // extreme numbers: negative times, uint64 inodes, max uids
			if i%2 == 1 {
				// The package columns are outside the seal: the bound-value leaf must skip them.
				e.Package = &baseline.Package{Name: "pkg", Version: "1.0", Type: "deb", State: baseline.PkgVerified}
			}
			if err := tx.PutBaseline(ctx, &e, -5+int64(i), "installer\n\x00"); err != nil {
				t.Fatal(err)
			}
		}
		if grown := tx.grown != nil; grown != (name == "in order") {
			t.Errorf("%s: sealed from the bound values: %v", name, grown)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if c := verifyBaseline(t, db); !c.OK {
			t.Errorf("%s: VerifyBaseline = %+v", name, c)
		}
	}
}

// BaselineIter hashes the rows it decodes into the seal: Verify accepts the baseline as sealed,
// extreme values and all, and names a row edited behind tripline's back.
func TestBaselineIterVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := sealedDB(t, 20)
	check := func() BaselineCheck {
		it, err := db.Baseline(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		n := 0
		for _, ok := it.Next(); ok; _, ok = it.Next() {
			n++
		}
		if n != 20 {
			t.Fatalf("%d rows read", n)
		}
		c, err := it.Verify(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := check(); !c.OK || c.Paths != 20 {
		t.Errorf("Verify of the sealed baseline: %+v", c)
	}
	execW(t, db, "UPDATE baseline SET uid = 0 WHERE path = '/etc/init.d/s07'")
	if c := check(); c.OK || len(c.Edited) != 1 || c.Edited[0] != "/etc/init.d/s07" {
		t.Errorf("Verify of an edited baseline: %+v", c)
	}
}
