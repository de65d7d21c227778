package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// urfave/cli v2 parses flags with the standard library's flag package, which stops at the first
// argument that is not a flag: "history PATH --format json" leaves "--format" and "json" as two
// more arguments (the v2 migration guide: "In v2 flags must come before args"). v3 parses flags
// anywhere, but moving to it changes the signature of every action in every command file. So
// tripline puts the command line in the order v2 expects before v2 sees it, using each command's
// own flag definitions: globals first, then each command name with its own flags, then the
// positional arguments after a "--". A "--" on the command line still ends the flags: what
// follows it is positional, even "--x".

// flagKinds maps each name and alias of some flags to whether the flag takes a value.
type flagKinds map[string]bool

func kindsOf(flags []cli.Flag) flagKinds {
	k := flagKinds{}
	for _, f := range flags {
		takes := true
		if d, ok := f.(cli.DocGenerationFlag); ok {
			takes = d.TakesValue()
		}
		for _, n := range f.Names() {
			k[n] = takes
		}
	}
	return k
}

// flagName returns the name in "-x", "--name" or "--name=value", and whether a value is attached.
// ok is false for arguments that are not flags: "-" (stdin), "--" and words.
func flagName(a string) (name string, attached, ok bool) {
	if len(a) < 2 || a[0] != '-' || a == "--" {
		return "", false, false
	}
	name, _, attached = strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
	return name, attached, name != ""
}

// findCommand returns the command among cmds called name (or an alias of it).
func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// commandLine is a command line split into its parts.
type commandLine struct {
	global []string       // the app's flags, wherever they were
	path   []*cli.Command // the command, then its subcommand...
	flags  [][]string     // the flags of each command of path
	args   []string       // the positional arguments
}

// parseLine splits args (without the program name) by the app's definitions. A flag goes to the
// innermost command named so far that defines it, else to the app if the app defines it; one that
// nobody defines stays with the innermost command, so that the library reports it there. Only
// the first positional of a command with subcommands is a command name: one it does not have is
// a usage error.
func parseLine(app *cli.App, args []string) (*commandLine, error) {
	l := &commandLine{}
	global := kindsOf(append(append([]cli.Flag{}, app.Flags...), cli.HelpFlag, cli.VersionFlag))
	var local []flagKinds
	cmds := app.Commands
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			l.args = append(l.args, args[i+1:]...)
			break
		}
		if name, attached, ok := flagName(a); ok {
			dst, takes := &l.global, global[name]
			known := false
			for d := len(local) - 1; d >= 0; d-- {
				if t, found := local[d][name]; found {
					dst, takes, known = &l.flags[d], t, true
					break
				}
			}
			if !known {
				if _, found := global[name]; !found && len(local) > 0 {
					dst, takes = &l.flags[len(local)-1], false
				}
			}
			*dst = append(*dst, a)
			if takes && !attached {
				if i+1 == len(args) {
					return nil, commandError{path: commandPath(l.path), err: usagef("%s needs a value", a)}
				}
				i++
				*dst = append(*dst, args[i])
			}
			continue
		}
		if len(l.args) == 0 && (len(l.path) == 0 || len(cmds) > 0) {
			c := findCommand(cmds, a)
			if c == nil {
				if len(l.path) == 0 {
					return nil, unknownCommand("", a, cmds)
				}
				return nil, unknownCommand(commandPath(l.path), a, cmds)
			}
			l.path = append(l.path, c)
			l.flags = append(l.flags, nil)
			local = append(local, kindsOf(append(append([]cli.Flag{}, c.Flags...), cli.HelpFlag)))
			cmds = c.Subcommands
			continue
		}
		l.args = append(l.args, a)
	}
	return l, nil
}

func unknownCommand(parent, name string, cmds []*cli.Command) error {
	var names []string
	for _, c := range cmds {
		if !c.Hidden {
			names = append(names, c.Name)
		}
	}
	where := ""
	if parent != "" {
		where = parent + ": "
	}
	return commandError{path: parent, err: usagef("%sunknown command %q (commands: %s)", where, name, strings.Join(names, ", "))}
}

