// Package sdnotify tells the service manager about the daemon's state, as sd_notify(3) does:
// one datagram per state on the unix socket named by $NOTIFY_SOCKET (abstract when the name
// starts with '@'). Without $NOTIFY_SOCKET every call does nothing, so the daemon runs the same
// outside systemd. It also reads the watchdog interval systemd sets ($WATCHDOG_USEC,
// $WATCHDOG_PID) from WatchdogSec= in the unit.
package sdnotify

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Notify sends state ("READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...", several separated by
// newlines) to the service manager.
func Notify(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if name[0] == '@' {
		name = "\x00" + name[1:]
	} else if name[0] != '/' {
		return fmt.Errorf("NOTIFY_SOCKET=%q: neither a path nor an abstract socket", name)
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// Reloading says a reload began. MONOTONIC_USEC (CLOCK_MONOTONIC now) lets systemd 253+ match
// it to the reload it asked for (Type=notify-reload); older versions ignore it. Send READY=1
// when the reload is done, whether it succeeded or not.
func Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return fmt.Errorf("notify: reading CLOCK_MONOTONIC: %w", err)
	}
	return Notify("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1000, 10))
}

// WatchdogInterval returns how often systemd expects WATCHDOG=1 ($WATCHDOG_USEC), or 0 when no
// watchdog is asked of this process: WATCHDOG_USEC unset, or $WATCHDOG_PID naming another
// process (the variables were inherited). Send WATCHDOG=1 at half this interval, as
// sd_watchdog_enabled(3) advises.
func WatchdogInterval() (time.Duration, error) {
	s := os.Getenv("WATCHDOG_USEC")
	if s == "" {
		return 0, nil
	}
	usec, err := strconv.ParseUint(s, 10, 63)
	if err != nil || usec == 0 {
		return 0, fmt.Errorf("WATCHDOG_USEC=%q: not a positive number of microseconds", s)
	}
	if p := os.Getenv("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid <= 0 {
			return 0, fmt.Errorf("WATCHDOG_PID=%q: not a process id", p)
		}
		if pid != os.Getpid() {
			return 0, nil
		}
	}
	return time.Duration(usec) * time.Microsecond, nil
}
