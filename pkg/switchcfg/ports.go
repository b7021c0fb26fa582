// Package switchcfg derives each switch port's configuration from the inventory's cabling
// (untagged provisioning VLAN, tagged VLANs of the node's other networks, MTU, a
// description naming node and interface) and writes it for SONiC (config_db.json), NVUE
// (Cumulus Linux, nv set) and Arista EOS, with a diff against what LLDP reported. The
// server's LLDP checks read the same Port, so the port an error asks for is the port the
// export configures.
package switchcfg

import (
	"fmt"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/inventory"
)

// FrameOverhead is what a port's MTU adds to the largest network MTU it carries: the
// Ethernet header (14) and one 802.1Q tag (4).
const FrameOverhead = 18

// Port is one cabled switch port as the inventory wants it.
type Port struct {
	Switch      string
	Name        string
	Description string // "gpu-a01-01 eno1", or "provisioning host eth1 (uplink)"
	Untagged    int    // VLAN id sent untagged; 0: the switch's default VLAN
	Tagged      []int  // ascending
	MTU         int    // largest network MTU on the port plus FrameOverhead
	NetworkMTU  int    // largest network MTU on the port
	Networks    []string
	Node        string // empty for the uplink
	Interface   string
	MAC         string        // the node interface's, lower case; empty for the uplink
	Pos         inventory.Pos // where the cable is written
}

// VLANs is every VLAN the port carries, ascending.
func (p Port) VLANs() []int {
	out := slices.Clone(p.Tagged)
	if p.Untagged > 0 && !slices.Contains(out, p.Untagged) {
		out = append(out, p.Untagged)
	}
	slices.Sort(out)
	return out
}

// NetworkOf is the network on the port that uses vlan; nil when none does.
func NetworkOf(inv *inventory.Inventory, p Port, vlan int) *inventory.Network {
	for _, name := range p.Networks {
		if nw := inv.Network(name); nw != nil && nw.VLAN == vlan {
			return nw
		}
	}
	return nil
}

// ForInterface is the port a node interface is cabled to; false when it names none.
func ForInterface(inv *inventory.Inventory, n *inventory.Node, ifc *inventory.Interface) (Port, bool) {
	if !ifc.Cabled() {
		return Port{}, false
	}
	p := Port{Switch: ifc.Switch, Name: ifc.Port, Description: describe(n.Name + " " + ifc.Name),
		Node: n.Name, Interface: ifc.Name, MAC: ifc.HW.String(), Pos: ifc.PosOf("port")}
	if nw := inv.Network(ifc.Network); nw != nil {
		p.add(nw, nw.Role == "provisioning" || nw.VLAN == 0)
	}
	return p, true
}

// Uplink is the provisioning host's trunk port: every network, tagged where it has a
// VLAN; false when the inventory writes no uplink.
func Uplink(inv *inventory.Inventory) (Port, bool) {
	u := inv.Uplink
	if u == nil {
		return Port{}, false
	}
	desc := "provisioning host uplink"
	if u.Interface != "" {
		desc = "provisioning host " + u.Interface + " (uplink)"
	}
	p := Port{Switch: u.Switch, Name: u.Port, Description: describe(desc), Interface: u.Interface, Pos: u.PosOf("port")}
	for _, nw := range inv.Networks {
		p.add(nw, nw.VLAN == 0)
	}
	return p, true
}

func (p *Port) add(nw *inventory.Network, untagged bool) {
	p.Networks = append(p.Networks, nw.Name)
	switch {
	case untagged && p.Untagged == 0:
		p.Untagged = nw.VLAN
	case nw.VLAN > 0 && !slices.Contains(p.Tagged, nw.VLAN):
		p.Tagged = append(p.Tagged, nw.VLAN)
		slices.Sort(p.Tagged)
	}
	if nw.MTU > p.NetworkMTU {
		p.NetworkMTU = nw.MTU
		p.MTU = nw.MTU + FrameOverhead
	}
}

// Config is one switch's cabled ports, in port order.
type Config struct {
	Switch *inventory.Switch
	Ports  []Port
	VLANs  map[int]string // VLAN id → network name, for the VLAN tables
}

// For gathers the ports of one switch: its node cables in file order, then the uplink.
func For(inv *inventory.Inventory, name string) (*Config, error) {
	sw := inv.Switch(name)
	if sw == nil {
		known := make([]string, 0, len(inv.Switches))
		for _, s := range inv.Switches {
			known = append(known, s.Name)
		}
		return nil, fmt.Errorf("switch %q is not in the inventory %s (switches: %v)", name, inv.Path, known)
	}
	c := &Config{Switch: sw, VLANs: map[int]string{}}
	for _, n := range inv.Nodes {
		for _, ifc := range n.Interfaces {
			if p, ok := ForInterface(inv, n, ifc); ok && p.Switch == name {
				c.Ports = append(c.Ports, p)
			}
		}
	}
	if p, ok := Uplink(inv); ok && p.Switch == name {
		c.Ports = append(c.Ports, p)
	}
	slices.SortStableFunc(c.Ports, func(a, b Port) int { return ComparePortNames(a.Name, b.Name) })
	for _, p := range c.Ports {
		for _, id := range p.VLANs() {
			if nw := NetworkOf(inv, p, id); nw != nil {
				c.VLANs[id] = nw.Name
			}
		}
	}
	return c, nil
}

// ComparePortNames orders Ethernet2 before Ethernet10: by the text, numbers by value.
func ComparePortNames(a, b string) int {
	for a != "" && b != "" {
		na, ra := leadingNumber(a)
		nb, rb := leadingNumber(b)
		if na >= 0 && nb >= 0 {
			if na != nb {
				return na - nb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		a, b = a[1:], b[1:]
	}
	return len(a) - len(b)
}

func leadingNumber(s string) (int, string) {
	i, n := 0, 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' && i < 9 {
		n = n*10 + int(s[i]-'0')
		i++
	}
	if i == 0 {
		return -1, s
	}
	return n, s[i:]
}

// describe keeps a port description to what every switch CLI takes unquoted: letters,
// digits, space and ._:/()- (an interface name from the inventory could hold anything).
func describe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(" ._:/()-", r):
			return r
		}
		return '_'
	}, s)
}
