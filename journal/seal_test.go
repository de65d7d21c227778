package journal_test

import (
	"context"
	"testing"

	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/store"
)

// Every acceptance leaves a baseline that its seal approves: accepted drift, removed paths and
// refreshed rows are not edits (store/approvals.go).
func TestAcceptSealsTheBaseline(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
		for i, p := range []string{"/etc/a", "/etc/b", "/etc/c"} {
			e := testEntry(p, i)
			if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
				return err
			}
		}
		changed, refreshed := testEntry("/etc/a", 7), testEntry("/etc/b", 1)
		changed.Location, refreshed.CtimeNS = "loc-0", 99 // b: only its ctime differs
		if err := tx.PutState(ctx, &changed, true, 5); err != nil {
			return err
		}
		if err := tx.PutState(ctx, &refreshed, true, 5); err != nil {
			return err
		}
		gone := testEntry("/etc/c", 2)
		return tx.PutState(ctx, &gone, false, 5)
	})
	before, err := db.VerifyBaseline(ctx)
	if err != nil || !before.OK || before.Paths != 3 {
		t.Fatalf("before: %+v %v", before, err)
	}
	res, err := journal.Accept(ctx, db, nil, "alice", 10)
	if err != nil || len(res.Approved) != 1 || len(res.Refreshed) != 1 || len(res.Removed) != 1 {
		t.Fatalf("accept: %+v %v", res, err)
	}
	after, err := db.VerifyBaseline(ctx)
	if err != nil || !after.OK || after.Paths != 2 || after.SealID <= before.SealID {
		t.Errorf("after: %+v %v", after, err)
	}
	if r, err := db.VerifyChain(ctx); err != nil || !r.OK {
		t.Errorf("chain: %+v %v", r, err)
	}
}
