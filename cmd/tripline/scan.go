package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/scan"
)

func scanCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "scan",
		Usage: "compare the host (or --root) with the baseline; the first run records it",
		Description: `Walks every location of the policy, hashes regular files (in parallel; unchanged files
are not read again) and compares them with the baseline.

The first scan of a database records the baseline and prints an inventory: paths per location
and the ones worth a look (executables in config locations, setuid, world-writable, non-root
owners in system locations, symlinks into /tmp or home directories, FIFOs and devices).
Later scans print every difference from the baseline with its rule and severity, record new
changes in the history, and exit with a bitmask of the alerting findings at or above
--fail-on: 1 added, 2 removed, 4 changed, plus 8 when some paths could not be read.
Accept changes with 'tripline baseline update' or 'tripline baseline accept PATH'.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text, json (one object per line with a \"type\"), ecs (Elastic Common Schema)"},
			&cli.StringFlag{Name: "fail-on", Value: "info", Usage: "lowest `SEVERITY` that sets exit bits: info, low, medium, high, critical"},
			&cli.Int64Flag{Name: "max-hash-size", Value: baseline.DefaultMaxHashBytes, Usage: "files larger than `BYTES` are recorded without a hash (size and mtime compared)"},
			&cli.IntFlag{Name: "workers", Usage: "hashing goroutines (`N`; default: one per CPU)"},
			&cli.BoolFlag{Name: "no-content", Usage: "do not store file contents (up to 1 MiB each, 64 MiB in all) for 'history --diff' and 'restore'; a first scan of a very large tree is faster"},
		},
		Action: func(c *cli.Context) error {
			return runScan(c, e, false)
		},
	}
}

// runScan runs a scan (or, with recreate, baseline create) and renders it.
func runScan(c *cli.Context, e *env, recreate bool) error {
	format, err := report.ParseFormat(c.String("format"), report.Text, report.JSON, report.ECS)
	if err != nil {
		return usageError{err}
	}
	failOn, err := policy.ParseSeverity(c.String("fail-on"))
	if err != nil {
		return usagef("--fail-on: %v", err)
	}
	if c.Int64("max-hash-size") <= 0 {
		return usagef("--max-hash-size must be positive")
	}
	if c.Args().Present() {
		return usagef("scan takes no arguments (got %q); use --root to scan another tree", c.Args().First())
	}
	scanGC()
	ctx := c.Context
	pol, db, err := e.policyAndDB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	// The baseline is checked against its seal by the scan itself, from the rows it compares
	// against (scan.Run): reading it twice cost a third of a check's CPU.
	opt := scan.Options{Root: e.root, Policy: pol, DB: db, MaxHashBytes: c.Int64("max-hash-size"), NoContent: c.Bool("no-content"),
		Workers: c.Int("workers"), By: whoami(), Recreate: recreate, NoChanges: true, Packages: newPackages(e.root).For(pol)}
	prog := newProgress(ctx, e, db)
	if prog != nil {
		opt.Progress, opt.ProgressEvery = prog.Show, 200*time.Millisecond
	}
	e.log.Debug("scan", "root", baseline.NormRoot(e.root), "db", db.Path(), "policy", pol.Source())
	if f := os.Getenv("TRIPLINE_CPUPROFILE"); f != "" {
		// For measuring the scan (bench/): the profile of scan.Run alone.
		stop, err := startCPUProfile(f)
		if err != nil {
			return err
		}
		defer stop()
	}
	res, err := scan.Run(ctx, opt)
	prog.Clear()
	if err != nil {
		return err
	}
	defer res.Close()
	for _, perr := range res.Errors {
		fmt.Fprintf(e.stderr, "tripline: cannot read %s\n", oneLine(perr.Error()))
	}
	code, err := scanExit(res, failOn)
	if err != nil {
		return err
	}
	// Buffered: a first scan of a large tree lists tens of thousands of notable paths, a write
	// system call each otherwise.
	w := bufio.NewWriterSize(e.stdout, 64<<10)
	r := &report.Renderer{W: w, Format: format, Host: report.LocalHost(), Users: baseline.LoadUsers(e.root), Root: baseline.NormRoot(e.root)}
	if err := r.Scan(res, code); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return exitStatus(code)
}

// scanExit computes scan's exit bitmask: the kinds of alerting findings at or above failOn, plus
// 8 when some path could not be read.
func scanExit(res *scan.Result, failOn policy.Severity) (int, error) {
	code := 0
	err := res.Findings.Each(func(f *policy.Finding) error {
		if !f.Alerting() || f.Severity < failOn {
			return nil
		}
		switch f.Change.Kind {
		case baseline.Created:
			code |= exitAdded
		case baseline.Deleted:
			code |= exitRemoved
		default:
			code |= exitChanged
		}
		return nil
	})
	if res.Unreadable() {
		code |= exitUnreadable
	}
	return code, err
}
