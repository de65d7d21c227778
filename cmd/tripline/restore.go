package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/journal"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/store"
)

func restoreCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "put a file back as the baseline has it: mode, owner and content",
		UsageText: "tripline restore [--mode-only] [--dry-run] PATH",
		Description: `Puts back the baseline's mode and owner and, where the baseline content is stored (regular
files up to 1 MiB), its content. It never follows a symlink (a symlink or a directory where
the file should be is refused), sets mode and owner on the very file it checked, and writes
content to a temporary file in the same directory that it renames over the name. The restore
is recorded in the history as tripline's own action, under the database's write lock, so a
running 'tripline watch' sees no change to report. It says exactly what it changed.`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "mode-only", Usage: "put back only the mode and owner, not the content"},
			&cli.BoolFlag{Name: "dry-run", Usage: "say what would change, change nothing"},
		},
		Action: func(c *cli.Context) error { return runRestore(c, e) },
	}
}

func runRestore(c *cli.Context, e *env) error {
	if c.NArg() != 1 {
		return usagef("restore needs exactly one PATH")
	}
	p, err := pathArg(c.Args().First())
	if err != nil {
		return err
	}
	root := e.root
	if root == "" {
		root = "/"
	}
	db, err := e.openDB(c.Context)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin(c.Context)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// What the baseline says is what restore acts on: an edited row would have it set any mode.
	if chk, err := tx.CheckBaseline(c.Context); err != nil {
		return err
	} else if !chk.OK {
		return fmt.Errorf("baseline of %s: %s; refusing to restore from it (see 'tripline history --verify')", db.Path(), chk.Problem)
	}
	st, want, err := tx.Lookup(c.Context, p)
	if err != nil {
		return err
	}
	if want == nil {
		return fmt.Errorf("%s has no baseline entry: there is nothing to restore it to ('tripline baseline show %s')", baseline.QuotePath(p), p)
	}
	cur, err := baseline.Stat(root, p, 0)
	var curp *baseline.Entry
	switch {
	case err == nil:
		curp = &cur
	case errors.Is(err, os.ErrNotExist):
	default:
		return err
	}
	var content []byte
	if want.Type == baseline.TypeFile && want.HashState == baseline.HashOK && (curp == nil || curp.SHA256 != want.SHA256) {
		content, err = db.Content(c.Context, want.SHA256)
		if err != nil && !errors.Is(err, store.ErrNoContent) {
			return err
		}
	}
	plan, err := baseline.Restore(root, p, curp, want, content, c.Bool("mode-only"), c.Bool("dry-run"))
	if err != nil {
		return err
	}
	changes := plan.Changes(curp, want)
	if len(changes) == 0 {
		fmt.Fprintf(e.stdout, "%s is as the baseline has it: nothing to restore.\n", baseline.QuotePath(p))
		return nil
	}
	verb := "restored"
	if c.Bool("dry-run") {
		verb = "would restore"
	}
	fmt.Fprintf(e.stdout, "%s %s:\n", verb, baseline.QuotePath(p))
	for _, ch := range changes {
		fmt.Fprintf(e.stdout, "  %s\n", ch)
	}
	if c.Bool("dry-run") {
		return nil
	}
	after, err := baseline.Stat(root, p, 0)
	if err != nil {
		return fmt.Errorf("%s: restored, but it cannot be read back: %w", baseline.QuotePath(p), err)
	}
	after.Location = want.Location
	self := &proc.Actor{Attribution: proc.AttrSelf, PID: int32(os.Getpid()), Why: "tripline restore, run by " + whoami()}
	rec, err := journal.Restored(c.Context, tx, journal.Known{State: st, Base: want}, &after, whoami(), self, time.Now().UnixNano())
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if plan.ContentMissing {
		fmt.Fprintf(e.stderr, "tripline: %s: its content still differs from the baseline (not stored to restore from)\n", baseline.QuotePath(p))
		return exitStatus(exitChanged)
	}
	fmt.Fprintf(e.stdout, "recorded in the history as row %d (%s).\n", rec.ID, strings.TrimSpace(strconv.Quote(rec.By)))
	return nil
}
