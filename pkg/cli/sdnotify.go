package cli

import (
	"fmt"
	"net"
	"os"
)

// SdNotify sends state (e.g. "READY=1") to systemd's $NOTIFY_SOCKET, as a Type=notify
// unit expects; without the variable (not under systemd) it does nothing. The protocol is
// one datagram on a unix socket; "@" starts an abstract address.
func SdNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}
