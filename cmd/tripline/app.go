package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/internal/buildinfo"
	"github.com/tripline/tripline/internal/cliargs"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/proc"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/store"
)

// Exit codes: the contract cron jobs and CI branch on (README, "Exit codes").
const (
	exitOK         = 0
	exitAdded      = 1
	exitRemoved    = 2
	exitChanged    = 4
	exitUnreadable = 8
	exitUsage      = 16
	exitError      = 17
	exitInterrupt  = 130
)

// version is set by a release build with -ldflags "-X main.version=1.2.3"; otherwise it comes
// from the build information Go records.
var version = ""

func versionString() string { return buildinfo.Version(version) }

// versionLine is what 'tripline version' prints.
func versionLine() string {
	gov := runtime.Version()
	v := versionString()
	if v == "devel" {
		v = "devel (no version stamp: build in a git clone with -buildvcs=true, or with -ldflags \"-X main.version=...\")"
	}
	return fmt.Sprintf("tripline %s (database schema %d, %s)", v, store.SchemaVersion(), gov)
}

// usageError is a mistake in how tripline was called (exit 16).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// commandError remembers which command an error came from ("baseline accept"; "" for tripline
// itself), so that a usage error can point at that command's help.
type commandError struct {
	path string
	err  error
}

func (e commandError) Error() string { return e.err.Error() }
func (e commandError) Unwrap() error { return e.err }

// commandErr is err as the error of the command at path; a cliargs.UsageError is a usage error of
// the command it names.
func commandErr(path string, err error) error {
	var ue *cliargs.UsageError
	if errors.As(err, &ue) {
		return commandError{path: ue.Path, err: usageError{ue.Err}}
	}
	return commandError{path: path, err: err}
}

// helpHint is the help page to read after err.
func helpHint(err error) string {
	var ce commandError
	if errors.As(err, &ce) && ce.path != "" {
		return "tripline " + ce.path + " --help"
	}
	return "tripline --help"
}

// exitStatus carries a result code that is not an error (scan's bitmask). It prints nothing.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitCode maps what an action returned to the process exit code. It is the only place that does.
func exitCode(err error) int {
	var st exitStatus
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &st):
		return int(st)
	case errors.Is(err, context.Canceled):
		return exitInterrupt
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitError
}

// env holds what every command needs, built from the global flags.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	dbPath         string
	root           string
	policyFile     string
	stderrTTY      bool
	app            *cli.App // for help, completion and man, which read the definitions
}

func (e *env) policy() (*policy.Policy, error) {
	if e.policyFile == "" {
		return policy.Default(), nil
	}
	return policy.LoadFile(e.policyFile)
}

func (e *env) openDB(ctx context.Context) (*store.DB, error) {
	return store.Open(ctx, e.dbPath)
}

// policyAndDB loads the policy, then opens the database for writing: the start of scan and watch.
// The caller closes the database.
func (e *env) policyAndDB(ctx context.Context) (*policy.Policy, *store.DB, error) {
	pol, err := e.policy()
	if err != nil {
		return nil, nil, err
	}
	db, err := e.openDB(ctx)
	if err != nil {
		return nil, nil, err
	}
	return pol, db, nil
}

func (e *env) openDBReadOnly(ctx context.Context) (*store.DB, error) {
	return store.OpenReadOnly(ctx, e.dbPath)
}

// whoami says who is running tripline, for acceptances and runs.
var whoami = proc.Invoker

var isTerminal = report.IsTerminal

