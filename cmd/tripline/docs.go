package main

import (
	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/internal/clidoc"
)

// The shell completions and the manual page are written by package clidoc from the definitions
// of newApp; this file holds what those definitions do not say.

func completionCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print the shell completion script for bash, zsh or fish",
		UsageText: "tripline completion bash|zsh|fish",
		Description: `Prints a completion script generated from tripline's own definitions: commands, subcommands,
their flags, the values a flag lists (--format text|json|ecs), file names for FILE, DIR and
PATH. To use it now:
  source <(tripline completion bash)
  source <(tripline completion zsh)
  tripline completion fish | source
To install it:
  tripline completion bash > /usr/share/bash-completion/completions/tripline
  tripline completion zsh > /usr/share/zsh/vendor-completions/_tripline
  tripline completion fish > /usr/share/fish/vendor_completions.d/tripline.fish`,
		Action: func(c *cli.Context) error {
			spec := clidoc.NewCompletion(e.app, argChoices, arities)
			// The shells are argChoices["completion"]; the switch is the one place that knows
			// them all.
			switch sh := c.Args().First(); sh {
			case "bash":
				return spec.Bash(e.stdout)
			case "zsh":
				return spec.Zsh(e.stdout)
			case "fish":
				return spec.Fish(e.stdout)
			default:
				return usagef("completion: unknown shell %q (bash, zsh or fish)", sh)
			}
		},
	}
}

// argChoices are the values the argument of a command can take, for its completion.
var argChoices = map[string][]string{"completion": {"bash", "zsh", "fish"}}

func manCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print the manual page (roff, section 8): tripline man > tripline.8; man -l tripline.8",
		UsageText: "tripline man",
		Description: `Prints tripline(8), generated from the same definitions as --help: every command with its
usage, description and options, the environment variables, the exit codes and the files.`,
		Action: func(c *cli.Context) error {
			m := clidoc.Man{App: e.app, Section: 8, Manual: "System Administration", Version: versionString(), Sections: manSections}
			return m.Write(e.stdout)
		},
	}
}

// manSections are the parts of tripline(8) after the commands and the environment.
var manSections = []clidoc.Section{
	{Title: "EXIT STATUS", Font: "B",
		Text: "scan (and baseline create, baseline diff) exit with a bitmask of what they found; the other commands exit 0 on success.",
		Items: [][2]string{
			{"0", "no difference, or success"},
			{"1", "paths added (baseline verify: a bad signature)"},
			{"2", "paths removed"},
			{"4", "paths changed"},
			{"8", "some paths could not be read"},
			{"16", "usage error: the message names the help to read"},
			{"17", "error"},
			{"130", "interrupted; nothing was recorded by the unfinished command"},
		}},
	{Title: "FILES", Font: "I", Items: [][2]string{
		{"/var/lib/tripline/tripline.db", "the database (baseline, history, contents) when run as root"},
		{"~/.local/state/tripline/tripline.db", "the database otherwise ($XDG_STATE_HOME/tripline/tripline.db when XDG_STATE_HOME is set)"},
	}},
	{Title: "SEE ALSO", Roff: `.BR systemd.service (5),
.BR cron (8),
.BR fanotify (7),
.BR inotify (7)
.PP
Shell completion: \fBtripline completion bash\fR|\fBzsh\fR|\fBfish\fR.`},
}
