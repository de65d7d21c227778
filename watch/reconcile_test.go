package watch

import (
	"context"

	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/scan"
	"github.com/tripline/tripline/store"
)

// reconcileWith is the reconciler cmd/tripline gives the daemon: a scan of root against db.
func reconcileWith(root string, db *store.DB, by string) Reconciler {
	return func(ctx context.Context, pol *policy.Policy) (*Reconciled, error) {
		res, err := scan.Run(ctx, scan.Options{Root: root, Policy: pol, DB: db, By: by, Source: store.SourceReconcile, ChangesOnly: true})
		if err != nil {
			return nil, err
		}
		return &Reconciled{RunID: res.RunID, First: res.First, Paths: res.Paths, Changes: res.Changes, Errors: res.Errors}, nil
	}
}