func newApp(stdout, stderr io.Writer, e *env) *cli.App {
	app := &cli.App{
		Name:  "tripline",
		Usage: "watch Linux persistence locations against an approved baseline",
		Description: `tripline compares the places where code is made to run at boot, at login, on a schedule
or on a system event (init scripts, rc.local, cron, systemd units and generators, XDG autostart,
motd, udev, NetworkManager dispatcher, dracut, shell profiles, ld.so.preload, PAM, sudoers,
authorized_keys...) with a baseline it keeps in SQLite, and reports what changed: above all an
executable bit set where something will run the file.

The first 'tripline scan' records the baseline and prints an inventory; every later scan
reports the changes since, with a rule and a severity, and exits with a bitmask that cron and
CI can branch on (1 added, 2 removed, 4 changed, 8 unreadable paths; 16 usage, 17 error,
130 interrupted).

Examples:
  sudo tripline scan                      first run: record the baseline
  sudo tripline scan --format json        later runs: changes as JSON lines
  sudo tripline baseline accept /etc/cron.daily/backup
  tripline --root /mnt/image --db img.db scan   scan a mounted disk image
  tripline policy locations               what the policy watches on this host

Flags may come before or after the arguments ('--' ends them). 'tripline help COMMAND' shows
a command's help; 'tripline man' prints the manual page; 'tripline completion bash|zsh|fish'
prints the shell completion.`,
		Version:         versionString(),
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "db", Usage: "SQLite database `FILE` (default /var/lib/tripline/tripline.db as root, else ~/.local/state/tripline/tripline.db)", EnvVars: []string{"TRIPLINE_DB"}},
			&cli.StringFlag{Name: "policy", Usage: "policy `FILE` (YAML); with \"extends: default\" it adds to the embedded default, otherwise it replaces it", EnvVars: []string{"TRIPLINE_POLICY"}},
			&cli.StringFlag{Name: "root", Usage: "treat `DIR` as / (a mounted image or container root); reported paths stay /etc/...", EnvVars: []string{"TRIPLINE_ROOT"}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "`LEVEL` of messages on stderr: debug, info, warn, error", EnvVars: []string{"TRIPLINE_LOG_LEVEL"}},
			// The library adds --help itself only when no command is called "help".
			cli.HelpFlag,
		},
		Before: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return usagef("--log-level %q: must be debug, info, warn or error", c.String("log-level"))
			}
			e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			e.dbPath = c.String("db")
			if e.dbPath == "" {
				e.dbPath = store.DefaultPath()
			}
			e.policyFile = c.String("policy")
			if root := c.String("root"); root != "" {
				abs, err := baseline.AbsRoot(root)
				if err != nil {
					return usagef("--root %s: %v", root, err)
				}
				e.root = abs
			}
			return nil
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error { return usageError{err} },
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(stderr, "tripline: unknown command %q; see 'tripline --help'\n", name)
		},
		Commands: []*cli.Command{
			scanCommand(e),
			watchCommand(e),
			baselineCommand(e),
			historyCommand(e),
			restoreCommand(e),
			showCommand(e),
			policyCommand(e),
			{
				Name:      "version",
				Usage:     "print the version, the schema version and the Go version",
				UsageText: "tripline version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(stdout, versionLine())
					return nil
				},
			},
			{
				Name:      "help",
				Usage:     "print the help of tripline or of a command ('tripline help baseline accept')",
				UsageText: "tripline help [COMMAND [SUBCOMMAND]]",
				// normalize turns "help CMD" into "CMD --help"; this runs for a bare "help".
				Action: func(c *cli.Context) error { return cli.ShowAppHelp(c) },
			},
			completionCommand(e),
			manCommand(e),
		},
	}
	cliargs.Prepare(app.Commands, cliargs.Spec{Arities: arities, Env: envTwins, Wrap: commandErr})
	return app
}

// envTwins are the environment variables of flags whose command file does not declare them
// (cliargs.Spec.Env): every flag of a scan, so that a cron job or a unit file sets them once.
var envTwins = map[string]map[string]string{
	"scan":            scanEnv,
	"baseline create": scanEnv,
	"watch":           {"max-hash-size": "TRIPLINE_MAX_HASH_SIZE"},
}

var scanEnv = map[string]string{
	"format":        "TRIPLINE_FORMAT",
	"fail-on":       "TRIPLINE_FAIL_ON",
	"max-hash-size": "TRIPLINE_MAX_HASH_SIZE",
	"workers":       "TRIPLINE_WORKERS",
	"no-content":    "TRIPLINE_NO_CONTENT",
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stderrTTY: isTerminal(stderr)}
	e.log = slog.New(slog.NewTextHandler(stderr, nil))
	app := newApp(stdout, stderr, e)
	e.app = app
	commandFound := true
	app.CommandNotFound = func(c *cli.Context, name string) {
		commandFound = false
		fmt.Fprintf(stderr, "tripline: unknown command %q; see 'tripline --help'\n", name)
	}
	args, err := cliargs.Normalize(app, args)
	if err != nil {
		err = commandErr("", err)
	} else {
		err = app.RunContext(ctx, args)
	}
	if !commandFound {
		return exitUsage
	}
	code := exitCode(err)
	if err != nil && code != exitOK {
		var st exitStatus
		if !errors.As(err, &st) {
			msg := err.Error()
			if code == exitInterrupt {
				msg = "interrupted; nothing was recorded by the unfinished command"
			}
			if code == exitUsage && !strings.Contains(msg, "--help") {
				msg += " (see '" + helpHint(err) + "')"
			}
			fmt.Fprintf(stderr, "tripline: %s\n", oneLine(msg))
		}
	}
	return code
}

// oneLine keeps an error message on one line, whatever a file name in it contains.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

// pathArg checks a path argument: absolute and clean, as the baseline stores it.
func pathArg(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", usagef("%s: give the absolute path as it appears on the host (e.g. /etc/cron.daily/x), also with --root", baseline.QuotePath(p))
	}
	return filepath.Clean(p), nil
}
