// Package netns gives tests and the virtual lab throwaway network namespaces: create one,
// wire bridges, veth pairs and persistent taps into it, run Go code or a command inside it,
// and have everything deleted on Close (or at the end of the test with New).
//
// Names are unique per process (PID + counter), so concurrent test packages never collide:
//
//	ns := netns.New(t)                      // deleted by t.Cleanup
//	br, _ := ns.Bridge(netns.IfName("br"), 1500)
//	tap, _ := ns.Tap(netns.IfName("tap"), br)
//	cmd := ns.Command(ctx, "qemu-system-x86_64", args...)
//	err := ns.Do(func() error { return netcheck.Run(...) })
//
// Link changes go through a netlink.Handle bound to the namespace (Handle), so they need
// no thread switching; only Do and Tap switch the calling OS thread.
package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var counter atomic.Uint32

// Name returns a namespace name unique to this process: "rl-<prefix>-<pid>-<n>".
func Name(prefix string) string {
	return fmt.Sprintf("rl-%s-%d-%d", prefix, os.Getpid(), counter.Add(1))
}

// IfName returns an interface name unique to this process that fits IFNAMSIZ (15 bytes):
// up to 4 bytes of prefix, then the PID and a counter in base 36.
func IfName(prefix string) string {
	if len(prefix) > 4 {
		prefix = prefix[:4]
	}
	n := fmt.Sprintf("%s%s%s", prefix, base36(uint64(os.Getpid())), base36(uint64(counter.Add(1))))
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

func base36(v uint64) string { return strconv.FormatUint(v, 36) }

// NS is a named network namespace (bind-mounted under /run/netns, so `ip netns exec`
// and other processes can enter it by name).
type NS struct {
	Name   string
	handle vnetns.NsHandle
	nl     *netlink.Handle

	mu      sync.Mutex
	cleanup []func()
	closed  bool
}

// New creates a namespace for a test and deletes it (with everything registered on it)
// when the test ends. It fails the test if the namespace cannot be made.
func New(t testing.TB) *NS {
	t.Helper()
	sweepOnce.Do(func() { // leftovers of a test binary that was killed before its cleanups
		if err := SweepStale("t"); err != nil {
			t.Logf("netns: %v", err)
		}
	})
	ns, err := Create(Name("t"))
	if err != nil {
		t.Fatalf("netns: %v", err)
	}
	t.Cleanup(func() {
		if err := ns.Close(); err != nil {
			t.Logf("netns: %v", err)
		}
	})
	return ns
}

// Create makes a named namespace with its loopback up. Close deletes it.
func Create(name string) (*NS, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		return nil, fmt.Errorf("current namespace: %w", err)
	}
	defer orig.Close()
	// NewNamed unshares the calling thread into the new namespace; step back out at once.
	h, err := vnetns.NewNamed(name)
	if serr := vnetns.Set(orig); serr != nil {
		// This thread is now in the wrong namespace: never give it back to the runtime.
		runtime.LockOSThread()
		return nil, fmt.Errorf("return to the original namespace after creating %s: %w", name, serr)
	}
	if err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", name, err)
	}
	nl, err := netlink.NewHandleAt(h, unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		vnetns.DeleteNamed(name)
		return nil, fmt.Errorf("netlink handle in %s: %w", name, err)
	}
	ns := &NS{Name: name, handle: h, nl: nl}
	if lo, err := nl.LinkByName("lo"); err == nil {
		_ = nl.LinkSetUp(lo)
	}
	return ns, nil
}

// Handle is a netlink handle whose requests act inside the namespace.
func (ns *NS) Handle() *netlink.Handle { return ns.nl }

// FD is the namespace file descriptor, e.g. for netlink.NsFd when moving a link here.
func (ns *NS) FD() int { return int(ns.handle) }

// OnClose registers f to run (in reverse order) before the namespace is deleted.
func (ns *NS) OnClose(f func()) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	ns.cleanup = append(ns.cleanup, f)
}

// Close runs the registered cleanups and deletes the namespace; links inside go with it.
// It is safe to call twice.
func (ns *NS) Close() error {
	ns.mu.Lock()
	if ns.closed {
		ns.mu.Unlock()
		return nil
	}
	ns.closed = true
	fs := ns.cleanup
	ns.cleanup = nil
	ns.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	ns.nl.Close()
	ns.handle.Close()
	if err := vnetns.DeleteNamed(ns.Name); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns.Name, err)
	}
	return nil
}

// Do runs fn on a locked OS thread switched into the namespace. Sockets fn opens stay in
// the namespace; goroutines fn starts do NOT run in it.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	// A fresh goroutine: if switching back fails its thread is discarded, not reused.
	go func() {
		runtime.LockOSThread()
		orig, err := vnetns.Get()
		if err != nil {
			errc <- fmt.Errorf("current namespace: %w", err)
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		if err := vnetns.Set(ns.handle); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			runtime.UnlockOSThread()
			return
		}
		ferr := fn()
		if err := vnetns.Set(orig); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave namespace %s: %w", ns.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Command returns a command that runs inside the namespace (`ip netns exec NAME ...`).
// ip execs the program, so the command's process is the program itself.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(ctx context.Context, name string, args ...string) (string, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v in %s: %w: %s", name, args, ns.Name, err, out)
	}
	return string(out), nil
}

