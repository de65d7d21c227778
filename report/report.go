// Package report renders what tripline found: text tables for people, JSON lines for scripts
// (one object per line, each with a "type"), and Elastic Common Schema events for log shippers.
// It decides nothing: severities and verdicts come from the policy.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/scan"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Text Format = "text"
	JSON Format = "json"
	ECS  Format = "ecs"
)

// ParseFormat checks a --format value against the formats allowed for a command.
func ParseFormat(s string, allowed ...Format) (Format, error) {
	var names []string
	for _, f := range allowed {
		if string(f) == s {
			return f, nil
		}
		names = append(names, string(f))
	}
	return "", fmt.Errorf("--format %q: must be one of %s", s, strings.Join(names, ", "))
}

// Host identifies the machine events come from.
type Host struct {
	Name string
	ID   string // /etc/machine-id
}

// LocalHost reads the host name and machine id of the running system.
func LocalHost() Host {
	h := Host{}
	h.Name, _ = os.Hostname()
	if b, err := os.ReadFile("/etc/machine-id"); err == nil {
		h.ID = strings.TrimSpace(string(b))
	}
	return h
}

// HostAt is the identity of the system whose root is root: the running one for "" and "/", else
// an image's own (its etc/hostname and etc/machine-id), never this host's.
func HostAt(root string) Host {
	if root == "" || root == "/" {
		return LocalHost()
	}
	h := Host{}
	if b, err := os.ReadFile(filepath.Join(root, "etc/hostname")); err == nil {
		h.Name = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/machine-id")); err == nil {
		h.ID = strings.TrimSpace(string(b))
	}
	return h
}

// Renderer writes results in one format. It is not safe for concurrent use.
type Renderer struct {
	W      io.Writer
	Format Format
	Host   Host
	Users  *baseline.Users // owners of files, from the scanned root's /etc/passwd
	// HostUsers names the users of acting processes, which run on this host even under --root.
	HostUsers *baseline.Users
	Root      string // "/" or the --root directory, reported with events
	Now       func() time.Time
}

func (r *Renderer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Renderer) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return r.write(b)
}

// write writes one document and its newline in one Write (one unit for a sink).
func (r *Renderer) write(doc []byte) error {
	_, err := r.W.Write(append(doc, '\n'))
	return err
}

// EntryJSON is an Entry as JSON output carries it: the Entry fields plus octal and symbolic mode,
// owner names, RFC 3339 times, and path_escaped when the path is not valid UTF-8 (JSON strings
// cannot carry such bytes; path then holds replacement characters).
type EntryJSON struct {
	*baseline.Entry
	PathEscaped string `json:"path_escaped,omitempty"`
	ModeOctal   string `json:"mode_octal"`
	ModeSym     string `json:"mode_symbolic"`
	Owner       string `json:"owner,omitempty"`
	Group       string `json:"group,omitempty"`
	Mtime       string `json:"mtime"`
	Ctime       string `json:"ctime"`
	Btime       string `json:"btime,omitempty"`
}

// EntryJSON renders an entry for JSON output.
func (r *Renderer) EntryJSON(e *baseline.Entry) *EntryJSON {
	if e == nil {
		return nil
	}
	j := &EntryJSON{Entry: e, ModeOctal: baseline.ModeString(e.Mode), ModeSym: baseline.SymbolicMode(e.Type, e.Mode),
		Owner: r.Users.User(e.UID), Group: r.Users.Group(e.GID), Mtime: ts(e.MtimeNS), Ctime: ts(e.CtimeNS)}
	if e.BtimeNS != 0 {
		j.Btime = ts(e.BtimeNS)
	}
	j.PathEscaped = escaped(e.Path)
	return j
}

func escaped(p string) string {
	if utf8.ValidString(p) {
		return ""
	}
	return strconv.Quote(p)
}

// Bytes renders a byte count for people: "512 B", "1.9 MiB", "2.0 GiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func ts(ns int64) string { return baseline.FormatTime(ns) }

