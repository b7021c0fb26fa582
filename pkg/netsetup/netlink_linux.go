package netsetup

import (
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

const (
	familyAll     = netlink.FAMILY_ALL
	scopeUniverse = unix.RT_SCOPE_UNIVERSE
)

func newHandle() (*netlink.Handle, error) { return netlink.NewHandle(unix.NETLINK_ROUTE) }
