package plan

import (
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/racklift/racklift/pkg/inventory"
)

// DHCPNetwork is how serve reaches one provisioning network's DHCP: directly, on an
// interface of its own (Relays empty), or through the relay agents that forward it.
type DHCPNetwork struct {
	Network string       `json:"network"`
	Mode    string       `json:"mode"` // reservation, proxy or off
	VLAN    int          `json:"vlan,omitempty"`
	Prefix  netip.Prefix `json:"prefix"`
	// Server is serve's address for the network: on it when direct, the address the
	// relays forward to when relayed.
	Server netip.Addr   `json:"server,omitzero"`
	Relays []netip.Addr `json:"relays,omitempty"` // relay agents' addresses on the network (giaddr)
}

// Relayed says whether serve answers the network through relays.
func (d *DHCPNetwork) Relayed() bool { return len(d.Relays) > 0 }

// dhcpNetworks are the provisioning networks (and any other with a dhcp: section), in
// inventory order, indexed by relay address.
func (p *Plan) dhcpNetworks(inv *inventory.Inventory, facts map[string]*netFacts) {
	p.byRelay = map[netip.Addr]*DHCPNetwork{}
	for _, nw := range inv.Networks {
		if nw.Role != "provisioning" && nw.DHCP == nil {
			continue
		}
		f := facts[nw.Name]
		p.DHCP = append(p.DHCP, DHCPNetwork{Network: nw.Name, Mode: f.mode, VLAN: nw.VLAN, Prefix: nw.Prefix,
			Server: f.server, Relays: nw.RelayAddrs()})
	}
	for i := range p.DHCP {
		for _, r := range p.DHCP[i].Relays {
			p.byRelay[r] = &p.DHCP[i]
		}
	}
}

// ByRelay is the network whose relay agent has address giaddr, nil when no network
// names it: a relayed request with that giaddr is not answered.
func (p *Plan) ByRelay(giaddr netip.Addr) *DHCPNetwork {
	if p.byRelay != nil {
		return p.byRelay[giaddr]
	}
	for i := range p.DHCP { // a plan decoded from JSON has no index
		for _, r := range p.DHCP[i].Relays {
			if r == giaddr {
				return &p.DHCP[i]
			}
		}
	}
	return nil
}

// DHCPNetwork is the named network's DHCP plan, nil when it has none.
func (p *Plan) DHCPNetwork(name string) *DHCPNetwork {
	for i := range p.DHCP {
		if p.DHCP[i].Network == name {
			return &p.DHCP[i]
		}
	}
	return nil
}

// WriteDHCP prints how serve reaches each network's DHCP, one line each: served directly
// on its interface, or through which relays to which server address, and how many nodes
// boot from it (what `provision net plan` shows below the link changes).
func (p *Plan) WriteDHCP(w io.Writer) error {
	if len(p.DHCP) == 0 {
		return nil
	}
	nodes := map[string]int{}
	for _, np := range p.Nodes {
		nodes[np.Reservation.Network]++
	}
	var b strings.Builder
	b.WriteString("DHCP:\n")
	for _, d := range p.DHCP {
		where := "served directly"
		switch {
		case d.Mode == "off":
			where = "not answered by serve (mode off: another DHCP server)"
		case d.Relayed():
			rs := make([]string, len(d.Relays))
			for i, r := range d.Relays {
				rs[i] = r.String()
			}
			where = fmt.Sprintf("via relay %s → serve at %s", strings.Join(rs, ", "), d.Server)
		case d.Server.IsValid():
			where = "served directly on " + netip.PrefixFrom(d.Server, d.Prefix.Bits()).String()
		}
		vlan := ""
		if d.VLAN != 0 {
			vlan = fmt.Sprintf(" VLAN %d", d.VLAN)
		}
		fmt.Fprintf(&b, "  %s (%s%s, %s, %d node(s)): %s\n", d.Network, d.Prefix, vlan, d.Mode, nodes[d.Network], where)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