// FindingJSON is the "finding" object of --format json.
type FindingJSON struct {
	Type        string         `json:"type"`
	Path        string         `json:"path"`
	PathEscaped string         `json:"path_escaped,omitempty"`
	Kind        baseline.Kind  `json:"kind"`
	Rule        string         `json:"rule"`
	RuleName    string         `json:"rule_name"`
	Severity    string         `json:"severity"`
	Verdict     policy.Verdict `json:"verdict"`
	Why         string         `json:"why,omitempty"`
	Location    string         `json:"location"`
	Category    string         `json:"category"`
	Use         policy.Use     `json:"use"`
	Technique   string         `json:"technique,omitempty"`
	Compliance  []string       `json:"compliance,omitempty"` // the location's control ids
	Flags       []string       `json:"flags"`
	Hits        []policy.Hit   `json:"hits"`
	Source      string         `json:"source"`
	Actor       *proc.Actor    `json:"actor"`
	Old         *EntryJSON     `json:"old,omitempty"`
	New         *EntryJSON     `json:"new,omitempty"`
	// The daemon's: whether the change is in the history yet (false while the database cannot
	// be written), and when its kernel event was read.
	Recorded *bool  `json:"recorded,omitempty"`
	ReadAt   string `json:"read_at,omitempty"`
}

// EventInfo is what the daemon knows of a change beyond the finding.
type EventInfo struct {
	ReadNS     int64 // when the kernel event was read; 0: none was (a reconcile)
	Unrecorded bool  // not in the history yet: the database could not be written
}

// Finding writes one finding found by a scan (json and ecs; text findings of a scan go through
// FindingsTable).
func (r *Renderer) Finding(f *policy.Finding, source string) error {
	return r.FindingBy(f, source, nil)
}

// FindingBy writes one finding with its actor (nil: nobody is known, as in a scan). In text it is
// one line, for a daemon's log.
func (r *Renderer) FindingBy(f *policy.Finding, source string, a *proc.Actor) error {
	return r.finding(f, source, a, nil)
}

// FindingEvent writes one finding of the daemon: FindingBy plus whether it is recorded yet
// (ECS tripline.recorded, json recorded, text "(not yet recorded)") and when its event was read
// (ECS event.created, json read_at).
func (r *Renderer) FindingEvent(f *policy.Finding, source string, a *proc.Actor, ev EventInfo) error {
	return r.finding(f, source, a, &ev)
}

