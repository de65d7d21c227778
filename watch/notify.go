package watch

import (
	"fmt"
	"net"
	"os"
)

// SdNotify sends a state ("READY=1", "STOPPING=1", "RELOADING=1") to the service manager when
// NOTIFY_SOCKET is set, as sd_notify(3) does: one datagram on a unix socket, abstract when the
// name starts with '@'. Without NOTIFY_SOCKET it does nothing.
func SdNotify(state string) error {
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
