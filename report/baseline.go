package report

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
)

// BaselineHeader is what 'baseline show' says of a baseline before its entries.
type BaselineHeader struct {
	Root      string
	CreatedNS int64
	CreatedBy string
	// Packages says the entries carry their package (the baseline was verified against a
	// package database): the table then has PACKAGE and STATE columns.
	Packages bool
}

// Baseline writes approved baseline entries: for people, a line saying when and by whom the
// baseline was recorded, then a table; in JSON, one "baseline" object per entry.
func (r *Renderer) Baseline(info BaselineHeader, entries []baseline.Approved) error {
	for i := range entries {
		info.Packages = info.Packages || entries[i].Package != nil
	}
	return r.BaselineEach(info, func(count func(int64) error, row func(*baseline.Approved) error) error {
		if err := count(int64(len(entries))); err != nil {
			return err
		}
		for i := range entries {
			if err := row(&entries[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// BaselineEach is Baseline over the entries each yields one at a time, after their count
// (store.DB.EachBaselineEntry): the text table is aligned in blocks of tableRows rows.
func (r *Renderer) BaselineEach(info BaselineHeader, each func(count func(int64) error, row func(*baseline.Approved) error) error) error {
	if r.Format == JSON {
		enc := json.NewEncoder(r.W)
		return each(func(int64) error { return nil }, func(a *baseline.Approved) error {
			return enc.Encode(struct {
				Type string `json:"type"`
				*EntryJSON
				ApprovedNS int64  `json:"approved_ns"`
				ApprovedBy string `json:"approved_by"`
			}{"baseline", r.EntryJSON(&a.Entry), a.ApprovedNS, a.ApprovedBy})
		})
	}
	head := "MODE\tOWNER\tSIZE\tSHA256\tAPPROVED\tLOCATION\t"
	if info.Packages {
		// Only when a package database was read: a baseline without one looks as it always did.
		head += "PACKAGE\tSTATE\t"
	}
	head += "PATH"
	var tw *tabwriter.Writer
	i := 0
	err := each(func(n int64) error {
		_, err := fmt.Fprintf(r.W, "Baseline of %s recorded %s by %s; %d entries shown.\n", baseline.QuotePath(info.Root), time.Unix(0, info.CreatedNS).UTC().Format(time.RFC3339), baseline.QuoteLine(info.CreatedBy), n)
		return err
	}, func(a *baseline.Approved) error {
		if i%tableRows == 0 {
			if tw != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			tw = tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
			if i == 0 {
				fmt.Fprintln(tw, head)
			}
		}
		i++
		fmt.Fprintf(tw, "%s %s\t%s\t%d\t%s\t%s\t%s\t", baseline.ModeString(a.Mode), baseline.SymbolicMode(a.Type, a.Mode),
			owner(r.Users, &a.Entry), a.Size, hashCol(&a.Entry), time.Unix(0, a.ApprovedNS).UTC().Format("2006-01-02 15:04"),
			a.Location)
		if info.Packages {
			fmt.Fprintf(tw, "%s\t%s\t", pkgCol(a.Package), pkgState(a.Package))
		}
		_, err := fmt.Fprintf(tw, "%s\n", pathCol(&a.Entry))
		return err
	})
	if err != nil {
		return err
	}
	if tw == nil {
		tw = tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, head)
	}
	return tw.Flush()
}

// pkgCol is "NAME VERSION (TYPE)", "unowned", or "-" when no package database was read. Names
// and versions come from the scanned image's package database: quoted like any other line.
func pkgCol(p *baseline.Package) string {
	switch {
	case p == nil:
		return "-"
	case !p.Owned():
		return "unowned"
	}
	return baseline.QuoteLine(p.Name) + " " + baseline.QuoteLine(p.Version) + " (" + baseline.QuoteLine(p.Type) + ")"
}

func pkgState(p *baseline.Package) string {
	if p == nil || !p.Owned() {
		return "-"
	}
	return string(p.State)
}

// owner is "user:group" by name, or by number where the root's passwd or group does not name
// it. The names are the scanned image's, which its owner chose: quoted like any other line.
func owner(u *baseline.Users, e *baseline.Entry) string {
	un, gn := u.User(e.UID), u.Group(e.GID)
	if un == "" {
		un = fmt.Sprint(e.UID)
	}
	if gn == "" {
		gn = fmt.Sprint(e.GID)
	}
	return baseline.QuoteLine(un) + ":" + baseline.QuoteLine(gn)
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
	accepted, removed, would := "accepted", "removed from the baseline", ""
	if res.DryRun {
		accepted, removed, would = "would accept", "would remove from the baseline", " would be"
	}
	for _, p := range res.Approved {
		fmt.Fprintf(r.W, "%s %s\n", accepted, baseline.QuotePath(p))
	}
	for _, p := range res.Removed {
		fmt.Fprintf(r.W, "%s %s\n", removed, baseline.QuotePath(p))
	}
	fmt.Fprintf(r.W, "%d paths%s accepted, %d%s removed from the baseline", len(res.Approved), would, len(res.Removed), would)
	if n := len(res.Refreshed); n > 0 {
		fmt.Fprintf(r.W, " (%d more%s refreshed: new ctime or inode, nothing else changed)", n, would)
	}
	if res.DryRun {
		fmt.Fprintln(r.W, ". Nothing was changed (--dry-run).")
		return
	}
	fmt.Fprintln(r.W, ".")
}
