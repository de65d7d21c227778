package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/investigate"
	"github.com/tripline/tripline/store"
)

func showCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print a stored content version of a file",
		UsageText: "tripline show PATH@N",
		Description: `Prints version N (1 is the oldest) of PATH's content as tripline stored it, byte for byte
to a pipe or a file. To a terminal, a line holding control characters is printed Go-quoted.
'tripline history PATH --diff' lists the versions and their differences. Contents are stored
for regular files in locations up to 1 MiB.`,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("show needs PATH@N")
			}
			arg := c.Args().First()
			at := strings.LastIndexByte(arg, '@')
			if at < 0 {
				return usagef("%s: give PATH@N, N a version number from 'tripline history PATH --diff'", arg)
			}
			n, err := strconv.Atoi(arg[at+1:])
			if err != nil || n < 1 {
				return usagef("%s: version %q is not a number from 1", arg, arg[at+1:])
			}
			p, err := pathArg(arg[:at])
			if err != nil {
				return err
			}
			db, err := e.openDBReadOnly(c.Context)
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := db.History(c.Context, store.HistoryQuery{Path: p, UID: -1})
			if err != nil {
				return err
			}
			vs := investigate.Versions(rows)
			if n > len(vs) {
				return fmt.Errorf("%s has %d content versions in the history, not %d", baseline.QuotePath(p), len(vs), n)
			}
			b, err := db.Content(c.Context, vs[n-1].SHA256)
			if errors.Is(err, store.ErrNoContent) {
				return fmt.Errorf("%s version %d (sha256 %s) is not stored (over 1 MiB, or pruned)", baseline.QuotePath(p), n, vs[n-1].SHA256)
			}
			if err != nil {
				return err
			}
			// Byte for byte to a pipe or a file; to a terminal, control characters are shown, not obeyed.
			quoted := false
			if isTerminal(e.stdout) {
				b, quoted = baseline.QuoteText(b)
			}
			if _, err := e.stdout.Write(b); err != nil {
				return err
			}
			if quoted {
				fmt.Fprintln(e.stderr, "tripline: lines holding control characters or invalid UTF-8 are shown Go-quoted; redirect to a file for the exact bytes")
			}
			return nil
		},
	}
}
