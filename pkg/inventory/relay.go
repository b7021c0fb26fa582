package inventory

import (
	"fmt"
	"net/netip"
)

// A relayed network is a provisioning network serve is not on: the top-of-rack switches
// (or routers) relay its nodes' DHCP to serve, putting their own address on the network
// in giaddr. serve picks the network from giaddr, so each relay address names exactly one
// network, and a request whose giaddr no network names is dropped (a spoofed giaddr).
//
//	- name: provisioning-b
//	  role: provisioning
//	  cidr: 10.20.0.0/24
//	  gateway: 10.20.0.1
//	  server: 10.10.0.2        # serve's address the relay forwards to (outside this network)
//	  dhcp: {mode: reservation, relays: [10.20.0.1]}

// Relayed says whether serve reaches the network through DHCP relay agents rather than
// on an interface of its own: its dhcp: names relays.
func (n *Network) Relayed() bool { return n != nil && n.DHCP != nil && len(n.DHCP.Relays) > 0 }

// RelayAddrs are the network's relay agent addresses, parsed; a malformed one (which
// validation reports) is left out.
func (n *Network) RelayAddrs() []netip.Addr {
	if !n.Relayed() {
		return nil
	}
	out := make([]netip.Addr, 0, len(n.DHCP.Relays))
	for _, r := range n.DHCP.Relays {
		if a, err := netip.ParseAddr(r); err == nil && a.Unmap().Is4() {
			out = append(out, a.Unmap())
		}
	}
	return out
}

// relays checks the relayed networks: a provisioning network whose DHCP serve answers,
// relay addresses inside it and each named by one network only, and a server address
// outside it (serve's own, the one the relays forward to).
func (v *validator) relays() {
	direct := map[netip.Addr]*Network{} // server address → the directly served network
	for _, n := range v.inv.Networks {
		if n != nil && !n.Relayed() {
			if s := v.server(n); s.IsValid() {
				direct[s] = n
			}
		}
	}
	named := map[netip.Addr]Pos{} // relay address → where it was first named
	for _, n := range v.inv.Networks {
		if !n.Relayed() {
			continue
		}
		label := n.Name
		if n.Role != "provisioning" {
			v.add(n.src.posAt("dhcp", "relays"), "relays carry the DHCP of a provisioning network; remove them here",
				"network %q (role %s) names DHCP relays: only a provisioning network is relayed", label, n.Role)
		}
		if n.DHCP.Mode == "off" {
			v.add(n.src.posAt("dhcp", "mode"), "set mode: reservation (or proxy), or remove relays: with mode off another DHCP server answers",
				"network %q names DHCP relays but its DHCP mode is off: serve answers nothing there", label)
		}
		v.relayServer(n, direct)
		for i, r := range n.DHCP.Relays {
			pos := n.src.posAt("dhcp", "relays", fmt.Sprint(i))
			a, ok := v.addr(r, pos, func() string { return "DHCP relay of network " + quote(label) })
			if !ok {
				continue
			}
			if !a.Is4() {
				v.add(pos, "write the relay's IPv4 address on this network (its giaddr)", "DHCP relay %s of network %q is not IPv4", a, label)
				continue
			}
			if !v.inNetwork(n, a, pos, func() string { return "DHCP relay" }) {
				continue
			}
			if first, dup := named[a]; dup {
				v.add(pos, "a relay address (giaddr) picks the network, so one network names it; remove the other",
					"DHCP relay %s of network %q is already named at %s", a, label, first)
				continue
			}
			named[a] = pos
		}
	}
}

// relayServer checks a relayed network's server: the address of serve its relays forward
// to and its nodes boot from, which cannot be on the network itself (serve is not there)
// and, when it lies in a directly served network, is that network's server address.
func (v *validator) relayServer(n *Network, direct map[netip.Addr]*Network) {
	label := n.Name
	if n.Server == "" {
		return // reported with the DHCP mode (validate.go)
	}
	pos := n.PosOf("server")
	a, ok := v.addr(n.Server, pos, func() string { return "server of network " + quote(label) })
	if !ok {
		return
	}
	if n.Prefix.IsValid() && n.Prefix.Contains(a) {
		v.add(pos, "give the address of the provisioning host the relays forward to (on its own network), or remove relays to serve this network directly",
			"server %s of network %q is inside the network, but the network is relayed (dhcp.relays): serve is not on it", a, label)
		return
	}
	if _, ok := direct[a]; ok {
		return
	}
	for _, m := range v.inv.Networks {
		if m == nil || m == n || m.Relayed() || !m.Prefix.IsValid() || !m.Prefix.Contains(a) {
			continue
		}
		want := "no server address"
		if s := v.server(m); s.IsValid() {
			want = "server " + s.String()
		}
		v.add(pos, fmt.Sprintf("use network %q's server address, where serve listens", m.Name),
			"server %s of relayed network %q lies in network %q (%s), which has %s: the relays would forward to a host serve is not", a, label, m.Name, m.Prefix, want)
		return
	}
}
