package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/scan"
)

func policyCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "show, check and resolve the policy",
		Description: `The policy lists the persistence locations (path patterns, category, MITRE technique and
how the consumer uses a file: executed, sourced or config), rule severities, trusted writers,
ignored names and exceptions. The default is embedded in tripline; --policy FILE replaces it,
or extends it when the file says "extends: default".`,
		Subcommands: []*cli.Command{
			{
				Name:      "show",
				Usage:     "print the effective policy (the default, or --policy merged onto it)",
				UsageText: "tripline [--policy FILE] policy show [--format yaml|json]",
				Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Value: "yaml", Usage: "output `FORMAT`: yaml or json"}},
				Action: func(c *cli.Context) error {
					pol, err := e.policy()
					if err != nil {
						return err
					}
					if f := c.String("format"); f != "yaml" && f != "json" {
						return usagef("--format %q: must be yaml or json", f)
					}
					return pol.Write(e.stdout, c.String("format"))
				},
			},
			{
				Name:      "check",
				Usage:     "validate a policy file; errors are printed as file:line: what is wrong",
				UsageText: "tripline policy check FILE",
				Action: func(c *cli.Context) error {
					pol, err := policy.LoadFile(c.Args().First())
					if err != nil {
						return err
					}
					fmt.Fprintf(e.stdout, "%s: ok: %d locations, %d path patterns, %d exceptions (source %s)\n",
						c.Args().First(), len(pol.Locations), len(pol.Targets()), len(pol.Exceptions), pol.Source())
					return nil
				},
			},
			{
				Name:      "locations",
				Usage:     "list every directory and file the policy resolves to on this host (or under --root), and whether it exists",
				UsageText: "tripline [--root DIR] policy locations [--format text|json] [--existing]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json"},
					&cli.BoolFlag{Name: "existing", Usage: "list only what exists"},
				},
				Action: func(c *cli.Context) error { return policyLocations(c, e) },
			},
		},
	}
}

func policyLocations(c *cli.Context, e *env) error {
	format, err := report.ParseFormat(c.String("format"), report.Text, report.JSON)
	if err != nil {
		return usageError{err}
	}
	pol, err := e.policy()
	if err != nil {
		return err
	}
	rows, err := scan.Resolve(pol, e.root, c.Bool("existing"))
	if err != nil {
		return err
	}
	return (&report.Renderer{W: e.stdout, Format: format}).Locations(rows, len(pol.Locations))
}
