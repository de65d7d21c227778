package report

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/scan"
)

// Locations writes what the policy's locations resolve to: in JSON one "location" object per
// path; for people a table and how many of the paths exist, of the policy's locations
// locations.
func (r *Renderer) Locations(rows []scan.Resolved, locations int) error {
	if r.Format == JSON {
		enc := json.NewEncoder(r.W)
		for i := range rows {
			if err := enc.Encode(struct {
				Type string `json:"type"`
				*scan.Resolved
			}{"location", &rows[i]}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tUSE\tEXISTS\tKIND\tPATH")
	n := 0
	for _, l := range rows {
		ex := "no"
		if l.Exists {
			ex = "yes"
			n++
		}
		p := baseline.QuotePath(l.Path)
		if l.Recursive {
			p += "/**"
		} else if l.Kind == "dir" {
			p += "/*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Location, l.Use, ex, l.Kind, p)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(r.W, "%d of %d resolved paths exist (%d locations).\n", n, len(rows), locations)
	return nil
}
