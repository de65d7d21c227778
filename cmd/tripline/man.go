package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

func manCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "man",
		Usage:     "print the manual page (roff, section 8): tripline man > tripline.8; man -l tripline.8",
		UsageText: "tripline man",
		Description: `Prints tripline(8), generated from the same definitions as --help: every command with its
usage, description and options, the environment variables, the exit codes and the files.`,
		Action: func(c *cli.Context) error { return writeMan(e.stdout, e.app) },
	}
}

// roffText escapes s for a roff text line: backslashes, and a leading . or ' that roff would
// take for a request.
func roffText(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffFlag is a flag name as man pages write it: bold, with \- for each dash so that it can be
// searched for and copied.
func roffFlag(name string) string {
	return `\fB` + strings.ReplaceAll(flagSpelling(name), "-", `\-`) + `\fR`
}

// roffProse writes text the way the help prints it: lines of prose flow into paragraphs (a
// blank line starts a new one), indented lines (examples, tables) stay as they are.
func roffProse(w io.Writer, text string) {
	pre := false
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			if pre {
				fmt.Fprintln(w, ".fi\n.RE")
				pre = false
			}
			fmt.Fprintln(w, ".PP")
		case strings.HasPrefix(line, " "):
			if !pre {
				fmt.Fprintln(w, ".RS 4\n.nf")
				pre = true
			}
			fmt.Fprintln(w, roffText(strings.TrimPrefix(line, "  ")))
		default:
			if pre {
				fmt.Fprintln(w, ".fi\n.RE")
				pre = false
			}
			fmt.Fprintln(w, roffText(line))
		}
	}
	if pre {
		fmt.Fprintln(w, ".fi\n.RE")
	}
}

func roffFlags(w io.Writer, flags []flagDoc) {
	for _, f := range flags {
		names := make([]string, len(f.names))
		for i, n := range f.names {
			names[i] = roffFlag(n)
		}
		head := strings.Join(names, ", ")
		if f.placeholder != "" {
			head += ` \fI` + roffText(f.placeholder) + `\fR`
		}
		fmt.Fprintf(w, ".TP\n%s\n", head)
		text := f.usage
		if f.value != "" {
			text += fmt.Sprintf(" (default: %s)", f.value)
		}
		if len(f.env) > 0 {
			text += " [$" + strings.Join(f.env, ", $") + "]"
		}
		fmt.Fprintln(w, roffText(text))
	}
}

// writeMan writes tripline(8) for app.
func writeMan(w io.Writer, app *cli.App) error {
	fmt.Fprintf(w, ".TH TRIPLINE 8 \"\" \"tripline %s\" \"System Administration\"\n", roffText(versionString()))
	fmt.Fprintf(w, ".SH NAME\ntripline \\- %s\n", roffText(app.Usage))
	fmt.Fprintln(w, ".SH SYNOPSIS\n.B tripline\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]")
	fmt.Fprintln(w, ".PP\nOptions may come before or after the arguments; \\fB\\-\\-\\fR ends the options (a path named \\fB\\-\\-x\\fR).")
	fmt.Fprintln(w, ".SH DESCRIPTION")
	roffProse(w, app.Description)

	fmt.Fprintln(w, ".SH GLOBAL OPTIONS")
	roffFlags(w, append(visibleFlags(app.Flags), docOf(cli.VersionFlag)))

	fmt.Fprintln(w, ".SH COMMANDS")
	env := map[string][]string{}
	for _, f := range app.Flags {
		for _, v := range docOf(f).env {
			env[v] = append(env[v], "--"+f.Names()[0])
		}
	}
	walkCommands(app.Commands, "", func(path string, c *cli.Command) {
		fmt.Fprintf(w, ".SS %s\n", roffText("tripline "+path))
		if c.UsageText != "" {
			fmt.Fprintln(w, ".nf")
			for _, l := range strings.Split(c.UsageText, "\n") {
				fmt.Fprintln(w, `\fB`+roffText(strings.TrimSpace(l))+`\fR`)
			}
			fmt.Fprintln(w, ".fi")
		}
		fmt.Fprintf(w, ".PP\n%s.\n", roffText(upperFirst(c.Usage)))
		if c.Description != "" {
			fmt.Fprintln(w, ".PP")
			roffProse(w, c.Description)
		}
		if subs := visibleCommands(c.Subcommands); len(subs) > 0 {
			names := make([]string, len(subs))
			for i, s := range subs {
				names[i] = s.Name
			}
			fmt.Fprintf(w, ".PP\nCommands: %s.\n", roffText(strings.Join(names, ", ")))
			return
		}
		if len(c.Flags) > 0 {
			fmt.Fprintln(w, ".PP\nOptions:")
			roffFlags(w, visibleFlags(c.Flags))
		}
		for _, f := range c.Flags {
			for _, v := range docOf(f).env {
				env[v] = append(env[v], fmt.Sprintf("%s --%s", path, f.Names()[0]))
			}
		}
	})

	fmt.Fprintln(w, ".SH ENVIRONMENT\nA flag given on the command line wins over its variable.")
	vars := make([]string, 0, len(env))
	for v := range env {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	for _, v := range vars {
		fmt.Fprintf(w, ".TP\n.B %s\n%s\n", roffText(v), roffText(strings.Join(env[v], "; ")))
	}

	fmt.Fprintln(w, `.SH EXIT STATUS
scan (and baseline create, baseline diff) exit with a bitmask of what they found; the other commands exit 0 on success.
.TP
.B 0
no difference, or success
.TP
.B 1
paths added (baseline verify: a bad signature)
.TP
.B 2
paths removed
.TP
.B 4
paths changed
.TP
.B 8
some paths could not be read
.TP
.B 16
usage error: the message names the help to read
.TP
.B 17
error
.TP
.B 130
interrupted; nothing was recorded by the unfinished command`)
	fmt.Fprintln(w, `.SH FILES
.TP
.I /var/lib/tripline/tripline.db
the database (baseline, history, contents) when run as root
.TP
.I ~/.local/state/tripline/tripline.db
the database otherwise ($XDG_STATE_HOME/tripline/tripline.db when XDG_STATE_HOME is set)
.SH SEE ALSO
.BR systemd.service (5),
.BR cron (8),
.BR fanotify (7),
.BR inotify (7)
.PP
Shell completion: \fBtripline completion bash\fR|\fBzsh\fR|\fBfish\fR.`)
	return nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