func (r *Renderer) finding(f *policy.Finding, source string, a *proc.Actor, ev *EventInfo) error {
	if a == nil {
		a = proc.Nobody()
	}
	switch r.Format {
	case ECS:
		return r.write(r.ecsFinding(make([]byte, 0, 4096), f, source, a, ev))
	case Text:
		what, detail := What(f)
		who := "pid ?"
		if a.PID != 0 {
			who = fmt.Sprintf("pid %d", a.PID)
		}
		if a.Process != nil {
			who += " " + baseline.QuotePath(a.Process.Exe)
			if len(a.Process.Args) > 0 {
				who += " " + strconv.Quote(strings.Join(a.Process.Args, " "))
			}
		}
		line := fmt.Sprintf("%s %s %s %s %s: %s (%s, %s, %s)", r.now().UTC().Format(time.RFC3339), f.Severity, f.Rule(),
			baseline.QuotePath(f.Change.Path), what, detail, f.Verdict, source, who)
		if e := f.Change.Entry(); e != nil && e.Package.Owned() {
			line += fmt.Sprintf(" [package %s, %s]", e.Package, e.Package.State) // a syslog line names it too
		}
		if ev != nil && ev.Unrecorded {
			line += " (not yet recorded)"
		}
		line += "\n"
		_, err := io.WriteString(r.W, line)
		return err
	default:
		c := &f.Change
		fj := FindingJSON{Type: "finding", Path: c.Path, PathEscaped: escaped(c.Path), Kind: c.Kind,
			Rule: f.Rule(), RuleName: policy.RuleName(f.Rule()), Severity: f.Severity.String(), Verdict: f.Verdict, Why: f.Why,
			Location: f.Location.ID, Category: f.Location.Category, Use: f.Location.Use, Technique: f.Location.Technique, Compliance: f.Location.Compliance,
			Flags: nonNil(c.Flags.Names()), Hits: f.Hits, Source: source, Actor: a, Old: r.EntryJSON(c.Old), New: r.EntryJSON(c.New)}
		if ev != nil {
			rec := !ev.Unrecorded
			fj.Recorded = &rec
			if ev.ReadNS != 0 {
				fj.ReadAt = ts(ev.ReadNS)
			}
		}
		return r.line(fj)
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// What summarises a change in a few words for the text table: "mode 0644 -> 0755".
func What(f *policy.Finding) (what, detail string) {
	c := &f.Change
	switch c.Kind {
	case baseline.Created:
		e := c.New
		if e.Type == baseline.TypeSymlink {
			return "created", "symlink -> " + baseline.QuotePath(e.Target)
		}
		return "created", fmt.Sprintf("%s %s", e.Type, baseline.ModeString(e.Mode))
	case baseline.Deleted:
		return "deleted", fmt.Sprintf("was %s %s", c.Old.Type, baseline.ModeString(c.Old.Mode))
	case baseline.Present:
		p := c.New.Package
		if !p.Owned() {
			return "unowned", fmt.Sprintf("%s %s owned by no package", c.New.Type, baseline.ModeString(c.New.Mode))
		}
		return string(p.State), baseline.QuoteLine(p.Detail)
	}
	var parts []string
	if c.Flags&baseline.TypeChanged != 0 {
		parts = append(parts, fmt.Sprintf("type %s -> %s", c.Old.Type, c.New.Type))
	}
	if c.Flags&baseline.ModeChanged != 0 {
		parts = append(parts, fmt.Sprintf("mode %s -> %s", baseline.ModeString(c.Old.Mode), baseline.ModeString(c.New.Mode)))
	}
	if c.Flags&baseline.OwnerChanged != 0 {
		parts = append(parts, fmt.Sprintf("owner %d:%d -> %d:%d", c.Old.UID, c.Old.GID, c.New.UID, c.New.GID))
	}
	if c.Flags&baseline.ContentChanged != 0 {
		parts = append(parts, fmt.Sprintf("content (size %d -> %d)", c.Old.Size, c.New.Size))
	}
	if c.Flags&baseline.TargetChanged != 0 {
		parts = append(parts, fmt.Sprintf("target %s -> %s", baseline.QuotePath(c.Old.Target), baseline.QuotePath(c.New.Target)))
	}
	if c.Flags&(baseline.MtimeBackwards|baseline.MtimeBeforeBirth) != 0 {
		parts = append(parts, "mtime "+ts(c.Old.MtimeNS)+" -> "+ts(c.New.MtimeNS))
	}
	return "changed", strings.Join(parts, ", ")
}

// FindingsTable writes findings as a text table for people.
func (r *Renderer) FindingsTable(fs []policy.Finding) error {
	return r.findingsTable(func(fn func(*policy.Finding) error) error {
		for i := range fs {
			if err := fn(&fs[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// tableRows is how many rows of the findings table are aligned together: the table is written
// in blocks of that many, so that a scan with a finding for every file does not hold them all.
const tableRows = 1000

// findingsTable writes the findings that each yields as FindingsTable does.
func (r *Renderer) findingsTable(each func(func(*policy.Finding) error) error) error {
	var tw *tabwriter.Writer
	n := 0
	err := each(func(f *policy.Finding) error {
		if n%tableRows == 0 {
			if tw != nil {
				if err := tw.Flush(); err != nil {
					return err
				}
			}
			tw = tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
			if n == 0 {
				fmt.Fprintln(tw, "SEVERITY\tRULE\tPATH\tCHANGE\tLOCATION")
			}
		}
		n++
		what, detail := What(f)
		sev := f.Severity.String()
		if !f.Alerting() {
			sev += " (" + string(f.Verdict) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s: %s\t%s\n", sev, f.Rule(), baseline.QuotePath(f.Change.Path), what, detail, f.Location.ID)
		return nil
	})
	if tw != nil {
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// ErrorJSON is the "error" object of --format json: a path that could not be observed.
type ErrorJSON struct {
	Type  string `json:"type"`
	Path  string `json:"path,omitempty"`
	Error string `json:"error"`
}

// PathErrors writes the per-path errors of a scan (json and ecs only; text goes to stderr).
func (r *Renderer) PathErrors(errs []error) error {
	for _, err := range errs {
		e := ErrorJSON{Type: "error", Error: err.Error()}
		if pe, ok := err.(*baseline.PathError); ok {
			e.Path = pe.Path
		}
		if r.Format == ECS {
			if err := r.write(r.ecsError(make([]byte, 0, 1024), e)); err != nil {
				return err
			}
			continue
		}
		if err := r.line(e); err != nil {
			return err
		}
	}
	return nil
}

// SummaryJSON is the last object of a scan in --format json.
type SummaryJSON struct {
	Type      string `json:"type"`
	First     bool   `json:"baseline_recorded"`
	Root      string `json:"root"`
	RunID     int64  `json:"run_id"`
	Paths     int    `json:"paths"`
	Hashed    int    `json:"hashed"`
	HashBytes int64  `json:"hashed_bytes"`
	Reused    int    `json:"reused"`
	TooLarge  int    `json:"not_hashed_too_large"`
	Ignored   int    `json:"ignored"`
	// ContentFull counts file contents not stored for history and restore: the store was full.
	ContentFull int            `json:"contents_not_stored"`
	Uncovered   int            `json:"uncovered"`
	Findings    int            `json:"findings"`
	Alerts      int            `json:"alerts"`
	BySev       map[string]int `json:"by_severity"`
	Errors      int            `json:"errors"`
	Seconds     float64        `json:"seconds"`
	ExitCode    int            `json:"exit_code"`
	Notes       []string       `json:"notes,omitempty"`
	Packages    string         `json:"packages,omitempty"` // the package databases read (scan.Result.Packages)
}

// Summary returns the summary of a scan result.
func Summary(res *scan.Result, exit int) (SummaryJSON, error) {
	s := SummaryJSON{Type: "summary", First: res.First, Root: res.Root, RunID: res.RunID, Paths: res.Paths,
		Hashed: res.Hashed, HashBytes: res.HashBytes, Reused: res.Reused, TooLarge: res.TooLarge,
		Ignored: res.Ignored, ContentFull: res.ContentFull, Uncovered: res.Uncovered, Findings: res.Findings.Len(), BySev: map[string]int{},
		Errors: len(res.Errors), Seconds: res.Duration.Seconds(), ExitCode: exit, Notes: res.Notes, Packages: res.Packages}
	err := res.Findings.Each(func(f *policy.Finding) error {
		if f.Alerting() {
			s.Alerts++
		}
		s.BySev[f.Severity.String()]++
		return nil
	})
	return s, err
}

// Scan writes the whole result of a scan in the renderer's format.
func (r *Renderer) Scan(res *scan.Result, exit int) error {
	sum, err := Summary(res, exit)
	if err != nil {
		return err
	}
	finding := func(f *policy.Finding) error { return r.Finding(f, "scan") }
	switch r.Format {
	case Text:
		return r.scanText(res, sum)
	case JSON:
		if res.Inventory != nil {
			if err := r.inventoryJSON(res.Inventory); err != nil {
				return err
			}
		}
		if err := res.Findings.Each(finding); err != nil {
			return err
		}
		if err := r.PathErrors(res.Errors); err != nil {
			return err
		}
		return r.line(sum)
	case ECS:
		if res.Inventory != nil {
			for i := range res.Inventory.Notable {
				if err := r.write(r.ecsNotable(make([]byte, 0, 2048), &res.Inventory.Notable[i])); err != nil {
					return err
				}
			}
		}
		if err := res.Findings.Each(finding); err != nil {
			return err
		}
		return r.PathErrors(res.Errors)
	}
	return fmt.Errorf("unknown format %q", r.Format)
}

func (r *Renderer) scanText(res *scan.Result, sum SummaryJSON) error {
	w := r.W
	if res.Inventory != nil {
		fmt.Fprintf(w, "Baseline recorded for %s: %d paths (%d files hashed, %s read) in %.2fs.\n\n",
			baseline.QuotePath(res.Root), res.Paths, res.Hashed, Bytes(res.HashBytes), res.Duration.Seconds())
		if err := r.inventoryText(res.Inventory, len(res.Errors)); err != nil {
			return err
		}
		if n := res.Findings.Len(); n > 0 {
			// Judged without history, against the package database: altered before this scan.
			fmt.Fprintf(w, "\nAgainst the package database (%d, %d alerting):\n", n, sum.Alerts)
			if err := r.findingsTable(res.Findings.Each); err != nil {
				return err
			}
		}
	} else if res.Findings.Len() == 0 {
		fmt.Fprintf(w, "No changes against the baseline: %d paths checked in %.2fs.\n", res.Paths, res.Duration.Seconds())
	} else {
		if err := r.findingsTable(res.Findings.Each); err != nil {
			return err
		}
		fmt.Fprintln(w)
		var sev []string
		for _, s := range []policy.Severity{policy.SevCritical, policy.SevHigh, policy.SevMedium, policy.SevLow, policy.SevInfo} {
			if n := sum.BySev[s.String()]; n > 0 {
				sev = append(sev, fmt.Sprintf("%d %s", n, s))
			}
		}
		fmt.Fprintf(w, "%d findings (%s), %d alerting; %d paths checked in %.2fs. Review, then `tripline baseline update` or `baseline accept PATH`.\n",
			res.Findings.Len(), strings.Join(sev, ", "), sum.Alerts, res.Paths, res.Duration.Seconds())
	}
	if res.TooLarge > 0 {
		fmt.Fprintf(w, "%d files over the hash size cap were recorded without a hash (size and mtime are compared).\n", res.TooLarge)
	}
	if res.ContentFull > 0 {
		fmt.Fprintf(w, "%d file contents were not stored for history --diff and restore: the content store (%d MiB) is full of contents the baseline needs.\n", res.ContentFull, res.ContentStoreBytes>>20)
	}
	if res.Ignored > 0 {
		fmt.Fprintf(w, "%d names ignored by the policy (editor and package-manager temporaries).\n", res.Ignored)
	}
	if res.Uncovered > 0 {
		fmt.Fprintf(w, "%d baseline paths are no longer covered by the policy and were left alone.\n", res.Uncovered)
	}
	if len(res.Errors) > 0 {
		fmt.Fprintf(w, "%d paths could not be read completely (listed on stderr).\n", len(res.Errors))
	}
	if res.Packages != "" {
		fmt.Fprintf(w, "Packages: %s.\n", res.Packages)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	return nil
}

func (r *Renderer) inventoryText(inv *scan.Inventory, unread int) error {
	tw := tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tCATEGORY\tUSE\tPATHS\tFILES\tEXECUTABLE")
	absent := 0
	for _, l := range inv.Locations {
		if l.Paths == 0 {
			absent++
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\n", l.ID, l.Category, l.Use, l.Paths, l.Files, l.Exec)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if absent > 0 {
		fmt.Fprintf(r.W, "(%d more locations have nothing on this host; `tripline policy locations` lists them.)\n", absent)
	}
	fmt.Fprintln(r.W)
	if len(inv.Notable) == 0 {
		if unread > 0 {
			// Not "nothing stands out": what could not be read is not known to be fine.
			fmt.Fprintln(r.W, "Nothing stands out in what could be read.")
			return nil
		}
		fmt.Fprintln(r.W, "Nothing stands out in the inventory.")
		return nil
	}
	fmt.Fprintf(r.W, "Worth a look (%d):\n", len(inv.Notable))
	tw = tabwriter.NewWriter(r.W, 0, 0, 2, ' ', 0)
	for _, n := range inv.Notable {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", baseline.QuotePath(n.Entry.Path), n.Location, strings.Join(n.Why, "; "))
	}
	return tw.Flush()
}

// InventoryJSON is the "inventory" object of --format json: one per location.
type InventoryJSON struct {
	Type string `json:"type"`
	scan.LocationCount
}

// NotableJSON is the "notable" object of --format json.
type NotableJSON struct {
	Type     string     `json:"type"`
	Path     string     `json:"path"`
	Location string     `json:"location"`
	Why      []string   `json:"why"`
	Entry    *EntryJSON `json:"entry"`
}

func (r *Renderer) inventoryJSON(inv *scan.Inventory) error {
	for _, l := range inv.Locations {
		if err := r.line(InventoryJSON{Type: "inventory", LocationCount: l}); err != nil {
			return err
		}
	}
	for i := range inv.Notable {
		n := &inv.Notable[i]
		if err := r.line(NotableJSON{Type: "notable", Path: n.Entry.Path, Location: n.Location, Why: n.Why, Entry: r.EntryJSON(&n.Entry)}); err != nil {
			return err
		}
	}
	return nil
}
