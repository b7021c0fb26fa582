// Package netcheck checks a node's networks (expect.Network) hop by hop (interface,
// carrier, speed, MTU, VLAN, address, gateway ARP, don't-fragment MTU probe, peers) and
// says which hop failed and its likely cause.
package netcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mdlayher/ethtool"
	"github.com/vishvananda/netlink"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Options tune the probes; the zero value uses the defaults.
type Options struct {
	ARPTimeout  time.Duration // per target, all tries together; default 3s
	ARPTries    int           // default 3
	EchoTimeout time.Duration // per ICMP echo; default 2s
}

func (o Options) withDefaults() Options {
	if o.ARPTimeout == 0 {
		o.ARPTimeout = 3 * time.Second
	}
	if o.ARPTries == 0 {
		o.ARPTries = 3
	}
	if o.EchoTimeout == 0 {
		o.EchoTimeout = 2 * time.Second
	}
	return o
}

// Run checks every network with the default options.
func Run(ctx context.Context, nets []expect.Network) []check.Result {
	return Options{}.Run(ctx, nets)
}

// Run checks each network hop by hop: the NIC (by MAC or name), carrier, speed, MTU, the
// VLAN sub-interface, the address, the gateway's ARP reply, a don't-fragment probe at the
// network's MTU and every peer. A failed hop ends that network's checks below it, so the
// first failure is the one to fix.
//
// Run works on the calling OS thread's network namespace and starts no goroutines, so a
// caller may run it inside a namespace (internal/lab/netns NS.Do).
func (o Options) Run(ctx context.Context, nets []expect.Network) []check.Result {
	o = o.withDefaults()
	var eth *ethtool.Client
	if c, err := ethtool.New(); err == nil {
		eth = c
		defer c.Close()
	}
	var out []check.Result
	for _, nw := range nets {
		if ctx.Err() != nil {
			out = append(out, check.Result{Name: "net." + nw.Name, Status: check.Fail,
				Message: "not checked: " + ctx.Err().Error()})
			continue
		}
		r := &run{o: o, nw: nw, eth: eth}
		r.check()
		out = append(out, r.results...)
	}
	return out
}

// run is one network's check.
type run struct {
	o       Options
	nw      expect.Network
	eth     *ethtool.Client
	results []check.Result

	parent netlink.Link // the NIC
	link   netlink.Link // where the address lives: the VLAN sub-interface, or the NIC
	src    netip.Addr
	prefix netip.Prefix
}

// where names the hop for messages: "storage (VLAN 200) on ens1f0.200".
func (r *run) where() string {
	s := r.nw.Name
	if r.nw.VLAN != 0 {
		s += fmt.Sprintf(" (VLAN %d)", r.nw.VLAN)
	}
	switch {
	case r.link != nil:
		s += " on " + r.link.Attrs().Name
	case r.parent != nil:
		s += " on " + r.parent.Attrs().Name
	case r.nw.Interface != "":
		s += " on " + r.nw.Interface
	}
	return s
}

func (r *run) add(name string, st check.Status, observed, expected, msg string, start time.Time) {
	if msg != "" && st != check.Pass {
		msg = r.where() + ": " + msg
	}
	r.results = append(r.results, check.Result{
		Name: "net." + r.nw.Name + "." + name, Status: st,
		Observed: observed, Expected: expected, Message: msg, Duration: time.Since(start),
	})
}

func (r *run) check() {
	if !r.linkChecks() {
		return
	}
	if !r.addressCheck() {
		return
	}
	r.reachChecks()
}

