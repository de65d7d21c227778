package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/tripline/tripline/attrib"
	"github.com/tripline/tripline/baseline"
	"github.com/tripline/tripline/internal/sdnotify"
	"github.com/tripline/tripline/investigate"
	"github.com/tripline/tripline/policy"
	"github.com/tripline/tripline/report"
	"github.com/tripline/tripline/scan"
	"github.com/tripline/tripline/sink"
	"github.com/tripline/tripline/store"
	"github.com/tripline/tripline/watch"
)

func watchCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "watch",
		Usage: "the daemon: record every change in a persistence location as it happens",
		Description: `Watches every directory the policy resolves to (fanotify as root on Linux 5.9+, else
inotify) and turns each change into an observation: stat, diff against the last observation,
judge with the policy, record in the history, emit one line. On start it checks itself (a
canary change must come back through the backend), reconciles every location with the last
observation (changes made while it was down are reported with source "reconcile"), logs
"ready" and tells systemd (NOTIFY_SOCKET; WATCHDOG=1 from the loop when the unit sets WatchdogSec,
RELOADING=1 then READY=1 around a SIGHUP reload). A kernel queue overflow or a watched directory
appearing or going is recorded as a gap and reconciled; so is every --reconcile-every.
SIGHUP reloads the policy and reopens the output (file, syslog or journal); SIGTERM and SIGINT
drain, commit and exit 0.

One daemon per database: a second exits 17 and names the pid of the first. While the database
cannot be written (another process holds its write lock, the filesystem is full or read-only,
I/O errors) every change is still emitted at once, marked not yet recorded (ECS
tripline.recorded: false, json "recorded": false, text "(not yet recorded)"), queued (up to
10,000), and recorded when the database is writable again; the outage is one gap, reconciled.
A database that cannot be written at start is waited for. Each event's ECS event.created is when
its kernel event was read.

Every event names the process that made the change, its parent and its users, and says how it
knows (tripline.attribution in ECS):
  kernel       executable, arguments and ids captured in the kernel at exec (eBPF)
  exec-cache   the kernel reported the exec; /proc was read just after (process connector)
  live         read from /proc while the process still ran
  parent-only  the process was gone: its name and parent are known
  pid-only     only the kernel's pid is known
  heuristic    inotify has no pid: a recent process whose arguments name the path
  none         nothing is known (a reconcile, or inotify without a feed)
--attribution chooses the feed of the exec cache: auto tries kernel (eBPF on tracepoints; it
mounts tracefs at /sys/kernel/tracing while it runs when it is not mounted), then connector (netlink process
connector), then proc (/proc alone, with fanotify pidfds). The ready line says which runs and why.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Value: "-", Usage: "where events go: `FILE` (appended, reopened on SIGHUP), - (stdout), syslog[:/PATH|udp://HOST:PORT|tcp://HOST:PORT] (RFC 5424; /dev/log by default), journal (systemd journal)", EnvVars: []string{"TRIPLINE_OUTPUT"}},
			&cli.StringFlag{Name: "format", Value: "ecs", Usage: "event `FORMAT`: ecs (Elastic Common Schema), json, text", EnvVars: []string{"TRIPLINE_FORMAT"}},
			&cli.StringFlag{Name: "backend", Value: "auto", Usage: "`NAME`: auto (fanotify, else inotify), fanotify, inotify", EnvVars: []string{"TRIPLINE_BACKEND"}},
			&cli.DurationFlag{Name: "reconcile-every", Value: 3600 * 1e9, Usage: "compare every location with the last observation this often (`DURATION`)", EnvVars: []string{"TRIPLINE_RECONCILE_EVERY"}},
			&cli.Int64Flag{Name: "max-hash-size", Value: baseline.DefaultMaxHashBytes, Usage: "files larger than `BYTES` are recorded without a hash"},
			&cli.StringFlag{Name: "history-max-age", Value: "400d", Usage: "prune history rows older than `AGE` (hourly; 0 keeps them)", EnvVars: []string{"TRIPLINE_HISTORY_MAX_AGE"}},
			&cli.Int64Flag{Name: "history-max-rows", Value: 1_000_000, Usage: "keep at most the newest `N` history rows (hourly; 0: no bound)", EnvVars: []string{"TRIPLINE_HISTORY_MAX_ROWS"}},
			&cli.StringFlag{Name: "attribution", Value: "auto", Usage: "exec cache `FEED`: auto (kernel, else connector, else proc), kernel, connector, proc", EnvVars: []string{"TRIPLINE_ATTRIBUTION"}},
			&cli.StringFlag{Name: "syscall-feed", Value: "auto", Usage: "the eBPF file-change feed that names the process behind each change at the syscall: `auto` (with --attribution auto or kernel) or off", EnvVars: []string{"TRIPLINE_SYSCALL_FEED"}},
			&cli.StringSliceFlag{Name: "coverage", Hidden: true, Usage: "`DIR=inotify|poll`: watch a directory as if the backend could not (tests of the fallbacks)"},
		},
		Action: func(c *cli.Context) error { return runWatch(c, e) },
	}
}

// reconciler is the watcher's full comparison: a scan of every location against its last
// observation, recording the changes under source reconcile.
func reconciler(e *env, db *store.DB, maxHashBytes int64, pkgs *packages) watch.Reconciler {
	return func(ctx context.Context, pol *policy.Policy) (*watch.Reconciled, error) {
		res, err := scan.Run(ctx, scan.Options{Root: e.root, Policy: pol, DB: db, By: whoami(),
			Source: store.SourceReconcile, MaxHashBytes: maxHashBytes, ChangesOnly: true, Packages: pkgs.For(pol)})
		if err != nil {
			return nil, err
		}
		return &watch.Reconciled{RunID: res.RunID, First: res.First, Paths: res.Paths, Changes: res.Changes, Errors: res.Errors}, nil
	}
}

// openWaiting opens the policy and the database, waiting while the database is unavailable (a
// migration that another process's write lock or a full filesystem holds back): a daemon that
// exits would only be restarted into the same wall. It logs at once, then once a minute. A stop
// while waiting returns nil and no database.
func openWaiting(ctx context.Context, e *env) (*policy.Policy, *store.DB, error) {
	backoff := 250 * time.Millisecond
	var said time.Time
	for {
		pol, db, err := e.policyAndDB(ctx)
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return pol, db, err
		}
		if time.Since(said) >= time.Minute {
			said = time.Now()
			e.log.Warn("database unavailable; waiting for it", "what", "open", "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, nil, nil
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func runWatch(c *cli.Context, e *env) error {
	format, err := report.ParseFormat(c.String("format"), report.ECS, report.JSON, report.Text)
	if err != nil {
		return usageError{err}
	}
	switch c.String("backend") {
	case "auto", "fanotify", "inotify":
	default:
		return usagef("--backend %q: must be auto, fanotify or inotify", c.String("backend"))
	}
	if c.Duration("reconcile-every") <= 0 {
		return usagef("--reconcile-every must be positive")
	}
	if c.Int64("max-hash-size") <= 0 {
		return usagef("--max-hash-size must be positive")
	}
	if !slices.Contains(attrib.Modes, c.String("attribution")) {
		return usagef("--attribution %q: must be one of %s", c.String("attribution"), strings.Join(attrib.Modes, ", "))
	}
	if f := c.String("syscall-feed"); f != "auto" && f != "off" {
		return usagef("--syscall-feed %q: must be auto or off", f)
	}
	// One daemon per database, claimed before anything else starts: a second one would split
	// the kernel's events with the first. Released when the process exits, however it exits.
	lock, err := store.LockDaemon(e.dbPath)
	if err != nil {
		return err
	}
	defer lock.Release()
	// The file-change feed takes a second or more to load (42 programs, each verified): it loads
	// while the database opens and the exec feed starts.
	feedCh := openFileFeedAsync(c.String("attribution"), c.String("syscall-feed"))
	var fileFeed *attrib.FileFeed
	defer func() {
		if fileFeed == nil { // not received yet: wait for it and close it
			if r, ok := <-feedCh; ok && r.feed != nil {
				r.feed.Close()
			}
		}
	}()
	ctx := c.Context
	pol, db, err := openWaiting(ctx, e)
	if err != nil || db == nil {
		return err // db nil: stopped while waiting
	}
	defer db.Close()
	// Judging every change against a baseline edited behind tripline's back would call the edit
	// approved: refuse to start, loudly, as scan does.
	if err := trustBaseline(ctx, db); err != nil {
		return err
	}
	opened, err := sink.Open(c.String("output"), e.stdout)
	if err != nil {
		return err
	}
	// An output that fails never stops the watching: the finding is in the history.
	out := sink.Tolerant(opened, e.log)
	defer out.Close()
	logNote(e, out)

	var maxAge time.Duration
	if s := c.String("history-max-age"); s != "0" {
		if maxAge, err = investigate.ParseAge(s); err != nil {
			return usageError{err}
		}
	}
	if c.Int64("history-max-rows") < 0 {
		return usagef("--history-max-rows must not be negative")
	}
	// The goroutines beside the watcher (retention, SIGHUP) are stopped and waited for before
	// the output and the database they use are closed.
	bgCtx, stopBG := context.WithCancel(ctx)
	var bg sync.WaitGroup
	defer func() { stopBG(); bg.Wait() }()
	bg.Add(1)
	go func() {
		defer bg.Done()
		watch.Retain(bgCtx, db, e.log, maxAge, c.Int64("history-max-rows"))
	}()

	watchdog, err := sdnotify.WatchdogInterval()
	if err != nil {
		return err
	}

	cache, ast, err := attrib.Open(c.String("attribution"), nil)
	if err != nil {
		return fmt.Errorf("%w (choose another with --attribution)", err)
	}
	defer cache.Close()
	// The file-change feed names the maker of each change at the syscall; the watcher owns it
	// once given (Run closes it). Without it, actors come from the events alone.
	ff := <-feedCh
	close(feedCh)
	fileFeed = ff.feed
	ast.Notes = append(ast.Notes, ff.notes...)
	fileFeedHow, fileFeedWhy := "off", ff.why
	if fileFeed != nil {
		fileFeedHow = attrib.HooksSyscalls
		defer fileFeed.Close() // when Run returned before it took the feed over
	}

	host := report.LocalHost()
	// Names follow /etc/passwd and /etc/group: a user added after the start is named.
	users := baseline.NewLiveUsers(e.root)
	hostUsers := baseline.NewLiveUsers("/")
	root := e.root
	if root == "" {
		root = "/"
	}
	var w *watch.Watcher
	pkgs := newPackages(e.root)
	stopProfile := func() {}
	defer func() { stopProfile() }()
	emit := func(ch watch.Change) error {
		var buf bytes.Buffer
		r := &report.Renderer{W: &buf, Format: format, Host: host, Users: users.Users(), HostUsers: hostUsers.Users(), Root: root}
		if err := r.FindingEvent(&ch.Finding, string(ch.Source), ch.Actor, report.EventInfo{ReadNS: ch.ReadNS, Unrecorded: ch.Unrecorded}); err != nil {
			return err
		}
		return out.Write(sink.FindingRecord(&ch.Finding, string(ch.Source), ch.Actor, buf.Bytes()))
	}
	coverage := map[string]watch.Coverage{}
	for _, kv := range c.StringSlice("coverage") {
		d, how, ok := strings.Cut(kv, "=")
		if !ok || (how != string(watch.CoverInotify) && how != string(watch.CoverPoll)) {
			return usagef("--coverage %q: must be DIR=inotify or DIR=poll", kv)
		}
		coverage[d] = watch.Coverage(how)
	}
	w = watch.New(watch.Options{Root: e.root, Policy: pol, DB: db, Backend: c.String("backend"), Coverage: coverage,
		ReconcileEvery: c.Duration("reconcile-every"), MaxHashBytes: c.Int64("max-hash-size"), By: whoami(),
		Log: e.log, Emit: emit, Attribution: cache, FileFeed: fileFeed, Reconcile: reconciler(e, db, c.Int64("max-hash-size"), pkgs), Packages: pkgs.Index,
		Reloaded: notifyReloaded(e), Alive: notifyAlive(e), AliveEvery: watchdog / 2,
		Ready: func(s watch.Status) {
			args := []any{"backend", s.Backend, "pids", s.Caps.PIDs, "pidfds", s.Caps.PIDFDs, "pidfd_support", s.Caps.PIDFDSupport,
				"locations", s.Locations, "directories", s.Directories, "fanotify_dirs", s.Coverage.Fanotify,
				"inotify_dirs", s.Coverage.Inotify, "polled_dirs", s.Coverage.Polled, "db", db.Path(), "root", root}
			for _, d := range s.Unwatched {
				args = append(args, "polled", baseline.QuotePath(d))
			}
			if s.Mounts != "" {
				args = append(args, "mounts", s.Mounts)
			}
			if s.Fallback != "" {
				args = append(args, "fallback", s.Fallback)
			}
			args = append(args, "attribution", cache.Feed(), "syscall_feed", fileFeedHow)
			if fileFeedWhy != "" {
				args = append(args, "syscall_feed_fallback", fileFeedWhy)
			}
			if !s.Caps.PIDs {
				args = append(args, "pid", "unavailable: "+s.Backend+" reports no pid")
			}
			if ast.Fallback != "" {
				args = append(args, "attribution_fallback", ast.Fallback)
			}
			for _, n := range ast.Notes {
				args = append(args, "attribution_note", n)
			}
			if s.Errors > 0 {
				args = append(args, "unwatched", s.Errors)
			}
			e.log.Info("ready", args...)
			if f := os.Getenv("TRIPLINE_CPUPROFILE"); f != "" {
				// For measuring the daemon (cmd/loadgen -cpuprofile): the loop's profile from
				// ready to the stop, without the start-up reconcile.
				if stop, err := startCPUProfile(f); err != nil {
					e.log.Warn("no CPU profile", "err", err)
				} else {
					stopProfile = stop
				}
			}
			if err := sdnotify.Notify("READY=1"); err != nil {
				e.log.Warn("systemd notification failed", "err", err)
			}
		}})

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bg.Add(1)
	go func() {
		defer bg.Done()
		for {
			select {
			case <-bgCtx.Done():
				return
			case <-hup:
			}
			if err := sdnotify.Reloading(); err != nil {
				e.log.Warn("systemd notification failed", "err", err)
			}
			if err := out.Reopen(); err != nil {
				e.log.Error("reopen output", "err", err)
			}
			logNote(e, out)
			p, err := e.policy()
			if err != nil {
				e.log.Error("policy not reloaded, keeping the current one", "err", oneLine(err.Error()))
				notifyReloaded(e)()
				continue
			}
			w.Reload(p)
		}
	}()
	err = w.Run(ctx)
	stopBG() // no reload or prune after the watcher stopped
	sdnotify.Notify("STOPPING=1")
	if err != nil {
		return err
	}
	cache.Sync() // what the kernel feed holds is counted too
	st := cache.Stats()
	e.log.Info("stopped", "attribution", cache.Feed(), "execs", st.Execs, "forks", st.Forks, "exits", st.Exits,
		"feed_drops", st.Drops, "processes_cached", st.Entries, "cache_bytes", st.Bytes, "evicted", st.Evicted)
	return nil
}

// startCPUProfile writes a pprof CPU profile of the process to file until the returned function
// is called.
func startCPUProfile(file string) (func(), error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, fmt.Errorf("TRIPLINE_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("TRIPLINE_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// notifyReloaded tells systemd a SIGHUP reload is over (READY=1 after RELOADING=1).
func notifyReloaded(e *env) func() {
	return func() {
		if err := sdnotify.Notify("READY=1"); err != nil {
			e.log.Warn("systemd notification failed", "err", err)
		}
	}
}

// notifyAlive feeds systemd's watchdog (WatchdogSec= in the unit) from the daemon's loop.
func notifyAlive(e *env) func() {
	return func() {
		if err := sdnotify.Notify("WATCHDOG=1"); err != nil {
			e.log.Warn("systemd watchdog notification failed", "err", err)
		}
	}
}

// logNote logs what opening the output changed about it (a file others could write, tightened).
func logNote(e *env, out sink.Sink) {
	if n, ok := out.(interface{ Note() string }); ok && n.Note() != "" {
		e.log.Warn(n.Note())
	}
}

// fileFeedResult is the file-change feed, or why it does not run.
type fileFeedResult struct {
	feed  *attrib.FileFeed
	notes []string
	why   string
}

// openFileFeedAsync opens the file-change feed in the background when the flags ask for it; the
// channel yields one result.
func openFileFeedAsync(attribution, syscallFeed string) chan fileFeedResult {
	ch := make(chan fileFeedResult, 1)
	switch {
	case syscallFeed == "off":
		ch <- fileFeedResult{why: "--syscall-feed off"}
	case attribution != "" && attribution != "auto" && attribution != "kernel":
		ch <- fileFeedResult{why: "--attribution " + attribution + " (the file-change feed runs with auto and kernel)"}
	default:
		go func() {
			f, notes, err := attrib.OpenFileFeed()
			r := fileFeedResult{feed: f, notes: notes}
			if err != nil {
				r.why = err.Error()
			}
			ch <- r
		}()
	}
	return ch
}
