package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/report"
)

func baselineCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "baseline",
		Usage: "create, accept, show, export, sign, verify and compare the approved baseline",
		Description: `The baseline is the approved state of every path in the policy's locations. The first
'tripline scan' records it; after that, scans report differences until they are accepted.
Every acceptance is recorded in the history with who ran it and when.`,
		Subcommands: append([]*cli.Command{
			{
				Name:      "create",
				Usage:     "discard the baseline and record the host as it is now",
				UsageText: "tripline baseline create [--format text|json|ecs]",
				Flags:     scanCommand(e).Flags,
				Action:    func(c *cli.Context) error { return runScan(c, e, true) },
			},
			{
				Name:      "update",
				Usage:     "accept everything the last scan found (new, changed and deleted paths)",
				UsageText: "tripline baseline update [--dry-run]",
				Flags:     []cli.Flag{dryRunFlag()},
				Action: func(c *cli.Context) error {
					return accept(c, e, nil)
				},
			},
			{
				Name:      "accept",
				Usage:     "accept the last observed state of some paths",
				UsageText: "tripline baseline accept [--dry-run] PATH...",
				Flags:     []cli.Flag{dryRunFlag()},
				Action: func(c *cli.Context) error {
					var paths []string
					for _, a := range c.Args().Slice() {
						p, err := pathArg(a)
						if err != nil {
							return err
						}
						paths = append(paths, p)
					}
					return accept(c, e, paths)
				},
			},
			{
				Name:      "show",
				Usage:     "print the baseline, or the entries of some paths (a PATH ending in / shows everything under it)",
				UsageText: "tripline baseline show [--format text|json] [PATH...]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
				},
				Action: func(c *cli.Context) error { return showBaseline(c, e) },
			},
		}, exportCommands(e)...),
	}
}

func accept(c *cli.Context, e *env, paths []string) error {
	db, err := e.openDB(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, ok, err := db.BaselineInfo(c.Context); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("no baseline in %s yet: run 'tripline scan' first", db.Path())
	}
	do := journal.Accept
	if c.Bool("dry-run") {
		do = journal.WouldAccept
	}
	res, err := do(c.Context, db, paths, whoami(), time.Now().UnixNano())
	if err != nil {
		return err
	}
	(&report.Renderer{W: e.stdout}).Accepted(&res)
	if len(res.Unknown) > 0 {
		for _, p := range res.Unknown {
			fmt.Fprintf(e.stderr, "tripline: %s: no change recorded for this path by the last scan (nothing to accept)\n", baseline.QuotePath(p))
		}
		return fmt.Errorf("%d of %d paths had nothing to accept", len(res.Unknown), len(paths))
	}
	return nil
}

func dryRunFlag() cli.Flag {
	return &cli.BoolFlag{Name: "dry-run", Usage: "say what would be accepted, change nothing"}
}

func showBaseline(c *cli.Context, e *env) error {
	format, err := report.ParseFormat(c.String("format"), report.Text, report.JSON)
	if err != nil {
		return usageError{err}
	}
	var paths []string
	for _, a := range c.Args().Slice() {
		p, err := pathArg(a)
		if err != nil {
			return err
		}
		if strings.HasSuffix(a, "/") && p != "/" {
			p += "/"
		}
		paths = append(paths, p)
	}
	db, err := e.openDBReadOnly(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	info, ok, err := db.BaselineInfo(c.Context)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no baseline in %s yet: run 'tripline scan' first", db.Path())
	}
	// Streamed: a baseline of a large tree has hundreds of thousands of entries.
	r := &report.Renderer{W: e.stdout, Format: format, Users: baseline.LoadUsers(e.root)}
	packaged, err := db.BaselinePackaged(c.Context)
	if err != nil {
		return err
	}
	var n int64
	err = r.BaselineEach(report.BaselineHeader{Root: info.Root, CreatedNS: info.CreatedNS, CreatedBy: info.CreatedBy, Packages: packaged},
		func(count func(int64) error, row func(*baseline.Approved) error) error {
			return db.EachBaselineEntry(c.Context, paths, func(total int64) error {
				n = total
				return count(total)
			}, row)
		})
	if err != nil {
		return err
	}
	if len(paths) > 0 && n == 0 {
		return fmt.Errorf("no baseline entry for %s", strings.Join(quoteAll(paths), ", "))
	}
	return nil
}

func quoteAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = baseline.QuotePath(p)
	}
	return out
}
