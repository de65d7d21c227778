package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"go.yaml.in/yaml/v3"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/report"
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
					switch c.String("format") {
					case "yaml":
						fmt.Fprintf(e.stdout, "# effective policy from %s (sha256 %s)\n", pol.Source(), pol.Digest())
						enc := yaml.NewEncoder(e.stdout)
						enc.SetIndent(2)
						if err := enc.Encode(pol); err != nil {
							return err
						}
						return enc.Close()
					case "json":
						enc := json.NewEncoder(e.stdout)
						enc.SetIndent("", "  ")
						return enc.Encode(pol)
					}
					return usagef("--format %q: must be yaml or json", c.String("format"))
				},
			},
			{
				Name:      "check",
				Usage:     "validate a policy file; errors are printed as file:line: what is wrong",
				UsageText: "tripline policy check FILE",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return usagef("check needs exactly one FILE")
					}
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

// LocationRow is one line of 'policy locations'.
type LocationRow struct {
	Type      string `json:"type"`
	Location  string `json:"location"`
	Category  string `json:"category"`
	Use       string `json:"use"`
	Pattern   string `json:"pattern"`
	Path      string `json:"path"`
	Kind      string `json:"kind"` // dir, file, or what exists there
	Recursive bool   `json:"recursive"`
	Exists    bool   `json:"exists"`
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
	var rows []LocationRow
	for _, t := range pol.Targets() {
		loc := pol.Location(t.Location)
		want := "file"
		if t.Dir {
			want = "dir"
		}
		base := LocationRow{Type: "location", Location: t.Location, Category: loc.Category, Use: string(loc.Use), Pattern: t.Pattern, Recursive: t.Recursive}
		found, err := baseline.Glob(e.root, t.Path)
		if err != nil {
			return err
		}
		if len(found) == 0 && !c.Bool("existing") {
			r := base
			r.Path, r.Kind = t.Path, want
			rows = append(rows, r)
		}
		for _, f := range found {
			r := base
			r.Path, r.Kind, r.Exists = f.Path, string(f.Type), true
			if t.Dir && f.Type != baseline.TypeDir {
				r.Kind += " (not a directory: nothing below it is watched)"
			}
			rows = append(rows, r)
		}
	}
	if format == report.JSON {
		enc := json.NewEncoder(e.stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOCATION\tUSE\tEXISTS\tKIND\tPATH")
	n := 0
	for _, r := range rows {
		ex := "no"
		if r.Exists {
			ex = "yes"
			n++
		}
		p := baseline.QuotePath(r.Path)
		if r.Recursive {
			p += "/**"
		} else if r.Kind == "dir" {
			p += "/*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Location, r.Use, ex, r.Kind, p)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d of %d resolved paths exist (%d locations).\n", n, len(rows), len(pol.Locations))
	return nil
}
