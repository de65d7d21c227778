package cliargs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// testApp is a small app of the shape Normalize serves: a global flag with a value, a command
// with flags and arguments, and a parent with subcommands.
func testApp() *cli.App {
	return &cli.App{
		Name:  "prog",
		Flags: []cli.Flag{&cli.StringFlag{Name: "db"}, &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}}},
		Commands: []*cli.Command{
			{Name: "history", Flags: []cli.Flag{&cli.StringFlag{Name: "format"}, &cli.BoolFlag{Name: "diff"}}},
			{Name: "baseline", Subcommands: []*cli.Command{
				{Name: "accept"},
				{Name: "show", Flags: []cli.Flag{&cli.StringFlag{Name: "format"}}},
			}},
			{Name: "help"},
		},
	}
}

func TestNormalize(t *testing.T) {
	cases := []struct {
		args, want []string
	}{
		{[]string{"history", "/etc/x", "--format", "json"}, []string{"history", "--format", "json", "--", "/etc/x"}},
		{[]string{"history", "/etc/x", "--db", "d", "--diff"}, []string{"--db", "d", "history", "--diff", "--", "/etc/x"}},
		{[]string{"history", "--format=json", "/etc/x", "-q"}, []string{"-q", "history", "--format=json", "--", "/etc/x"}},
		{[]string{"baseline", "show", "/a", "--format", "json", "/b"}, []string{"baseline", "show", "--format", "json", "--", "/a", "/b"}},
		// After "--" everything is an argument, even a flag of the command.
		{[]string{"history", "--", "--format"}, []string{"history", "--", "--format"}},
		// A flag nobody defines stays with the innermost command, which reports it.
		{[]string{"baseline", "accept", "/x", "--dry-run"}, []string{"baseline", "accept", "--dry-run", "--", "/x"}},
		// "-" is stdin, an argument.
		{[]string{"history", "-"}, []string{"history", "--", "-"}},
		{[]string{"help", "baseline", "show"}, []string{"baseline", "show", "--help"}},
		{[]string{"--db", "d"}, []string{"--db", "d"}},
	}
	for _, c := range cases {
		got, err := Normalize(testApp(), append([]string{"prog"}, c.args...))
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if want := append([]string{"prog"}, c.want...); !slices.Equal(got, want) {
			t.Errorf("%q:\n got %q\nwant %q", c.args, got, want)
		}
	}
}

func TestNormalizeErrors(t *testing.T) {
	cases := []struct {
		args []string
		path string
		msg  string
	}{
		{[]string{"frob"}, "", `unknown command "frob" (commands: history, baseline, help)`},
		{[]string{"baseline", "frob"}, "baseline", `baseline: unknown command "frob" (commands: accept, show)`},
		{[]string{"history", "--format"}, "history", "--format needs a value"},
		{[]string{"--db"}, "", "--db needs a value"},
		{[]string{"help", "history", "extra"}, "help", `help: "extra" is not a command of "prog history"`},
		// "--" ends the flags, never the command names: what follows it is not run as one.
		{[]string{"baseline", "--", "show"}, "baseline", `baseline: unknown command "show" (commands: accept, show)`},
		{[]string{"baseline", "--db", "d", "--", "accept", "/x"}, "baseline", `baseline: unknown command "accept" (commands: accept, show)`},
		{[]string{"--", "history"}, "", `unknown command "history" (commands: history, baseline, help)`},
		{[]string{"baseline", "--"}, "baseline", `baseline: unknown command "--" (commands: accept, show)`},
	}
	for _, c := range cases {
		_, err := Normalize(testApp(), append([]string{"prog"}, c.args...))
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Path != c.path || err.Error() != c.msg {
			t.Errorf("%q: %#v, want a usage error of %q: %q", c.args, err, c.path, c.msg)
		}
	}
}

func TestArityCheck(t *testing.T) {
	cases := []struct {
		a    Arity
		args []string
		msg  string // "" for none
	}{
		{Arity{}, nil, ""},
		{Arity{Hint: "use --root"}, []string{"x"}, `scan takes no arguments (got "x"); use --root`},
		{Arity{Min: 1, Max: 1, What: "FILE"}, nil, "scan needs exactly one FILE (got 0)"},
		{Arity{Min: 2, Max: 2, What: "exports"}, []string{"a"}, "scan needs 2 exports (got 1)"},
		{Arity{Min: 1, Max: -1, What: "PATH"}, nil, "scan needs at least 1 PATH"},
		{Arity{Min: 1, Max: -1, What: "PATH"}, []string{"a", "b", "c"}, ""},
		{Arity{Max: 1, What: "PATH"}, []string{"a", "b"}, "scan takes at most 1 PATH (got 2)"},
	}
	for _, c := range cases {
		err := c.a.Check("scan", c.args)
		if c.msg == "" {
			if err != nil {
				t.Errorf("%+v %q: %v", c.a, c.args, err)
			}
			continue
		}
		var ue *UsageError
		if !errors.As(err, &ue) || ue.Path != "scan" || err.Error() != c.msg {
			t.Errorf("%+v %q: %v, want %q", c.a, c.args, err, c.msg)
		}
	}
	if !(Arity{Max: 1, What: "PATH"}).Files() || (Arity{What: "PATH"}).Files() || (Arity{Max: 1, What: "SHELL"}).Files() {
		t.Error("Files: PATH arguments are files, no arguments or SHELL ones are not")
	}
}

// TestPrepare runs an app prepared from a Spec: the argument count is checked before the action,
// errors carry the command's path, and the environment variable reaches the flag.
func TestPrepare(t *testing.T) {
	ran := false
	app := &cli.App{Name: "prog", ExitErrHandler: func(*cli.Context, error) {}, Writer: &strings.Builder{}, ErrWriter: &strings.Builder{},
		Commands: []*cli.Command{{Name: "run", Flags: []cli.Flag{&cli.StringFlag{Name: "format"}}, Action: func(c *cli.Context) error {
			ran = true
			if c.String("format") != "json" {
				return errors.New("format " + c.String("format"))
			}
			return nil
		}}}}
	type wrapped struct {
		path string
		err  error
	}
	var got []wrapped
	Prepare(app.Commands, Spec{Arities: map[string]Arity{"run": {}}, Env: map[string]map[string]string{"run": {"format": "PROG_FORMAT"}},
		Wrap: func(path string, err error) error { got = append(got, wrapped{path, err}); return err }})
	t.Setenv("PROG_FORMAT", "json")
	if err := app.Run([]string{"prog", "run", "extra"}); err == nil || ran {
		t.Fatalf("an argument too many: %v, ran %v", err, ran)
	}
	if err := app.Run([]string{"prog", "run"}); err != nil || !ran {
		t.Fatalf("PROG_FORMAT=json: %v, ran %v", err, ran)
	}
	if err := app.Run([]string{"prog", "run", "--format", "text"}); err == nil {
		t.Fatal("the action's error was lost")
	}
	if err := app.Run([]string{"prog", "run", "--bogus"}); err == nil {
		t.Fatal("an unknown flag passed")
	}
	var ue *UsageError
	if len(got) != 3 || got[0].path != "run" || !errors.As(got[0].err, &ue) || got[1].err.Error() != "format text" || !errors.As(got[2].err, &ue) || ue.Path != "run" {
		t.Errorf("wrapped: %+v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("a command with an action and no arity was accepted")
		}
	}()
	Prepare([]*cli.Command{{Name: "x", Action: func(*cli.Context) error { return nil }}}, Spec{Wrap: func(_ string, err error) error { return err }})
}
