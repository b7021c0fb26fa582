//go:build !linux

package netcheck

import (
	"errors"
	"net"
	"net/netip"
	"runtime"
	"time"
)

// The probes are Linux's (netlink, AF_PACKET, IP_PMTUDISC_PROBE). Elsewhere the package
// builds, so the operator CLI does on macOS, and every probe says it cannot run.
const (
	familyAll  = 0
	iffLowerUp = 0x10000 // Linux's IFF_LOWER_UP; netlink reports no links here anyway
)

var errNotLinux = errors.New("network probes need Linux; this is " + runtime.GOOS)

func probeSocket(fd int, ifname string) error { return errNotLinux }

func arpPing(ifi *net.Interface, src, target netip.Addr, timeout time.Duration, tries int) (net.HardwareAddr, error) {
	return nil, errNotLinux
}
