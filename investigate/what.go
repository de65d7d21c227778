package investigate

import (
	"fmt"
	"strings"
	"sync"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/store"
)

// Change is the change a history row records, as baseline.Diff found it: the row's kind, flags
// and two entries. Acceptances and restores record no flags; theirs are the diff of the two
// entries they record.
func Change(r *store.HistoryRow) baseline.Change {
	c := baseline.Change{Path: r.Path, Kind: baseline.Kind(r.Kind), Flags: flagsOf(r.Flags), Old: r.Old, New: r.New}
	switch {
	case r.Old == nil && r.New != nil:
		c.Kind = baseline.Created
	case r.New == nil && r.Old != nil:
		c.Kind = baseline.Deleted
	case len(r.Flags) == 0 && r.Old != nil && r.New != nil:
		d, _ := baseline.Diff(r.Old, r.New)
		c.Kind, c.Flags = d.Kind, d.Flags
	}
	return c
}

// flagsOf reads back the flag names a row recorded (baseline.Flags.Names wrote them).
func flagsOf(names []string) baseline.Flags {
	var f baseline.Flags
	for _, n := range names {
		f |= flagByName()[n]
	}
	return f
}

// flagByName maps each flag's name to its bit, built once: asking every bit for its names on
// every row was 7% of the CPU of 'history' over 400,000 rows.
var flagByName = sync.OnceValue(func() map[string]baseline.Flags {
	m := map[string]baseline.Flags{}
	for bit := baseline.Flags(1); bit != 0; bit <<= 1 {
		if n := bit.Names(); len(n) == 1 {
			m[n[0]] |= bit
		}
	}
	return m
})

// What says in words what a row changed, in report.What's words (those the scan and the daemon
// reported the change with), with the content's sha256 where it is new: that is how the row
// meets the content versions of 'history --diff' and 'show'.
func What(r *store.HistoryRow) string {
	c := Change(r)
	if c.Old == nil && c.New == nil {
		return baseline.QuoteLine(string(r.Kind))
	}
	what, detail := report.What(&policy.Finding{Change: c})
	var s string
	switch c.Kind {
	case baseline.Created:
		s = "created " + detail
		if r.Source == "accept" {
			s = "new baseline entry: " + detail
		}
		if c.New.Type == baseline.TypeFile {
			s += fmt.Sprintf(", %d bytes", c.New.Size)
		}
	case baseline.Deleted:
		s = "deleted (" + detail + ")"
	default:
		s = detail
		if s == "" {
			// Nothing report.What names (a replaced inode, say): the facts by their names.
			s = strings.Join(c.Flags.Names(), ", ")
		}
		if s == "" {
			s = what
		}
	}
	if c.New != nil && c.New.SHA256 != "" && (c.Old == nil || c.Old.SHA256 != c.New.SHA256) {
		if c.Old != nil && c.Old.SHA256 != "" {
			s += fmt.Sprintf(", sha256 %.12s -> %.12s", c.Old.SHA256, c.New.SHA256)
		} else {
			s += fmt.Sprintf(", sha256 %.12s", c.New.SHA256)
		}
	}
	return s
}

// Finding says what tripline made of a row: the rule, severity and verdict, or who accepted or
// restored it.
func Finding(r *store.HistoryRow) string {
	switch {
	case r.Source == "accept":
		return "accepted into the baseline by " + baseline.QuoteLine(r.By)
	case r.Source == "restore":
		return "restored by tripline (" + baseline.QuoteLine(r.By) + ")"
	case r.Rule == "":
		return "no rule fired"
	}
	return baseline.QuoteLine(fmt.Sprintf("%s, %s, %s", r.Rule, r.Severity, r.Verdict))
}
