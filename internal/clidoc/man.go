package clidoc

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

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

// Man is a manual page of an App.
type Man struct {
	App      *cli.App
	Section  int       // 8
	Manual   string    // the title of the manual: "System Administration"
	Version  string    // for the footer, after the name: "1.2.3"
	Sections []Section // after ENVIRONMENT: EXIT STATUS, FILES, SEE ALSO...
}

// Section is a part of the page of the program's own: a title, a paragraph of Text, then Items
// (a term in Font, B or I, and what it means), then Roff as it is.
type Section struct {
	Title string
	Text  string
	Font  string
	Items [][2]string
	Roff  string
}

// Write writes the page: NAME, SYNOPSIS, DESCRIPTION, GLOBAL OPTIONS, every visible command
// with its usage, description and options, the environment variables of all the flags, then
// m.Sections.
func (m *Man) Write(w io.Writer) error {
	app, name := m.App, m.App.Name
	fmt.Fprintf(w, ".TH %s %d \"\" \"%s %s\" \"%s\"\n", roffText(strings.ToUpper(name)), m.Section, roffText(name), roffText(m.Version), roffText(m.Manual))
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", roffText(name), roffText(app.Usage))
	fmt.Fprintf(w, ".SH SYNOPSIS\n.B %s\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]\n", roffText(name))
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
	Walk(app.Commands, "", func(path string, c *cli.Command) {
		fmt.Fprintf(w, ".SS %s\n", roffText(name+" "+path))
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

	for _, s := range m.Sections {
		fmt.Fprintf(w, ".SH %s\n", roffText(s.Title))
		if s.Text != "" {
			fmt.Fprintln(w, roffText(s.Text))
		}
		for _, it := range s.Items {
			fmt.Fprintf(w, ".TP\n.%s %s\n%s\n", s.Font, roffText(it[0]), roffText(it[1]))
		}
		if s.Roff != "" {
			fmt.Fprintln(w, s.Roff)
		}
	}
	return nil
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
