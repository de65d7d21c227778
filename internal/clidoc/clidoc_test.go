package clidoc

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/internal/cliargs"
)

func testApp() *cli.App {
	return &cli.App{
		Name:        "prog",
		Usage:       "do things",
		Description: "Prog does things.\n\nExamples:\n  prog run --format json\n.dot line",
		Flags:       []cli.Flag{&cli.StringFlag{Name: "db", Usage: "database `FILE`", EnvVars: []string{"PROG_DB"}}},
		Commands: []*cli.Command{
			{Name: "run", Usage: "run it", UsageText: "prog run [--format text|json] PATH",
				Flags: []cli.Flag{&cli.StringFlag{Name: "format", Value: "text", Usage: "output `FORMAT`: text or json (one object per line)", EnvVars: []string{"PROG_FORMAT"}}}},
			{Name: "secret", Hidden: true},
			{Name: "help", Usage: "print the help"},
		},
	}
}

func TestChoicesIn(t *testing.T) {
	cases := map[string][]string{
		"output `FORMAT`: text, json (one object per line), ecs": {"text", "json", "ecs"},
		"`FORMAT`: yaml or json":                                 {"yaml", "json"},
		"`N` workers":                                            nil,
		"`FORMAT`: text":                                         nil,
		"`LEVEL` of messages: debug, info, some words":           nil,
	}
	for usage, want := range cases {
		if got := choicesIn(usage); !slices.Equal(got, want) {
			t.Errorf("%q: %q, want %q", usage, got, want)
		}
	}
}

func TestMan(t *testing.T) {
	var b strings.Builder
	m := Man{App: testApp(), Section: 1, Manual: "User Commands", Version: "1.0",
		Sections: []Section{{Title: "EXIT STATUS", Font: "B", Text: "Codes.", Items: [][2]string{{"0", "ok"}}}, {Title: "SEE ALSO", Roff: ".BR ls (1)"}}}
	if err := m.Write(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		".TH PROG 1 \"\" \"prog 1.0\" \"User Commands\"\n",
		".SH NAME\nprog \\- do things\n",
		".RS 4\n.nf\nprog run --format json\n.fi\n.RE\n\\&.dot line\n", // an example stays as it is; a leading dot is no request
		".SS prog run\n.nf\n\\fBprog run [--format text|json] PATH\\fR\n.fi\n.PP\nRun it.\n",
		".TP\n\\fB\\-\\-format\\fR \\fIFORMAT\\fR\noutput FORMAT: text or json (one object per line) (default: \"text\") [$PROG_FORMAT]\n",
		".SH ENVIRONMENT\nA flag given on the command line wins over its variable.\n.TP\n.B PROG_DB\n--db\n.TP\n.B PROG_FORMAT\nrun --format\n",
		".SH EXIT STATUS\nCodes.\n.TP\n.B 0\nok\n.SH SEE ALSO\n.BR ls (1)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "secret") {
		t.Error("a hidden command is documented")
	}
}

func TestCompletionNamesTheProgram(t *testing.T) {
	c := NewCompletion(testApp(), nil, map[string]cliargs.Arity{"run": {Min: 1, Max: 1, What: "PATH"}})
	if !slices.Equal(c.subs["prog"], []string{"run", "help"}) || !slices.Equal(c.subs["prog help"], []string{"run"}) {
		t.Errorf("subcommands %q", c.subs)
	}
	if !slices.Equal(c.values["prog run --format"], []string{"text", "json"}) || c.kinds["prog --db"] != "file" || !c.argFile["prog run"] {
		t.Errorf("values %q, kinds %q, file arguments %v", c.values, c.kinds, c.argFile)
	}
	for shell, write := range map[string]func(*strings.Builder) error{
		"bash": func(b *strings.Builder) error { return c.Bash(b) },
		"zsh":  func(b *strings.Builder) error { return c.Zsh(b) },
		"fish": func(b *strings.Builder) error { return c.Fish(b) },
	} {
		var b strings.Builder
		if err := write(&b); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(b.String(), "tripline") {
			t.Errorf("the %s script of prog names tripline", shell)
		}
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash is not installed: the script is not run")
	}
	var b strings.Builder
	c.Bash(&b)
	out, err := exec.Command("bash", "-c", b.String()+"\nCOMP_WORDS=(prog run --format j); COMP_CWORD=3; _prog; echo ${COMPREPLY[@]}").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "json" {
		t.Errorf("bash: %v %q", err, out)
	}
}
