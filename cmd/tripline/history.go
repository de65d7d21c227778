package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

// armWindow is how close a creation and an arming must be to be called out together.
const armWindow = 10 * time.Minute

func historyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "a file's timeline, every change in a window, by a process or a user; verify the chain",
		UsageText: "tripline history [PATH] [--since D|TIME] [--until TIME] [--pid N] [--user NAME] [--exe PATH]\n                 [--severity LEVEL] [--location ID] [--format text|json] [--diff] [--verify]",
		Description: `With a PATH: the file's timeline, oldest first, even when it no longer exists: when it was
first seen, its birth time, every change (when, how it was seen: scan, event, reconcile,
accept, restore; what changed; who did it: pid, executable, arguments, parent, user, login
user, and how that is known; the finding: rule, severity, verdict), the gaps in coverage
during its life, and suspicious time facts (mtime set backwards, mtime before birth, created
and armed within 10 minutes in one login session). --diff adds the content differences
between its stored versions.

Without a PATH: every change that matches the filters, grouped by the process that made it,
so "what else did this process, this user, this session touch" is one command:
  tripline history --since 2h
  tripline history --pid 4242
  tripline history --user alice --severity high

--verify checks the history's hash chain and names the first row that was edited, deleted or
reordered (exit 1 when one was).`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "since", Usage: "changes since `WHEN`: a duration back from now (2h, 30m) or a time (2006-01-02, RFC 3339)"},
			&cli.StringFlag{Name: "until", Usage: "changes before `WHEN` (same forms as --since)"},
			&cli.IntFlag{Name: "pid", Usage: "changes made by process `N`"},
			&cli.StringFlag{Name: "user", Usage: "changes made by `USER` (name or uid): as the acting, effective or login user"},
			&cli.StringFlag{Name: "exe", Usage: "changes made by the executable `PATH`"},
			&cli.StringFlag{Name: "severity", Usage: "changes whose finding is at least `LEVEL` (info, low, medium, high, critical)"},
			&cli.StringFlag{Name: "location", Usage: "changes in location `ID`"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
			&cli.BoolFlag{Name: "diff", Usage: "with PATH: show the differences between its stored content versions"},
			&cli.BoolFlag{Name: "verify", Usage: "check the history's hash chain"},
			&cli.IntFlag{Name: "limit", Usage: "at most `N` rows (0: all)"},
			&cli.BoolFlag{Name: "prune", Usage: "delete the oldest rows per --older-than and --keep-rows, keeping the chain verifiable"},
			&cli.StringFlag{Name: "older-than", Usage: "with --prune: rows older than `AGE` (400d, 720h)"},
			&cli.Int64Flag{Name: "keep-rows", Usage: "with --prune: keep the newest `N` rows"},
		},
		Action: func(c *cli.Context) error { return runHistory(c, e) },
	}
}

func parseWhen(s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return 0, usagef("%q: a duration back from now must be positive", s)
		}
		return now.Add(-d).UnixNano(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, usagef("%q is neither a duration (2h, 30m) nor a time (2006-01-02, 2006-01-02T15:04:05Z)", s)
}

func runHistory(c *cli.Context, e *env) error {
	format := c.String("format")
	if format != "text" && format != "json" {
		return usagef("--format %q: must be text or json", format)
	}
	if c.NArg() > 1 {
		return usagef("history takes at most one PATH")
	}
	if c.Bool("prune") {
		return pruneHistory(c, e)
	}
	db, err := e.openDBReadOnly(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	if c.Bool("verify") {
		if c.NArg() > 0 {
			return usagef("--verify checks the whole history and takes no PATH")
		}
		return verifyHistory(c, e, db, format)
	}
	now := time.Now()
	q := store.HistoryQuery{UID: -1, Exe: c.String("exe"), MinSeverity: c.String("severity"), Location: c.String("location"),
		PID: int32(c.Int("pid")), Limit: c.Int("limit")}
	if q.SinceNS, err = parseWhen(c.String("since"), now); err != nil {
		return err
	}
	if q.UntilNS, err = parseWhen(c.String("until"), now); err != nil {
		return err
	}
	hostUsers := baseline.LoadUsers("/")
	if u := c.String("user"); u != "" {
		uid, err := lookupUID(u, hostUsers)
		if err != nil {
			return err
		}
		q.UID = uid
	}
	if q.MinSeverity != "" && !slices.Contains([]string{"info", "low", "medium", "high", "critical"}, q.MinSeverity) {
		return usagef("--severity %q: must be info, low, medium, high or critical", q.MinSeverity)
	}
	if c.NArg() == 1 {
		p, err := pathArg(c.Args().First())
		if err != nil {
			return err
		}
		q.Path = p
		rows, err := db.History(c.Context, q)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("no history for %s in %s (is it in a watched location? 'tripline policy locations' lists them)", baseline.QuotePath(p), db.Path())
		}
		gaps, err := db.Gaps(c.Context, rows[0].TimeNS, 0)
		if err != nil {
			return err
		}
		notes := suspicious(rows)
		var diffs []string
		if c.Bool("diff") {
			if diffs, err = contentDiffs(c, db, rows); err != nil {
				return err
			}
		}
		if format == "json" {
			out := map[string]any{"path": p, "rows": rows, "gaps": nonNilGaps(gaps), "notes": nonNilStrings(notes)}
			if c.Bool("diff") {
				out["diffs"] = nonNilStrings(diffs)
			}
			return writeJSON(e.stdout, out)
		}
		writeTimeline(e.stdout, p, rows, gaps, notes, hostUsers)
		for _, d := range diffs {
			fmt.Fprintln(e.stdout, d)
		}
		return nil
	}
	if c.Bool("diff") {
		return usagef("--diff needs a PATH")
	}
	rows, err := db.History(c.Context, q)
	if err != nil {
		return err
	}
	if format == "json" {
		if rows == nil {
			rows = []store.HistoryRow{}
		}
		return writeJSON(e.stdout, map[string]any{"rows": rows})
	}
	writeGrouped(e.stdout, rows, hostUsers)
	return nil
}

