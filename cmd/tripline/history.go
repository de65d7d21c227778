package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/investigate"
	"github.com/tripline/tripline/store"
)

func historyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "history",
		Usage:     "a file's timeline, every change in a window, by a process or a user; verify the chain",
		UsageText: "tripline history [PATH] [--since D|TIME] [--until TIME] [--pid N] [--user NAME] [--exe PATH]\n                 [--severity LEVEL] [--location ID] [--format text|json] [--diff] [--verify [--head HASH]]",
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
reordered, and checks the baseline against the newest seal in the chain, naming the rows edited
outside tripline. --head HASH also checks that the history still holds a head kept off this host
earlier (an event's tripline.history.hash, an export's chain head): a history cut back or rolled
back to before it does not. Exit 1 when anything is wrong.`,
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
			&cli.BoolFlag{Name: "verify", Usage: "check the history's hash chain and the baseline's seal"},
			&cli.StringFlag{Name: "head", Usage: "with --verify: the history must still hold the row whose hash is `HASH` (a head kept off the host)"},
			&cli.IntFlag{Name: "limit", Usage: "at most `N` rows (0: all)"},
			&cli.BoolFlag{Name: "prune", Usage: "delete the oldest rows per --older-than and --keep-rows, keeping the chain verifiable"},
			&cli.StringFlag{Name: "older-than", Usage: "with --prune: rows older than `AGE` (400d, 720h)"},
			&cli.Int64Flag{Name: "keep-rows", Usage: "with --prune: keep the newest `N` rows"},
		},
		Action: func(c *cli.Context) error { return runHistory(c, e) },
	}
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
	leanGC()
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
	f := investigate.Filter{Since: c.String("since"), Until: c.String("until"), PID: c.Int("pid"), User: c.String("user"),
		Exe: c.String("exe"), Severity: c.String("severity"), Location: c.String("location"), Limit: c.Int("limit")}
	if c.NArg() == 1 {
		if f.Path, err = pathArg(c.Args().First()); err != nil {
			return err
		}
	}
	hostUsers := baseline.LoadUsers("/")
	q, err := f.Query(time.Now(), func(name string) (int64, bool) { return lookupUID(name, hostUsers) })
	if err != nil {
		return usageError{err}
	}
	if q.Path != "" {
		rows, err := db.History(c.Context, q)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return fmt.Errorf("no history for %s in %s (is it in a watched location? 'tripline policy locations' lists them)", baseline.QuotePath(q.Path), db.Path())
		}
		gaps, err := db.Gaps(c.Context, rows[0].TimeNS, 0)
		if err != nil {
			return err
		}
		tl := investigate.NewTimeline(q.Path, rows, gaps)
		if c.Bool("diff") {
			tl.Diffs = investigate.Diffs(c.Context, db, rows)
		}
		if format == "json" {
			return writeJSON(e.stdout, tl.JSON())
		}
		return tl.WriteText(e.stdout, hostUsers)
	}
	if c.Bool("diff") {
		return usagef("--diff needs a PATH")
	}
	// Streamed from the database a row at a time: a window of a busy host's history can hold
	// hundreds of thousands of rows.
	streamGC()
	if f := os.Getenv("TRIPLINE_CPUPROFILE"); f != "" {
		// For measuring the listing (README Performance): its profile from the query to the end.
		stop, err := startCPUProfile(f)
		if err != nil {
			return err
		}
		defer stop()
	}
	if format == "json" {
		// Every row's actor is written: read with its row.
		return investigate.WriteRowsJSON(e.stdout, func(f func(store.HistoryRow) error) error { return db.EachHistoryStored(c.Context, q, true, f) })
	}
	// Each actor is decoded once, for its group's title: read then.
	return investigate.WriteGroupedEach(e.stdout, func(f func(store.HistoryRow) error) error { return db.EachHistoryStored(c.Context, q, false, f) }, hostUsers)
}

func pruneHistory(c *cli.Context, e *env) error {
	if c.NArg() > 0 {
		return usagef("--prune takes no PATH")
	}
	var before int64
	if s := c.String("older-than"); s != "" {
		d, err := investigate.ParseAge(s)
		if err != nil {
			return usageError{err}
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
	if res.KeptSeal != "" {
		fmt.Fprintf(e.stderr, "tripline: kept the baseline's newest seal and the rows after it, because %s\n", oneLine(res.KeptSeal))
		return exitStatus(exitAdded) // 1, as --verify
	}
	return nil
}

// lookupUID resolves a user name of this host (actors are processes of this host, even under
// --root): from its passwd, then through the system's user database.
func lookupUID(name string, hostUsers *baseline.Users) (int64, bool) {
	if uid, ok := hostUsers.UIDOf(name); ok {
		return int64(uid), true
	}
	if u, err := user.Lookup(name); err == nil {
		n, err := strconv.ParseInt(u.Uid, 10, 32)
		return n, err == nil
	}
	return 0, false
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func verifyHistory(c *cli.Context, e *env, db *store.DB, format string) error {
	res, err := db.VerifyChainHead(c.Context, c.String("head"))
	if err != nil {
		return err
	}
	base, err := db.VerifyBaseline(c.Context)
	if err != nil {
		return err
	}
	if format == "json" {
		err = writeJSON(e.stdout, struct {
			store.ChainResult
			Baseline store.BaselineCheck `json:"baseline"`
		}{res, base})
	} else {
		err = investigate.WriteChain(e.stdout, res, base)
	}
	if err != nil {
		return err
	}
	if !res.OK || !base.OK {
		return exitStatus(exitAdded) // 1
	}
	return nil
}
