package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/policy"
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

// version is set at build time with -ldflags "-X main.version=..."; otherwise it comes from the
// module's build information.
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			v += "+" + rev
			if dirty {
				v += "-dirty"
			}
		}
		return v
	}
	return "(devel)"
}

// usageError is a mistake in how tripline was called (exit 16).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

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

// defaultDB is /var/lib/tripline/tripline.db for root, and the user's state directory otherwise,
// so that tripline works unprivileged without touching system paths.
func defaultDB() string {
	if os.Geteuid() == 0 {
		return "/var/lib/tripline/tripline.db"
	}
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "tripline", "tripline.db")
}

// whoami says who is running tripline, for acceptances and runs: "root (uid 0) via sudo from alice".
func whoami() string {
	uid := os.Getuid()
	name := fmt.Sprint(uid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	s := fmt.Sprintf("%s (uid %d)", name, uid)
	if su := os.Getenv("SUDO_USER"); su != "" {
		s += " via sudo from " + su
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

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
  tripline policy locations               what the policy watches on this host`,
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
		},
		Before: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return usagef("--log-level %q: must be debug, info, warn or error", c.String("log-level"))
			}
			e.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
			e.dbPath = c.String("db")
			if e.dbPath == "" {
				e.dbPath = defaultDB()
			}
			e.policyFile = c.String("policy")
			e.root = c.String("root")
			if e.root != "" {
				abs, err := filepath.Abs(e.root)
				if err != nil {
					return usagef("--root %s: %v", e.root, err)
				}
				st, err := os.Stat(abs)
				if err != nil {
					return usagef("--root %s: %v", e.root, err)
				}
				if !st.IsDir() {
					return usagef("--root %s: not a directory", e.root)
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
				Name:  "version",
				Usage: "print the version, the schema version and the Go version",
				Action: func(c *cli.Context) error {
					bi, _ := debug.ReadBuildInfo()
					gov := ""
					if bi != nil {
						gov = bi.GoVersion
					}
					fmt.Fprintf(stdout, "tripline %s (database schema %d, %s)\n", versionString(), store.SchemaVersion(), gov)
					return nil
				},
			},
		},
	}
	for _, cmd := range app.Commands {
		setUsageHandler(cmd)
	}
	return app
}

func setUsageHandler(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	for _, sub := range c.Subcommands {
		setUsageHandler(sub)
	}
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, stderrTTY: isTerminal(stderr)}
	e.log = slog.New(slog.NewTextHandler(stderr, nil))
	app := newApp(stdout, stderr, e)
	commandFound := true
	app.CommandNotFound = func(c *cli.Context, name string) {
		commandFound = false
		fmt.Fprintf(stderr, "tripline: unknown command %q; see 'tripline --help'\n", name)
	}
	err := app.RunContext(ctx, args)
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
				msg += " (see 'tripline --help')"
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