// linkChecks: NIC present, carrier, speed, VLAN sub-interface, MTU. False stops the network.
func (r *run) linkChecks() bool {
	start := time.Now()
	p, how, err := findParent(r.nw)
	if err != nil {
		r.add("link", check.Fail, "", r.nicWanted(), err.Error(), start)
		return false
	}
	r.parent = p
	pa := p.Attrs()
	r.add("link", check.Pass, pa.Name+" "+pa.HardwareAddr.String()+how, r.nicWanted(), "", start)

	start = time.Now()
	if ok, state := hasCarrier(p); !ok {
		r.add("carrier", check.Fail, state, "up, carrier", fmt.Sprintf(
			"%s has no carrier (%s): cable unplugged, transceiver not seated, or the switch port is shut down", pa.Name, state), start)
		return false
	} else {
		r.add("carrier", check.Pass, state, "up, carrier", "", start)
	}

	r.speedCheck()

	r.link = p
	if r.nw.VLAN != 0 {
		start = time.Now()
		v, other := findVLAN(p, r.nw.VLAN)
		switch {
		case v == nil && r.nw.Address != "" && hasAddr(p, r.nw.Address):
			// The address sits on the NIC itself: an access port in this VLAN (e.g. the PXE NIC).
			r.add("vlan", check.Pass, "untagged on "+pa.Name+" (access port)", strconv.Itoa(r.nw.VLAN), "", start)
		case v == nil:
			msg := fmt.Sprintf("no VLAN %d sub-interface on %s: run `node-agent net apply` (or create %s.%d)", r.nw.VLAN, pa.Name, pa.Name, r.nw.VLAN)
			obs := "none"
			if len(other) > 0 {
				obs = "VLANs " + strings.Join(other, ", ")
				msg = fmt.Sprintf("%s carries %s but not VLAN %d: the inventory and the host disagree; run `node-agent net apply`", pa.Name, obs, r.nw.VLAN)
			}
			r.add("vlan", check.Fail, obs, strconv.Itoa(r.nw.VLAN), msg, start)
			return false
		default:
			r.link = v
			r.add("vlan", check.Pass, fmt.Sprintf("%s id %d", v.Attrs().Name, r.nw.VLAN), strconv.Itoa(r.nw.VLAN), "", start)
			if ok, state := hasCarrier(v); !ok {
				r.add("vlan.up", check.Fail, state, "up", fmt.Sprintf("%s is %s: bring it up (`node-agent net apply`)", v.Attrs().Name, state), start)
				return false
			}
		}
	}

	if r.nw.MTU > 0 {
		start = time.Now()
		st, obs, msg := mtuVerdict(r.nw.MTU, *r.link.Attrs(), *pa, r.link != p)
		r.add("mtu", st, obs, strconv.Itoa(r.nw.MTU), msg, start)
	}
	return true
}

// mtuVerdict compares a link's MTU with the network's; child says the link is a VLAN on
// parent, whose MTU must be at least the network's too.
func mtuVerdict(want int, link, parent netlink.LinkAttrs, child bool) (st check.Status, observed, msg string) {
	got := link.MTU
	parentLow := child && parent.MTU < want
	switch {
	case got != want:
		hint := ""
		if parentLow {
			hint = fmt.Sprintf("; its parent %s has MTU %d and must be raised first", parent.Name, parent.MTU)
		}
		return check.Fail, strconv.Itoa(got), fmt.Sprintf(
			"%s has MTU %d, the inventory says %d: set it (`node-agent net apply`)%s", link.Name, got, want, hint)
	case parentLow:
		return check.Fail, fmt.Sprintf("%d (parent %s %d)", got, parent.Name, parent.MTU), fmt.Sprintf(
			"parent %s has MTU %d, below the network's %d: the VLAN cannot carry full frames; raise %s's MTU", parent.Name, parent.MTU, want, parent.Name)
	}
	return check.Pass, strconv.Itoa(got), ""
}

func (r *run) nicWanted() string {
	var parts []string
	if r.nw.Interface != "" {
		parts = append(parts, r.nw.Interface)
	}
	if r.nw.MAC != "" {
		parts = append(parts, r.nw.MAC)
	}
	return strings.Join(parts, " ")
}

