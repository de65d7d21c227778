package investigate

import (
	"io"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/store"
)

// WriteChain writes the result of checking the history's hash chain for people: intact, with
// the head to keep elsewhere, or the first row that breaks it.
func WriteChain(w io.Writer, res store.ChainResult) error {
	bw := &errWriter{w: w}
	if !res.OK {
		bw.printf("history chain BROKEN at row %d: %s\n", res.BadRow, baseline.QuoteLine(res.Problem))
		bw.printf("%d rows before it verified; the last good row is %d, %s\n", res.Rows-1, res.HeadID, res.Head)
		return bw.err
	}
	bw.printf("history chain intact: %d rows verified", res.Rows)
	if res.AnchorID > 0 {
		bw.printf(" (rows up to %d were pruned by retention)", res.AnchorID)
	}
	bw.printf("; head is row %d, %s\n", res.HeadID, res.Head)
	bw.printf("Keep the head off this host (it is in every ECS event as tripline.history.hash): a root attacker can rewrite the whole chain, and only a copy elsewhere shows it.\n")
	return bw.err
}
