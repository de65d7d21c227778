// Package clidoc writes the documentation of a urfave/cli v2 App from its own definitions: a
// roff manual page and bash, zsh and fish completion scripts. The help, the page and the
// completions are read from the same commands and flags, so they cannot disagree. This file turns
// those definitions into plain values.
package clidoc

import (
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"
)

// flagDoc is what the docs say about one flag.
type flagDoc struct {
	names       []string // "output", "o"
	placeholder string   // FILE, from the `FILE` in the usage; "" for a flag without a value
	usage       string   // the usage, without the backquotes
	value       string   // the default value, "" if none worth saying
	env         []string
	choices     []string // the values the usage lists ("text, json or ecs"), if it lists them
}

func docOf(f cli.Flag) flagDoc {
	d := flagDoc{names: f.Names()}
	g, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return d
	}
	d.usage = g.GetUsage()
	if i := strings.IndexByte(d.usage, '`'); i >= 0 {
		if j := strings.IndexByte(d.usage[i+1:], '`'); j >= 0 {
			d.placeholder = d.usage[i+1 : i+1+j]
			d.usage = d.usage[:i] + d.placeholder + d.usage[i+1+j+1:]
		}
	}
	if g.TakesValue() {
		if d.placeholder == "" {
			d.placeholder = "VALUE"
		}
		d.value = g.GetValue()
		if dt := g.GetDefaultText(); dt != "" {
			d.value = dt
		}
		if d.value == `""` || d.value == "0" {
			d.value = ""
		}
		d.choices = choicesIn(g.GetUsage())
	} else {
		d.placeholder = ""
	}
	d.env = g.GetEnvVars()
	return d
}

// flagSpelling is "--name" for a long name, "-o" for a one-letter one.
func flagSpelling(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

var (
	parenthetical = regexp.MustCompile(`\([^()]*\)`)
	choiceWord    = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
)

// choicesIn reads the list of values in a usage such as "output `FORMAT`: text, json (one
// object per line), ecs" or "`FORMAT`: yaml or json": the words after the placeholder's colon.
// It returns nil unless every item is a single word and there are at least two.
func choicesIn(usage string) []string {
	i := strings.LastIndexByte(usage, '`')
	if i < 0 {
		return nil
	}
	rest := usage[i+1:]
	c := strings.Index(rest, ": ")
	if c < 0 {
		return nil
	}
	rest = parenthetical.ReplaceAllString(rest[c+2:], "")
	var out []string
	for _, part := range strings.Split(rest, ",") {
		for _, w := range strings.Split(part, " or ") {
			w = strings.TrimSpace(w)
			if !choiceWord.MatchString(w) {
				return nil
			}
			out = append(out, w)
		}
	}
	if len(out) < 2 {
		return nil
	}
	return out
}

// visibleFlags are the documented flags of a command or the app, with --help last.
func visibleFlags(flags []cli.Flag) []flagDoc {
	var out []flagDoc
	for _, f := range flags {
		if f == cli.HelpFlag {
			continue
		}
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		out = append(out, docOf(f))
	}
	return append(out, docOf(cli.HelpFlag))
}

// visibleCommands are the commands shown in help, man and completion.
func visibleCommands(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden {
			out = append(out, c)
		}
	}
	return out
}

// Walk calls fn for every visible command below cmds, parents before children, with its
// path ("baseline accept").
func Walk(cmds []*cli.Command, parent string, fn func(path string, c *cli.Command)) {
	for _, c := range visibleCommands(cmds) {
		path := strings.TrimSpace(parent + " " + c.Name)
		fn(path, c)
		Walk(c.Subcommands, path, fn)
	}
}