// speedCheck reports the negotiated speed against the best mode both ends advertise.
// Virtual NICs (veth, virtio) report none: a warning, never a failure.
func (r *run) speedCheck() {
	start := time.Now()
	name := r.parent.Attrs().Name
	if r.eth == nil {
		r.add("speed", check.Warn, "not reported", "", "ethtool netlink is not available in this kernel: speed not checked", start)
		return
	}
	lm, err := r.eth.LinkMode(ethtool.Interface{Index: r.parent.Attrs().Index})
	if err != nil {
		lm = nil
	}
	st, obs, exp, msg := speedVerdict(name, lm)
	r.add("speed", st, obs, exp, msg, start)
}

// speedVerdict judges a NIC's link mode (nil: none reported): no speed warns, half
// duplex fails, a speed below the best both ends advertise warns.
func speedVerdict(name string, lm *ethtool.LinkMode) (st check.Status, observed, expected, msg string) {
	if lm == nil || lm.SpeedMegabits <= 0 || lm.SpeedMegabits == 0xffffffff {
		return check.Warn, "not reported", "", fmt.Sprintf("%s reports no link speed (virtual NIC or driver without ethtool link modes): speed not checked", name)
	}
	obs := fmt.Sprintf("%d Mb/s", lm.SpeedMegabits)
	if lm.Duplex == ethtool.Half {
		return check.Fail, obs + " half duplex", "full duplex", fmt.Sprintf("%s runs half duplex: autonegotiation mismatch with the switch port", name)
	}
	best := bestCommon(lm.Ours, lm.Peer)
	if best > 0 && lm.SpeedMegabits < best {
		return check.Warn, obs, fmt.Sprintf("%d Mb/s", best), fmt.Sprintf(
			"%s trained at %d Mb/s though both ends advertise %d Mb/s: reseat or replace the cable/DAC or optic", name, lm.SpeedMegabits, best)
	}
	return check.Pass, obs, "", ""
}

// bestCommon is the fastest speed in both advertised lists (ours only when the peer's is empty).
func bestCommon(ours, peer []ethtool.AdvertisedLinkMode) int {
	speeds := func(ms []ethtool.AdvertisedLinkMode) map[int]bool {
		s := map[int]bool{}
		for _, m := range ms {
			i := 0
			for i < len(m.Name) && m.Name[i] >= '0' && m.Name[i] <= '9' {
				i++
			}
			if v, err := strconv.Atoi(m.Name[:i]); err == nil && strings.HasPrefix(m.Name[i:], "base") {
				s[v] = true
			}
		}
		return s
	}
	o, p := speeds(ours), speeds(peer)
	best := 0
	for v := range o {
		if (len(p) == 0 || p[v]) && v > best {
			best = v
		}
	}
	return best
}

// addressCheck: the network's address is on the right interface.
func (r *run) addressCheck() bool {
	if r.nw.Address == "" {
		return false // nothing to probe from
	}
	start := time.Now()
	pfx, err := netip.ParsePrefix(r.nw.Address)
	if err != nil {
		if a, aerr := netip.ParseAddr(r.nw.Address); aerr == nil {
			pfx = netip.PrefixFrom(a, 32)
		} else {
			r.add("address", check.Fail, "", r.nw.Address, fmt.Sprintf("address %q is not an IP address or CIDR: fix the inventory", r.nw.Address), start)
			return false
		}
	}
	r.src, r.prefix = pfx.Addr(), pfx.Masked()
	name := r.link.Attrs().Name
	addrs, _ := netlink.AddrList(r.link, familyAll)
	if found, st, obs, msg := addressVerdict(name, pfx, addrs); found {
		r.add("address", st, obs, pfx.String(), msg, start)
		return true
	}
	var have []string
	for _, a := range addrs {
		have = append(have, a.IPNet.String())
	}
	if other := linkWithAddr(r.src); other != "" {
		r.add("address", check.Fail, "on "+other, pfx.String()+" on "+name, fmt.Sprintf(
			"%s is on %s, not on %s: traffic for %s leaves by the wrong port; run `node-agent net apply`", r.src, other, name, r.nw.Name), start)
		return false
	}
	obs := "none"
	if len(have) > 0 {
		obs = strings.Join(have, ", ")
	}
	r.add("address", check.Fail, obs, pfx.String(), fmt.Sprintf("%s lacks address %s: run `node-agent net apply`", name, pfx), start)
	return false
}

