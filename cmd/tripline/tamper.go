package main

import (
	"context"
	"fmt"

	"github.com/tripline/tripline/store"
)

// trustBaseline refuses to compare against a baseline that is not what tripline approved: rows
// edited, added or deleted outside it (store.VerifyBaseline). A scan against it would call the
// edit approved.
func trustBaseline(ctx context.Context, db *store.DB) error {
	chk, err := db.VerifyBaseline(ctx)
	if err != nil {
		return err
	}
	if chk.OK {
		return nil
	}
	return fmt.Errorf("baseline of %s: %s; refusing to compare against it: see 'tripline history --verify', and record a new baseline with 'tripline baseline create' once you know why", db.Path(), chk.Problem)
}
