package netcheck

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	familyAll  = netlink.FAMILY_ALL
	iffLowerUp = unix.IFF_LOWER_UP
)

// probeSocket sets DF on every packet and never uses a cached path MTU (fail loudly
// instead), and binds the socket to the interface when one is named.
func probeSocket(fd int, ifname string) error {
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE); err != nil {
		return err
	}
	if ifname != "" {
		return unix.BindToDevice(fd, ifname)
	}
	return nil
}