// addressVerdict looks for the network's address (pfx; a /32 is any prefix length)
// among a link's: found, and whether its prefix length agrees (pass) or not (warn).
func addressVerdict(name string, pfx netip.Prefix, addrs []netlink.Addr) (found bool, st check.Status, observed, msg string) {
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != pfx.Addr() {
			continue
		}
		if ones, _ := a.Mask.Size(); pfx.Bits() != 32 && ones != pfx.Bits() {
			return true, check.Warn, a.IPNet.String(), fmt.Sprintf(
				"%s has %s with prefix /%d, the inventory says /%d: routes to the subnet may be wrong", name, pfx.Addr(), ones, pfx.Bits())
		}
		return true, check.Pass, a.IPNet.String(), ""
	}
	return false, "", "", ""
}

// reachChecks: gateway ARP, DF MTU probe, peers.
func (r *run) reachChecks() {
	ifi, err := net.InterfaceByIndex(r.link.Attrs().Index)
	if err != nil {
		r.add("gateway", check.Fail, "", "", err.Error(), time.Now())
		return
	}
	var mtuTargets []target
	if r.nw.Gateway == "" && len(r.nw.Peers) == 0 {
		what := "reachability"
		if r.nw.VLAN != 0 {
			what = fmt.Sprintf("that the switch carries VLAN %d", r.nw.VLAN)
		}
		r.add("reach", check.Warn, "nothing to probe", "a gateway or peers",
			fmt.Sprintf("the inventory gives no gateway and no peers for %s, so %s is not verified: add the nodes to expect.peers in the profile", r.nw.Name, what), time.Now())
		return
	}
	if r.nw.Gateway != "" {
		start := time.Now()
		gw, err := netip.ParseAddr(r.nw.Gateway)
		if err != nil {
			r.add("gateway", check.Fail, "", r.nw.Gateway, fmt.Sprintf("gateway %q is not an IP address: fix the inventory", r.nw.Gateway), start)
		} else if mac, err := arpPing(ifi, r.src, gw, r.o.ARPTimeout, r.o.ARPTries); err != nil {
			r.add("gateway", check.Fail, "no ARP reply", gw.String(), r.silence("gateway "+gw.String(), err), start)
		} else {
			r.add("gateway", check.Pass, "ARP reply from "+mac.String(), gw.String(), "", start)
			mtuTargets = append(mtuTargets, target{name: "gateway " + gw.String(), addr: gw, gateway: true})
		}
	}
	for _, p := range r.nw.Peers {
		start := time.Now()
		t, err := parsePeer(p)
		if err != nil {
			r.add("peer."+p, check.Fail, "", p, err.Error(), start)
			continue
		}
		rname := "peer." + t.label()
		if r.prefix.Contains(t.addr) {
			if _, err := arpPing(ifi, r.src, t.addr, r.o.ARPTimeout, r.o.ARPTries); err != nil {
				r.add(rname, check.Fail, "no ARP reply", t.addr.String(), r.silence("peer "+t.name, err), start)
				continue
			}
		}
		if err := ping(ifi.Name, r.src, t.addr, 56, r.o.EchoTimeout); err != nil {
			r.add(rname, check.Fail, "no ICMP echo reply", t.addr.String(), fmt.Sprintf(
				"peer %s answers ARP but not ICMP echo (%v): a host firewall on the peer, or the peer's route back goes another way", t.name, err), start)
			continue
		}
		r.add(rname, check.Pass, "reachable", t.addr.String(), "", start)
		mtuTargets = append(mtuTargets, t)
	}
	mtu := r.nw.MTU
	if mtu == 0 {
		mtu = r.link.Attrs().MTU
	}
	for _, t := range mtuTargets {
		r.mtuProbe(ifi.Name, t, mtu)
	}
}

