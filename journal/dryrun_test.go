package journal_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/store"
)

// WouldAccept says what Accept will do, and changes nothing: not the baseline, the drift, the
// history, nor the seal.
func TestWouldAcceptChangesNothing(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	commit(t, db, func(ctx context.Context, tx *store.Tx) error {
		for i, p := range []string{"/etc/a", "/etc/b"} {
			e := testEntry(p, i)
			if err := tx.PutBaseline(ctx, &e, 1, "installer"); err != nil {
				return err
			}
		}
		changed := testEntry("/etc/a", 5)
		changed.Location = "loc-0"
		if err := tx.PutState(ctx, &changed, true, 5); err != nil {
			return err
		}
		gone := testEntry("/etc/b", 1)
		return tx.PutState(ctx, &gone, false, 5)
	})
	before, _ := db.Count(ctx)
	seal, _ := db.VerifyBaseline(ctx)
	head, _ := db.Head(ctx)
	would, err := journal.WouldAccept(ctx, db, nil, "alice", 10)
	if err != nil || !would.DryRun {
		t.Fatalf("%+v %v", would, err)
	}
	after, _ := db.Count(ctx)
	seal2, _ := db.VerifyBaseline(ctx)
	head2, _ := db.Head(ctx)
	if before != after || !reflect.DeepEqual(seal, seal2) || head != head2 {
		t.Errorf("the dry run changed the database: counts %+v -> %+v, seal %+v -> %+v, head %+v -> %+v", before, after, seal, seal2, head, head2)
	}
	did, err := journal.Accept(ctx, db, nil, "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	would.DryRun = false
	if !reflect.DeepEqual(would, did) {
		t.Errorf("the dry run said %+v, the acceptance did %+v", would, did)
	}
}
