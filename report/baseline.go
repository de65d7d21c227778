package report

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/store"
)

// Baseline writes approved baseline entries: for people, a line saying when and by whom the
// baseline was recorded, then a table; in JSON, one "baseline" object per entry.
func (r *Renderer) Baseline(info store.BaselineInfo, entries []store.Approved) error {
	if r.Format == JSON {
		enc := json.NewEncoder(r.W)
		for i := range entries {
			a := &entries[i]
			if err := enc.Encode(struct {
				Type string `json:"type"`
				*EntryJSON
				ApprovedNS int64  `json:"approved_ns"`
				ApprovedBy string `json:"approved_by"`
			}{"baseline", r.EntryJSON(&a.Entry), a.ApprovedNS, a.ApprovedBy}); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(r.W, "Baseline of %s recorded %s by %s; %d entries shown.\n", info.Root, time.Unix(0, info.CreatedNS).UTC().Format(time.RFC3339), info.CreatedBy, len(entries))
	tw := tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MODE\tOWNER\tSIZE\tSHA256\tAPPROVED\tLOCATION\tPATH")
	for i := range entries {
		a := &entries[i]
		fmt.Fprintf(tw, "%s %s\t%s\t%d\t%s\t%s\t%s\t%s\n", baseline.ModeString(a.Mode), baseline.SymbolicMode(a.Type, a.Mode),
			owner(r.Users, &a.Entry), a.Size, hashCol(&a.Entry), time.Unix(0, a.ApprovedNS).UTC().Format("2006-01-02 15:04"),
			a.Location, pathCol(&a.Entry))
	}
	return tw.Flush()
}

func owner(u *baseline.Users, e *baseline.Entry) string {
	un, gn := u.User(e.UID), u.Group(e.GID)
	if un == "" {
		un = fmt.Sprint(e.UID)
	}
	if gn == "" {
		gn = fmt.Sprint(e.GID)
	}
	return un + ":" + gn
}

func hashCol(e *baseline.Entry) string {
	if e.HashState == baseline.HashOK {
		return e.SHA256[:16]
	}
	return "(" + string(e.HashState) + ")"
}

func pathCol(e *baseline.Entry) string {
	p := baseline.QuotePath(e.Path)
	if e.Type == baseline.TypeSymlink {
		p += " -> " + baseline.QuotePath(e.Target)
	}
	return p
}

// Accepted writes what 'baseline accept' or 'baseline update' did, a line per path and the
// counts, as text. The paths that had nothing to accept are not in it: they are errors.
func (r *Renderer) Accepted(res *journal.AcceptResult) {
	for _, p := range res.Approved {
		fmt.Fprintf(r.W, "accepted %s\n", baseline.QuotePath(p))
	}
	for _, p := range res.Removed {
		fmt.Fprintf(r.W, "removed from the baseline %s\n", baseline.QuotePath(p))
	}
	fmt.Fprintf(r.W, "%d paths accepted, %d removed from the baseline", len(res.Approved), len(res.Removed))
	if n := len(res.Refreshed); n > 0 {
		fmt.Fprintf(r.W, " (%d more refreshed: new ctime or inode, nothing else changed)", n)
	}
	fmt.Fprintln(r.W, ".")
}
