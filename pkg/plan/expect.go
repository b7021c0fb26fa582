package plan

import (
	"fmt"
	"slices"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// ExpectationsFor builds a node's expectations from the inventory, what serve sends its
// agent: its effective profile (overrides applied) and its networks as NodeNetworks
// derives them (interface, MAC, address, VLAN, MTU, gateway, peers), kept to the networks
// the profile names when it names any. A named network the node has no interface on is
// still listed, so the network check reports it missing rather than nobody noticing. A
// profile's image becomes Deploy (deployFor).
func ExpectationsFor(inv *inventory.Inventory, name string) (*expect.Expectations, error) {
	n := inv.Node(name)
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the inventory", name)
	}
	if n.Spec == nil {
		return nil, fmt.Errorf("node %s: profile %q is not defined", name, n.Profile)
	}
	x := n.Spec.Expect
	e := &expect.Expectations{Node: n.Name, Storage: slices.Clone(x.Storage)}
	if x.GPU != nil {
		g := *x.GPU
		e.GPU = &g
	}
	nets, err := NodeNetworks(inv, n)
	if err != nil {
		return nil, err
	}
	if e.Deploy, err = deployFor(inv, n); err != nil {
		return nil, err
	}
	if len(x.Networks) == 0 {
		e.Networks = nets
		return e, nil
	}
	for _, want := range x.Networks {
		found := false
		for _, nw := range nets {
			if nw.Name == want {
				e.Networks, found = append(e.Networks, nw), true
			}
		}
		if !found {
			nw := inv.Network(want)
			if nw == nil {
				return nil, fmt.Errorf("node %s: network %q is not defined", name, want)
			}
			e.Networks = append(e.Networks, expect.Network{Name: nw.Name, Role: nw.Role, VLAN: nw.VLAN, MTU: nw.MTU, Gateway: nw.Gateway})
		}
	}
	return e, nil
}