// commandPath is "baseline accept" for the path baseline, accept.
func commandPath(path []*cli.Command) string {
	names := make([]string, len(path))
	for i, c := range path {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

// normalize puts args (with the program name) in the order urfave/cli v2 parses. "help CMD..."
// becomes "CMD... --help", so that the help command and the --help flag print the same page.
func normalize(app *cli.App, args []string) ([]string, error) {
	if len(args) == 0 {
		return args, nil
	}
	l, err := parseLine(app, args[1:])
	if err != nil {
		return nil, err
	}
	if len(l.path) == 1 && l.path[0].Name == "help" {
		topic, err := parseLine(app, l.args)
		if err != nil {
			return nil, err
		}
		if len(topic.args) > 0 {
			return nil, commandError{path: "help", err: usagef("help: %q is not a command of %q", topic.args[0], "tripline "+commandPath(topic.path))}
		}
		topic.global = append(l.global, l.flags[0]...)
		topic.flags = make([][]string, len(topic.path))
		out := topic.ordered(args[0])
		return append(out, "--help"), nil
	}
	return l.ordered(args[0]), nil
}

func (l *commandLine) ordered(prog string) []string {
	out := append([]string{prog}, l.global...)
	for i, c := range l.path {
		out = append(out, c.Name)
		out = append(out, l.flags[i]...)
	}
	if len(l.args) > 0 {
		out = append(append(out, "--"), l.args...)
	}
	return out
}

// arity is how many positional arguments a command takes.
type arity struct {
	min, max int    // max -1: no limit
	what     string // what an argument is, for the message: "PATH", "FILE"
	hint     string // what to do instead, when there are too many
}

// arities declares the positional arguments of every command that runs an action; checkArgs
// enforces them before the action runs, so a stray word is a usage error (16), never ignored.
var arities = map[string]arity{
	"scan":             {0, 0, "", "use --root to scan another tree"},
	"watch":            {0, 0, "", "use --root to watch another tree"},
	"baseline create":  {0, 0, "", "use --root to record another tree"},
	"baseline update":  {0, 0, "", "to accept some paths use 'tripline baseline accept PATH...'"},
	"baseline accept":  {1, -1, "PATH", "or use 'tripline baseline update' to accept everything"},
	"baseline show":    {0, -1, "PATH", ""},
	"baseline export":  {0, 0, "", "use -o FILE"},
	"baseline keygen":  {0, 0, "", "use --out PREFIX"},
	"baseline verify":  {1, 1, "FILE", ""},
	"baseline diff":    {2, 2, "exports (A.json B.json)", ""},
	"history":          {0, 1, "PATH", ""},
	"restore":          {1, 1, "PATH", ""},
	"show":             {1, 1, "PATH@N", ""},
	"policy show":      {0, 0, "", "use --policy FILE to show another policy"},
	"policy check":     {1, 1, "FILE", ""},
	"policy locations": {0, 0, "", "use --root DIR to resolve them under another tree"},
	"version":          {0, 0, "", ""},
	"completion":       {1, 1, "SHELL (bash, zsh or fish)", ""},
	"man":              {0, 0, "", ""},
}

func (a arity) check(name string, args []string) error {
	n := len(args)
	var msg string
	switch {
	case n >= a.min && (a.max < 0 || n <= a.max):
		return nil
	case a.max == 0:
		msg = fmt.Sprintf("%s takes no arguments (got %q)", name, args[0])
	case a.min == a.max && a.min == 1:
		msg = fmt.Sprintf("%s needs exactly one %s (got %d)", name, a.what, n)
	case a.min == a.max:
		msg = fmt.Sprintf("%s needs %d %s (got %d)", name, a.min, a.what, n)
	case n < a.min:
		msg = fmt.Sprintf("%s needs at least %d %s", name, a.min, a.what)
	default:
		msg = fmt.Sprintf("%s takes at most %d %s (got %d)", name, a.max, a.what, n)
	}
	if a.hint != "" {
		msg += "; " + a.hint
	}
	return usagef("%s", msg)
}
