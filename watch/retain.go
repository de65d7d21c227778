package watch

import (
	"context"
	"log/slog"
	"time"

	"github.com/tripline/tripline/store"
)

// Retain applies the history's retention (rows older than maxAge, beyond the newest maxRows; 0:
// no bound) now and every hour until ctx ends, and logs what it pruned or why it could not.
func Retain(ctx context.Context, db *store.DB, log *slog.Logger, maxAge time.Duration, maxRows int64) {
	if maxAge == 0 && maxRows == 0 {
		return
	}
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		var before int64
		if maxAge > 0 {
			before = time.Now().Add(-maxAge).UnixNano()
		}
		if res, err := db.Prune(ctx, before, maxRows); err != nil {
			if ctx.Err() == nil {
				log.Warn("history retention failed", "err", err)
			}
		} else if res.KeptSeal != "" {
			log.Warn("history retention kept the baseline's newest seal and the rows after it", "why", res.KeptSeal)
		} else if res.Rows > 0 {
			log.Info("history pruned", "rows", res.Rows, "anchor", res.AnchorID)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
