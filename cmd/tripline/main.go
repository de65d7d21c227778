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
