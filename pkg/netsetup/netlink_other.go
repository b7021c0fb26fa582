//go:build !linux

package netsetup

import (
	"errors"
	"runtime"

	"github.com/vishvananda/netlink"
)

// Host network setup is netlink, Linux only; these let the operator CLI build elsewhere
// (macOS) and say so when asked to change links.
const (
	familyAll     = 0
	scopeUniverse = 0
)

func newHandle() (*netlink.Handle, error) {
	return nil, errors.New("setting up host networks needs Linux (netlink); this is " + runtime.GOOS)
}
