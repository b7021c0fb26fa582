package plan

import (
	"fmt"
	"net/netip"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// NodeNetworks is the networks a node must be on, from its inventory interfaces: one
// Network per interface, with the address's prefix, the gateway, the MTU and, as peers,
// the addresses the profile's expected peers have on the same network ("name=address").
func NodeNetworks(inv *inventory.Inventory, n *inventory.Node) ([]expect.Network, error) {
	var peers []*inventory.Node
	if n.Spec != nil {
		for _, name := range n.Spec.Expect.Peers {
			p := inv.Node(name)
			if p == nil {
				return nil, fmt.Errorf("node %s: expected peer %q is not in the inventory", n.Name, name)
			}
			if p != n {
				peers = append(peers, p)
			}
		}
	}
	var out []expect.Network
	for _, ifc := range n.Interfaces {
		nw := inv.Network(ifc.Network)
		if nw == nil {
			return nil, fmt.Errorf("node %s interface %s: network %q is not defined", n.Name, ifc.Name, ifc.Network)
		}
		c := expect.Network{Name: nw.Name, Role: nw.Role, VLAN: nw.VLAN, Interface: ifc.Name, MAC: ifc.MAC,
			Gateway: nw.Gateway, MTU: nw.MTU}
		if ifc.Addr.IsValid() {
			c.Address = netip.PrefixFrom(ifc.Addr, nw.Prefix.Bits()).String()
		}
		for _, p := range peers {
			for _, pi := range p.Interfaces {
				if pi.Network == nw.Name && pi.Addr.IsValid() {
					c.Peers = append(c.Peers, p.Name+"="+pi.Addr.String())
				}
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// HostNetworks is the networks the provisioning host must be on, all carried by one trunk
// NIC: the plan's host interfaces (each network with a server address, where serve
// listens), with their networks' gateways.
func HostNetworks(inv *inventory.Inventory, hosts []HostInterface, trunk string) []expect.Network {
	var out []expect.Network
	for _, h := range hosts {
		c := expect.Network{Name: h.Network, Role: h.Role, VLAN: h.VLAN, Interface: trunk, Address: h.Address.String(), MTU: h.MTU}
		if nw := inv.Network(h.Network); nw != nil {
			c.Gateway = nw.Gateway
		}
		out = append(out, c)
	}
	return out
}
