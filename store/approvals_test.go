package store

import (
	"context"
	"testing"
)

// LastApprovals returns what the newest acceptance changed, and Head counts the history.
func TestLastApprovalsAndHead(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	if h, err := db.Head(ctx); err != nil || h.Rows != 0 || h.LastID != 0 {
		t.Fatalf("empty history: %+v %v", h, err)
	}
	if a, err := db.LastApprovals(ctx); err != nil || a != nil {
		t.Fatalf("no acceptance yet: %+v %v", a, err)
	}
	for i, p := range []string{"/etc/a", "/etc/b"} {
		tx, err := db.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e := testEntry(p, i+1)
		if err := tx.PutBaseline(ctx, &e, 1, "t"); err != nil {
			t.Fatal(err)
		}
		changed := testEntry(p, i+10)
		if err := tx.PutState(ctx, &changed, true, 2); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	accepted(t, db, "/etc/a", "alice", 100)
	accepted(t, db, "/etc/b", "bob", 200)
	a, err := db.LastApprovals(ctx)
	if err != nil || len(a) != 1 || a[0].Path != "/etc/b" || a[0].By != "bob" || a[0].TimeNS != 200 || a[0].Old == nil || a[0].New == nil {
		t.Fatalf("last approvals: %+v %v", a, err)
	}
	// The chain holds the two acceptances and four seals: one after each transaction that changed
	// the baseline (two puts, two acceptances).
	if h, err := db.Head(ctx); err != nil || h.Rows != 6 || h.LastID != 6 {
		t.Errorf("head: %+v %v", h, err)
	}
	if c, err := db.Count(ctx); err != nil || c.History != 2 {
		t.Errorf("count of changes and acceptances: %+v %v", c, err)
	}
}
