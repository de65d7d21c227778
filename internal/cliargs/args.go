// Package cliargs puts a command line in the order urfave/cli v2 parses, so that flags may come
// anywhere, checks the count of a command's positional arguments, and applies to every command
// what they share (Prepare).
//
// urfave/cli v2 parses flags with the standard library's flag package, which stops at the first
// argument that is not a flag: "history PATH --format json" leaves "--format" and "json" as two
// more arguments (the v2 migration guide: "In v2 flags must come before args"). v3 parses flags
// anywhere, but moving to it changes the signature of every action in every command file. So
// Normalize puts the command line in the order v2 expects before v2 sees it, using each command's
// own flag definitions: globals first, then each command name with its own flags, then the
// positional arguments after a "--". A "--" on the command line still ends the flags: what
// follows it is positional, even "--x".
package cliargs

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// UsageError is a command line that does not fit the app's definitions. Path is the command it
// is about ("baseline accept"; "" for the app itself), so that the caller can point at its help.
type UsageError struct {
	Path string
	Err  error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(path, format string, a ...any) error {
	return &UsageError{Path: path, Err: fmt.Errorf(format, a...)}
}

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
// a usage error, and so is a "--" where a command name is still due.
func parseLine(app *cli.App, args []string) (*commandLine, error) {
	l := &commandLine{}
	global := kindsOf(append(append([]cli.Flag{}, app.Flags...), cli.HelpFlag, cli.VersionFlag))
	var local []flagKinds
	cmds := app.Commands
	for i := 0; i < len(args); i++ {
		a := args[i]
		expectsCommand := len(l.args) == 0 && (len(l.path) == 0 || len(cmds) > 0)
		if a == "--" {
			if expectsCommand {
				// "--" ends the flags, not the command names: "baseline -- $X" must never run
				// the subcommand $X names.
				name := a
				if i+1 < len(args) {
					name = args[i+1]
				}
				return nil, unknownCommand(Path(l.path), name, cmds)
			}
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
					return nil, usagef(Path(l.path), "%s needs a value", a)
				}
				i++
				*dst = append(*dst, args[i])
			}
			continue
		}
		if expectsCommand {
			c := findCommand(cmds, a)
			if c == nil {
				return nil, unknownCommand(Path(l.path), a, cmds)
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
	return usagef(parent, "%sunknown command %q (commands: %s)", where, name, strings.Join(names, ", "))
}

// Path is "baseline accept" for the path baseline, accept.
func Path(path []*cli.Command) string {
	names := make([]string, len(path))
	for i, c := range path {
		names[i] = c.Name
	}
	return strings.Join(names, " ")
}

// Normalize puts args (with the program name) in the order urfave/cli v2 parses. "help CMD..."
// becomes "CMD... --help", so that the help command and the --help flag print the same page.
func Normalize(app *cli.App, args []string) ([]string, error) {
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
			return nil, usagef("help", "help: %q is not a command of %q", topic.args[0], strings.TrimSpace(app.Name+" "+Path(topic.path)))
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

// Arity is how many positional arguments a command takes.
type Arity struct {
	Min, Max int    // Max -1: no limit
	What     string // what an argument is, for the message: "PATH", "FILE"
	Hint     string // what to do instead, when there are too many
}

// Files says whether the arguments are file names (for completion): a What naming a PATH, a FILE
// or json files.
func (a Arity) Files() bool {
	return a.Max != 0 && (strings.Contains(a.What, "PATH") || strings.Contains(a.What, "FILE") || strings.Contains(a.What, "json"))
}

// Check returns a usage error when args do not fit a; name is the command's path, for the
// message.
func (a Arity) Check(name string, args []string) error {
	n := len(args)
	var msg string
	switch {
	case n >= a.Min && (a.Max < 0 || n <= a.Max):
		return nil
	case a.Max == 0:
		msg = fmt.Sprintf("%s takes no arguments (got %q)", name, args[0])
	case a.Min == a.Max && a.Min == 1:
		msg = fmt.Sprintf("%s needs exactly one %s (got %d)", name, a.What, n)
	case a.Min == a.Max:
		msg = fmt.Sprintf("%s needs %d %s (got %d)", name, a.Min, a.What, n)
	case n < a.Min:
		msg = fmt.Sprintf("%s needs at least %d %s", name, a.Min, a.What)
	default:
		msg = fmt.Sprintf("%s takes at most %d %s (got %d)", name, a.Max, a.What, n)
	}
	if a.Hint != "" {
		msg += "; " + a.Hint
	}
	return &UsageError{Path: name, Err: fmt.Errorf("%s", msg)}
}

// AddEnv adds env to the environment variables of the flag called name, and says whether flags
// has such a flag of a kind that reads one.
func AddEnv(flags []cli.Flag, name, env string) bool {
	for _, f := range flags {
		if f.Names()[0] != name {
			continue
		}
		switch f := f.(type) {
		case *cli.StringFlag:
			f.EnvVars = append(f.EnvVars, env)
		case *cli.BoolFlag:
			f.EnvVars = append(f.EnvVars, env)
		case *cli.IntFlag:
			f.EnvVars = append(f.EnvVars, env)
		case *cli.Int64Flag:
			f.EnvVars = append(f.EnvVars, env)
		case *cli.DurationFlag:
			f.EnvVars = append(f.EnvVars, env)
		default:
			return false
		}
		return true
	}
	return false
}

// Spec is what Prepare gives every command of an app.
type Spec struct {
	// Arities are the argument counts, by command path; every command that has an action but
	// "help" must have one.
	Arities map[string]Arity
	// Env are environment variables to add to flags the command's definition does not give one:
	// by command path, then by flag name.
	Env map[string]map[string]string
	// Wrap makes the error a command returns the caller's, given the command's path: a
	// *UsageError for a flag it does not know or a wrong argument count, else its action's error.
	Wrap func(path string, err error) error
}

// Prepare applies s to cmds and their subcommands, in one place: the usage-error handler, the
// argument count (checked before the action runs), the wrapped errors and the environment
// variables. One help command at the top ('tripline help baseline accept'), no "help"
// subcommand under each parent. It panics on a Spec that does not fit the commands: that is a
// mistake in the program, found by its first run.
func Prepare(cmds []*cli.Command, s Spec) { prepare(cmds, "", s) }

func prepare(cmds []*cli.Command, parent string, s Spec) {
	for _, c := range cmds {
		path := strings.TrimSpace(parent + " " + c.Name)
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return s.Wrap(path, &UsageError{Path: path, Err: err})
		}
		c.HideHelpCommand = true
		for flag, env := range s.Env[path] {
			if !AddEnv(c.Flags, flag, env) {
				panic(fmt.Sprintf("cliargs: %s has no flag --%s for %s", path, flag, env))
			}
		}
		if act := c.Action; act != nil {
			ar, declared := s.Arities[path]
			if !declared && path != "help" {
				panic(fmt.Sprintf("cliargs: no argument count declared for %q", path))
			}
			c.Action = func(ctx *cli.Context) error {
				if declared {
					if err := ar.Check(path, ctx.Args().Slice()); err != nil {
						return s.Wrap(path, err)
					}
				}
				if err := act(ctx); err != nil {
					return s.Wrap(path, err)
				}
				return nil
			}
		}
		prepare(c.Subcommands, path, s)
	}
}