// parseAge reads a duration that may also be given in days ("400d").
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(d, 64)
		if err == nil && n > 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("%q: give an age such as 400d or 720h", s)
	}
	return d, nil
}

func pruneHistory(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return usagef("--prune takes no PATH")
	}
	var before int64
	if s := c.String("older-than"); s != "" {
		d, err := parseAge(s)
		if err != nil {
			return err
		}
		before = time.Now().Add(-d).UnixNano()
	}
	keep := c.Int64("keep-rows")
	if keep < 0 {
		return usagef("--keep-rows must not be negative")
	}
	if before == 0 && keep == 0 {
		return usagef("--prune needs --older-than AGE or --keep-rows N")
	}
	db, err := e.openDB(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	res, err := db.Prune(c.Context, before, keep)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "pruned %d history rows; the chain now starts after row %d\n", res.Rows, res.AnchorID)
	return nil
}

// lookupUID reads --user: a uid, or a name of this host's users (actors are processes of this
// host, even under --root).
func lookupUID(s string, hostUsers *baseline.Users) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 32); err == nil && n >= 0 {
		return n, nil
	}
	if uid, ok := hostUsers.UIDOf(s); ok {
		return int64(uid), nil
	}
	if u, err := user.Lookup(s); err == nil {
		n, _ := strconv.ParseInt(u.Uid, 10, 32)
		return n, nil
	}
	return 0, usagef("--user %q: no such user on this host (give a uid)", s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func nonNilGaps(g []store.Gap) []store.Gap {
	if g == nil {
		return []store.Gap{}
	}
	return g
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func verifyHistory(c *cli.Context, e *env, db *store.DB, format string) error {
	res, err := db.VerifyChain(c.Context)
	if err != nil {
		return err
	}
	if format == "json" {
		if err := writeJSON(e.stdout, res); err != nil {
			return err
		}
	} else if res.OK {
		fmt.Fprintf(e.stdout, "history chain intact: %d rows verified", res.Rows)
		if res.AnchorID > 0 {
			fmt.Fprintf(e.stdout, " (rows up to %d were pruned by retention)", res.AnchorID)
		}
		fmt.Fprintf(e.stdout, "; head is row %d, %s\n", res.HeadID, res.Head)
		fmt.Fprintln(e.stdout, "Keep the head off this host (it is in every ECS event as tripline.history.hash): a root attacker can rewrite the whole chain, and only a copy elsewhere shows it.")
	} else {
		fmt.Fprintf(e.stdout, "history chain BROKEN at row %d: %s\n", res.BadRow, res.Problem)
		fmt.Fprintf(e.stdout, "%d rows before it verified; the last good row is %d, %s\n", res.Rows-1, res.HeadID, res.Head)
	}
	if !res.OK {
		return exitStatus(exitAdded) // 1
	}
	return nil
}

func ts(ns int64) string {
	if ns == 0 {
		return "-"
	}
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z")
}

func userName(u *baseline.Users, id int32) string {
	if id < 0 {
		return "unset"
	}
	if n := u.User(uint32(id)); n != "" {
		return fmt.Sprintf("%s (%d)", n, id)
	}
	return strconv.Itoa(int(id))
}

// describeActor renders who made a change, on one or two lines.
func describeActor(a *proc.Actor, users *baseline.Users) string {
	if a == nil {
		return "actor unknown (found by a scan or a reconcile)"
	}
	if a.Process == nil {
		s := "attribution " + string(a.Attribution)
		if a.PID != 0 {
			s = fmt.Sprintf("pid %d, %s", a.PID, s)
		}
		if a.Why != "" {
			s += ": " + a.Why
		}
		return s
	}
	p := a.Process
	s := fmt.Sprintf("pid %d %s %s", p.PID, baseline.QuotePath(p.Exe), strconv.Quote(strings.Join(p.Args, " ")))
	if len(a.Ancestors) > 0 {
		par := a.Ancestors[0]
		s += fmt.Sprintf("\n      parent pid %d %s %s", par.PID, baseline.QuotePath(par.Exe), strconv.Quote(strings.Join(par.Args, " ")))
	}
	uid := p.EUID
	if uid < 0 {
		uid = p.UID
	}
	s += fmt.Sprintf("\n      user %s, login user %s", userName(users, uid), userName(users, p.LoginUID))
	if p.SessionID >= 0 {
		s += fmt.Sprintf(", session %d", p.SessionID)
	}
	s += "; attribution " + string(a.Attribution)
	return s
}

// whatChanged summarises a row's change in words.
func whatChanged(r *store.HistoryRow) string {
	o, n := r.Old, r.New
	switch {
	case o == nil && n != nil:
		verb := "created"
		if r.Source == "accept" {
			verb = "new baseline entry:"
		}
		s := fmt.Sprintf("%s %s %s, %d bytes", verb, n.Type, baseline.ModeString(n.Mode), n.Size)
		if n.SHA256 != "" {
			s += ", sha256 " + n.SHA256[:12]
		}
		if n.Target != "" {
			s += " -> " + baseline.QuotePath(n.Target)
		}
		return s
	case n == nil && o != nil:
		return fmt.Sprintf("deleted (was %s %s)", o.Type, baseline.ModeString(o.Mode))
	case n == nil:
		return string(r.Kind)
	}
	var parts []string
	if o.Mode != n.Mode {
		parts = append(parts, fmt.Sprintf("mode %s -> %s", baseline.ModeString(o.Mode), baseline.ModeString(n.Mode)))
	}
	if o.UID != n.UID || o.GID != n.GID {
		parts = append(parts, fmt.Sprintf("owner %d:%d -> %d:%d", o.UID, o.GID, n.UID, n.GID))
	}
	if o.Type != n.Type {
		parts = append(parts, fmt.Sprintf("type %s -> %s", o.Type, n.Type))
	}
	if o.Size != n.Size {
		parts = append(parts, fmt.Sprintf("size %d -> %d", o.Size, n.Size))
	}
	if o.SHA256 != n.SHA256 && n.SHA256 != "" && o.SHA256 != "" {
		parts = append(parts, fmt.Sprintf("sha256 %s -> %s", o.SHA256[:12], n.SHA256[:12]))
	}
	if o.Target != n.Target {
		parts = append(parts, fmt.Sprintf("target %s -> %s", baseline.QuotePath(o.Target), baseline.QuotePath(n.Target)))
	}
	if o.MtimeNS != n.MtimeNS {
		parts = append(parts, fmt.Sprintf("mtime %s -> %s", ts(o.MtimeNS), ts(n.MtimeNS)))
	}
	if o.CtimeNS != n.CtimeNS {
		parts = append(parts, fmt.Sprintf("ctime %s -> %s", ts(o.CtimeNS), ts(n.CtimeNS)))
	}
	if len(parts) == 0 {
		return string(r.Kind)
	}
	return strings.Join(parts, "; ")
}

func finding(r *store.HistoryRow) string {
	switch {
	case r.Source == "accept":
		return "accepted into the baseline by " + r.By
	case r.Source == "restore":
		return "restored by tripline (" + r.By + ")"
	case r.Rule == "":
		return "no rule fired"
	}
	return fmt.Sprintf("%s, %s, %s", r.Rule, r.Severity, r.Verdict)
}

func writeTimeline(w io.Writer, p string, rows []store.HistoryRow, gaps []store.Gap, notes []string, users *baseline.Users) {
	fmt.Fprintf(w, "%s: %d recorded changes, oldest first\n", baseline.QuotePath(p), len(rows))
	first := rows[0]
	fmt.Fprintf(w, "first seen %s (%s)", ts(first.TimeNS), first.Source)
	for _, r := range rows {
		if r.New != nil && r.New.BtimeNS != 0 {
			fmt.Fprintf(w, "; born %s", ts(r.New.BtimeNS))
			break
		}
	}
	fmt.Fprintln(w)
	for i := range rows {
		r := &rows[i]
		fmt.Fprintf(w, "\n#%d %s  %-9s %s\n", r.ID, ts(r.TimeNS), r.Source, whatChanged(r))
		fmt.Fprintf(w, "      %s\n", finding(r))
		if r.Source != "accept" && r.Source != "restore" {
			fmt.Fprintf(w, "      %s\n", describeActor(r.Actor, users))
		}
	}
	if len(gaps) > 0 {
		fmt.Fprintf(w, "\ncoverage gaps during its life (changes in them were found by reconciling, without an actor):\n")
		for _, g := range gaps {
			end := ts(g.EndNS)
			if g.EndNS == 0 {
				end = "still open"
			}
			fmt.Fprintf(w, "  %s to %s: %s %s\n", ts(g.StartNS), end, g.Reason, g.Detail)
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nsuspicious:")
		for _, n := range notes {
			fmt.Fprintf(w, "  ! %s\n", n)
		}
	}
}

// suspicious calls out the time facts an investigator looks for.
func suspicious(rows []store.HistoryRow) []string {
	var out []string
	for i := range rows {
		r := &rows[i]
		// A restore sets the baseline's mtime back on purpose; an acceptance changes nothing.
		if r.New == nil || r.Source == "restore" || r.Source == "accept" {
			continue
		}
		if r.Old != nil && r.New.MtimeNS < r.Old.MtimeNS {
			out = append(out, fmt.Sprintf("#%d at %s: mtime set backwards, %s -> %s", r.ID, ts(r.TimeNS), ts(r.Old.MtimeNS), ts(r.New.MtimeNS)))
		}
		if r.New.BtimeNS != 0 && r.New.MtimeNS < r.New.BtimeNS {
			out = append(out, fmt.Sprintf("#%d at %s: mtime %s is before the file's birth %s (timestomped)", r.ID, ts(r.TimeNS), ts(r.New.MtimeNS), ts(r.New.BtimeNS)))
		}
	}
	// Created, then armed soon after within one login session.
	for i := range rows {
		c := &rows[i]
		if c.Kind != "created" {
			continue
		}
		ca := c.Actor
		for j := i + 1; j < len(rows); j++ {
			a := &rows[j]
			if time.Duration(a.TimeNS-c.TimeNS) > armWindow {
				break
			}
			if !slices.Contains(a.Flags, "exec-added") {
				continue
			}
			aa := a.Actor
			if same, how := sameSession(ca, aa); same {
				out = append(out, fmt.Sprintf("created (#%d) and armed with an exec bit (#%d) %s apart, %s",
					c.ID, a.ID, time.Duration(a.TimeNS-c.TimeNS).Round(time.Second), how))
			}
			break
		}
	}
	return out
}

func sameSession(a, b *proc.Actor) (bool, string) {
	if a == nil || b == nil || a.Process == nil || b.Process == nil {
		return false, ""
	}
	pa, pb := a.Process, b.Process
	switch {
	case pa.SessionID >= 0 && pa.SessionID == pb.SessionID:
		return true, fmt.Sprintf("in the same login session %d (login uid %d)", pa.SessionID, pa.LoginUID)
	case pa.LoginUID >= 0 && pa.LoginUID == pb.LoginUID:
		return true, fmt.Sprintf("by the same login user %d", pa.LoginUID)
	}
	return false, ""
}

// writeGrouped prints rows grouped by the process that made them, in order of first appearance.
func writeGrouped(w io.Writer, rows []store.HistoryRow, users *baseline.Users) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No recorded change matches.")
		return
	}
	type group struct {
		title string
		rows  []*store.HistoryRow
	}
	var order []string
	groups := map[string]*group{}
	for i := range rows {
		r := &rows[i]
		a := r.Actor
		key, title := "none", "no actor (scans, reconciles, acceptances)"
		if a != nil && a.PID != 0 {
			key = strconv.Itoa(int(a.PID))
			title = describeActor(a, users)
			if a.Process != nil {
				key += "/" + a.Process.Exe
			}
		}
		g, ok := groups[key]
		if !ok {
			g = &group{title: title}
			groups[key] = g
			order = append(order, key)
		}
		g.rows = append(g.rows, r)
	}
	fmt.Fprintf(w, "%d changes by %d actors\n", len(rows), len(order))
	for _, k := range order {
		g := groups[k]
		fmt.Fprintf(w, "\n%s\n", g.title)
		for _, r := range g.rows {
			fmt.Fprintf(w, "  #%d %s %-9s %s: %s [%s]\n", r.ID, ts(r.TimeNS), r.Source, baseline.QuotePath(r.Path), whatChanged(r), finding(r))
		}
	}
}
