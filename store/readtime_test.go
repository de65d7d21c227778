package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// A chain written before schema 5 (hashes computed here from the encoding chain.go documents,
// independently of rowHash) still verifies after the upgrade; rows written after it hash their
// read time, so changing it, or giving an old row one, breaks the chain at that row.
func TestOldChainVerifiesAfterReadTime(t *testing.T) {
	path := t.TempDir() + "/old.db"
	for _, name := range []string{"001_init.sql", "002_gaps.sql", "003_chain.sql", "004_approvals.sql"} {
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		rawExec(t, path, string(body))
	}
	const h1 = "73889842a0650897958c0d1fc9625afcdec778565a34a4576ba742553890aad7"
	const h2 = "b76e8e29878d2b275f21637411ceaea950f7da4c52319c38bbe7ee21485f0a74"
	rawExec(t, path, fmt.Sprintf("PRAGMA user_version = 4; PRAGMA application_id = %d", applicationID),
		"INSERT INTO history(id, time_ns, source, path, location, kind, flags, rule, severity, verdict, by, hash) VALUES(1, 1000, 'event', '/etc/crontab', 'crontab', 'modified', 'mode', 'r', 'high', 'alert', 'root', '"+h1+"')",
		"INSERT INTO history(id, time_ns, source, path, location, kind, flags, rule, severity, verdict, by, hash) VALUES(2, 2000, 'scan', '/etc/rc.local', 'rc-local', 'created', '', '', 'none', 'none', 'root', '"+h2+"')")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res := verify(t, db); !res.OK || res.Rows != 2 || res.Head != h2 {
		t.Fatalf("the schema 4 chain after the upgrade: %+v", res)
	}
	rec := &Record{TimeNS: 5000, ReadNS: 4000, Source: SourceEvent, Path: "/etc/crontab", Location: "crontab", Kind: "modified",
		Flags: []string{"mode"}, Rule: "r", Severity: "high", Verdict: "alert", By: "root"}
	commit(t, db, func(ctx context.Context, tx *Tx) error { return tx.AddHistory(ctx, rec) })
	if res := verify(t, db); !res.OK || res.Rows != 3 || res.Head != rec.Hash {
		t.Fatalf("after a row with a read time: %+v", res)
	}
	rows, err := db.History(ctx, HistoryQuery{UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].ReadNS != 0 || rows[2].ReadNS != 4000 || rows[2].TimeNS != 5000 {
		t.Fatalf("read times %+v", rows)
	}

	execW(t, db, "UPDATE history SET read_ns = 4001 WHERE id = 3")
	if res := verify(t, db); res.OK || res.BadRow != 3 || !strings.Contains(res.Problem, "edited") {
		t.Errorf("a changed read time: %+v, want row 3 edited", res)
	}
	execW(t, db, "UPDATE history SET read_ns = 4000 WHERE id = 3")
	execW(t, db, "UPDATE history SET read_ns = 900 WHERE id = 1")
	if res := verify(t, db); res.OK || res.BadRow != 1 {
		t.Errorf("a read time given to an old row: %+v, want row 1 edited", res)
	}
}
