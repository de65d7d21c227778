// The Go runtime re-reads the cgroup CPU limit every second to follow a change of it
// (GOMAXPROCS, since Go 1.25): the only periodic wake-up an idle daemon had left (about 8 a
// second counting the runtime's monitor; 0 without it, bench/daemon-idle.sh). GOMAXPROCS is
// still set from the limit at start.
//go:debug updatemaxprocs=0

// Command tripline watches the places Linux malware persists in (init scripts, cron, systemd units,
// autostart, motd, udev, shell profiles...) and compares them with an approved baseline.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