type target struct {
	name    string // "peer gpu-b02 (10.20.0.12)" or "gateway 10.20.0.1"
	addr    netip.Addr
	gateway bool
}

func (t target) label() string {
	if t.gateway {
		return "gateway"
	}
	return t.addr.String()
}

// parsePeer reads "10.20.0.12" or "gpu-b02=10.20.0.12".
func parsePeer(s string) (target, error) {
	name, addr, named := strings.Cut(s, "=")
	if !named {
		addr = s
	}
	a, err := netip.ParseAddr(strings.TrimSpace(addr))
	if err != nil {
		return target{}, fmt.Errorf("peer %q is not an address (want 10.20.0.12 or name=10.20.0.12)", s)
	}
	t := target{name: a.String(), addr: a}
	if named {
		t.name = fmt.Sprintf("%s (%s)", strings.TrimSpace(name), a)
	}
	return t, nil
}

// silence explains a probe that got no answer: on a tagged network the first suspect is
// the switch port not carrying the VLAN.
func (r *run) silence(what string, err error) string {
	if !errors.Is(err, errNoReply) {
		return fmt.Sprintf("%s: %v", what, err)
	}
	msg := fmt.Sprintf("%s sends no ARP reply within %s", what, r.o.ARPTimeout)
	if r.nw.VLAN != 0 {
		return msg + fmt.Sprintf(": is VLAN %d allowed (tagged) on the switch ports of %s and of the %s, and is it up?",
			r.nw.VLAN, r.parent.Attrs().Name, strings.Fields(what)[0])
	}
	return msg + ": is the cable in the right switch port, the port in the right (access) VLAN, and the far end up?"
}

// mtuProbe sends a don't-fragment echo filling the MTU; a small echo has already answered,
// so silence here means some hop drops big frames.
func (r *run) mtuProbe(ifname string, t target, mtu int) {
	start := time.Now()
	name := "mtu_path." + t.label()
	want := fmt.Sprintf("%d-byte DF echo", mtu)
	if t.gateway {
		// Gateways often rate-limit or drop ICMP: only probe if a small echo answers.
		if err := ping(ifname, r.src, t.addr, 56, r.o.EchoTimeout); err != nil {
			r.add(name, check.Warn, "gateway answers ARP but not ICMP echo", want,
				fmt.Sprintf("%s answers ARP but not ping: path MTU to it not probed", t.name), start)
			return
		}
	}
	st, obs, msg := probeVerdict(ping(ifname, r.src, t.addr, mtu-28, r.o.EchoTimeout), mtu, t.name)
	r.add(name, st, obs, want, msg, start)
}

// probeVerdict explains the outcome of a don't-fragment echo of mtu bytes to target.
func probeVerdict(err error, mtu int, target string) (st check.Status, observed, msg string) {
	var fn *fragNeeded
	switch {
	case err == nil:
		return check.Pass, fmt.Sprintf("%d-byte DF echo answered", mtu), ""
	case errors.Is(err, errTooBig):
		return check.Fail, "local MTU too small", fmt.Sprintf(
			"the kernel refuses a %d-byte packet to %s: the local route or interface MTU is below %d", mtu, target, mtu)
	case errors.As(err, &fn):
		return check.Fail, fmt.Sprintf("next-hop MTU %d", fn.NextMTU), fmt.Sprintf(
			"%d-byte DF probe to %s: %s: a router on the path has a smaller MTU", mtu, target, fn)
	case errors.Is(err, errNoReply):
		return check.Fail, "no reply to big DF echo", fmt.Sprintf(
			"MTU mismatch on the path to %s: 84-byte echoes answer but %d-byte don't-fragment echoes vanish; a switch port, bridge or the peer along the way has an MTU below %d",
			target, mtu, mtu)
	}
	return check.Fail, err.Error(), fmt.Sprintf("%d-byte DF probe to %s: %v", mtu, target, err)
}
