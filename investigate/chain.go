package investigate

import (
	"io"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

// WriteChain writes the result of checking the history's hash chain for people: intact, with
// the head to keep elsewhere, or the first row that breaks it.
func WriteChain(w io.Writer, res store.ChainResult, base store.BaselineCheck) error {
	bw := &errWriter{w: w}
	switch {
	case !res.OK && res.BadRow > 0:
		bw.printf("history chain BROKEN at row %d: %s\n", res.BadRow, baseline.QuoteLine(res.Problem))
		bw.printf("%d rows before it verified; the last good row is %d, %s\n", res.Rows-1, res.HeadID, res.Head)
	case !res.OK:
		bw.printf("history chain intact in itself (%d rows), but %s\n", res.Rows, baseline.QuoteLine(res.Problem))
	default:
		bw.printf("history chain intact: %d rows verified", res.Rows)
		if res.AnchorID > 0 {
			bw.printf(" (rows up to %d were pruned by retention)", res.AnchorID)
		}
		bw.printf("; head is row %d, %s\n", res.HeadID, res.Head)
		if res.Kept != "" {
			bw.printf("the head kept earlier is row %d of it: nothing after it was cut off\n", res.KeptID)
		} else {
			bw.printf("Keep the head off this host (it is in every ECS event as tripline.history.hash), and check it with --head: a root attacker can rewrite or cut back the whole chain, and only a copy elsewhere shows it.\n")
		}
	}
	switch {
	case base.OK && base.SealID > 0:
		bw.printf("baseline intact: its %d rows are what history row %d sealed\n", base.Paths, base.SealID)
	case base.OK:
		bw.printf("baseline empty: nothing to check\n")
	default:
		bw.printf("baseline EDITED outside tripline: %s\n", baseline.QuoteLine(base.Problem))
	}
	return bw.err
}