// Link looks a link up by name inside the namespace.
func (ns *NS) Link(name string) (netlink.Link, error) {
	l, err := ns.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("link %s in %s: %w", name, ns.Name, err)
	}
	return l, nil
}

// Bridge creates an up bridge with the given MTU (0: kernel default).
func (ns *NS) Bridge(name string, mtu int) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = name
	if mtu > 0 {
		la.MTU = mtu
	}
	br := &netlink.Bridge{LinkAttrs: la}
	if err := ns.nl.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("add bridge %s in %s: %w", name, ns.Name, err)
	}
	return ns.up(name)
}

// Veth creates a veth pair: name here, peerName in peer (nil: this namespace too). Both
// ends are up with the given MTU (0: default).
func (ns *NS) Veth(name, peerName string, peer *NS, mtu int) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = name
	if mtu > 0 {
		la.MTU = mtu
	}
	v := &netlink.Veth{LinkAttrs: la, PeerName: peerName}
	if peer != nil && peer != ns {
		v.PeerNamespace = netlink.NsFd(peer.FD())
	}
	if err := ns.nl.LinkAdd(v); err != nil {
		return nil, fmt.Errorf("add veth %s/%s in %s: %w", name, peerName, ns.Name, err)
	}
	other := ns
	if peer != nil {
		other = peer
	}
	if mtu > 0 {
		if pl, err := other.Link(peerName); err == nil {
			_ = other.nl.LinkSetMTU(pl, mtu)
		}
	}
	if _, err := other.up(peerName); err != nil {
		return nil, err
	}
	return ns.up(name)
}

// Tap creates a persistent tap device (for QEMU's -netdev tap,ifname=NAME) enslaved to
// master when it is not nil, and brings it up. Taps are created on a thread inside the
// namespace: /dev/net/tun makes the device where the opener is.
func (ns *NS) Tap(name string, master netlink.Link) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = name
	tap := &netlink.Tuntap{LinkAttrs: la, Mode: netlink.TUNTAP_MODE_TAP,
		Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR}
	if err := ns.Do(func() error { return netlink.LinkAdd(tap) }); err != nil {
		return nil, fmt.Errorf("add tap %s in %s: %w", name, ns.Name, err)
	}
	l, err := ns.Link(name)
	if err != nil {
		return nil, err
	}
	if master != nil {
		if err := ns.SetMaster(l, master); err != nil {
			return nil, err
		}
	}
	return ns.up(name)
}

// SetMaster enslaves link to a bridge.
func (ns *NS) SetMaster(link, master netlink.Link) error {
	if err := ns.nl.LinkSetMaster(link, master); err != nil {
		return fmt.Errorf("enslave %s to %s in %s: %w", link.Attrs().Name, master.Attrs().Name, ns.Name, err)
	}
	return nil
}

// SetMTU sets a link's MTU.
func (ns *NS) SetMTU(name string, mtu int) error {
	l, err := ns.Link(name)
	if err != nil {
		return err
	}
	if err := ns.nl.LinkSetMTU(l, mtu); err != nil {
		return fmt.Errorf("set MTU %d on %s in %s: %w", mtu, name, ns.Name, err)
	}
	return nil
}

// SetUp brings a link up.
func (ns *NS) SetUp(name string) error {
	_, err := ns.up(name)
	return err
}

// SetDown takes a link down.
func (ns *NS) SetDown(name string) error {
	l, err := ns.Link(name)
	if err != nil {
		return err
	}
	if err := ns.nl.LinkSetDown(l); err != nil {
		return fmt.Errorf("set %s down in %s: %w", name, ns.Name, err)
	}
	return nil
}

// AddAddr adds an address in CIDR form, e.g. "10.203.1.1/24".
func (ns *NS) AddAddr(name, cidr string) error {
	l, err := ns.Link(name)
	if err != nil {
		return err
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("address %q: %w", cidr, err)
	}
	if err := ns.nl.AddrAdd(l, a); err != nil {
		return fmt.Errorf("add %s to %s in %s: %w", cidr, name, ns.Name, err)
	}
	return nil
}

// AddRoute adds a route to dst (CIDR) via gw in the namespace.
func (ns *NS) AddRoute(dst, gw string) error {
	_, ipnet, err := net.ParseCIDR(dst)
	if err != nil {
		return fmt.Errorf("route %q: %w", dst, err)
	}
	r := &netlink.Route{Dst: ipnet, Gw: net.ParseIP(gw)}
	if err := ns.nl.RouteAdd(r); err != nil {
		return fmt.Errorf("add route %s via %s in %s: %w", dst, gw, ns.Name, err)
	}
	return nil
}

// Delete removes a link.
func (ns *NS) Delete(name string) error {
	l, err := ns.Link(name)
	if err != nil {
		return err
	}
	if err := ns.nl.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s in %s: %w", name, ns.Name, err)
	}
	return nil
}

func (ns *NS) up(name string) (netlink.Link, error) {
	l, err := ns.Link(name)
	if err != nil {
		return nil, err
	}
	if err := ns.nl.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set %s up in %s: %w", name, ns.Name, err)
	}
	return ns.Link(name)
}
