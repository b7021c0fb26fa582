package netsetup

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"github.com/racklift/racklift/pkg/expect"
)

// Kind is how a tagged network is carried on its NIC.
type Kind interface {
	Name() string
	ChildName(parent string, vlan int) string
	// New is the link to create; parent is the NIC.
	New(l Link, parent netlink.Link) netlink.Link
	// Matches reports whether an existing link is what l describes.
	Matches(existing netlink.Link, l Link, parent netlink.Link) bool
	// Describe says what the child is, for plans: "VLAN 200 on eth1".
	Describe(l Link) string
	// Check is how netcheck verifies the network once the child exists.
	Check(nw expect.Network, child string) expect.Network
}

// KindByName returns "vlan" (802.1Q, the default) or "macvlan" (labs and test hosts whose
// kernel has no 8021q: one macvlan per network stands in for the tagged sub-interface).
func KindByName(name string) (Kind, error) {
	switch name {
	case "", "vlan":
		return VLAN{}, nil
	case "macvlan":
		return Macvlan{}, nil
	}
	return nil, fmt.Errorf("link kind %q: use vlan (802.1Q on the trunk) or macvlan (labs without 8021q)", name)
}

// VLAN carries a network as an 802.1Q sub-interface of the trunk.
type VLAN struct{}

func (VLAN) Name() string                             { return "vlan" }
func (VLAN) ChildName(parent string, vlan int) string { return childName(parent, vlan) }

func (VLAN) New(l Link, parent netlink.Link) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex, la.MTU = l.Name, parent.Attrs().Index, l.MTU
	return &netlink.Vlan{LinkAttrs: la, VlanId: l.VLAN}
}

func (VLAN) Matches(e netlink.Link, l Link, parent netlink.Link) bool {
	v, ok := e.(*netlink.Vlan)
	return ok && v.ParentIndex == parent.Attrs().Index && v.VlanId == l.VLAN
}

func (VLAN) Describe(l Link) string { return fmt.Sprintf("VLAN %d on %s", l.VLAN, l.Parent) }

func (VLAN) Check(nw expect.Network, child string) expect.Network { return nw }

// Macvlan stands in for a VLAN where 802.1Q is missing: same addresses and MTU, no tag.
type Macvlan struct{}

func (Macvlan) Name() string                             { return "macvlan" }
func (Macvlan) ChildName(parent string, vlan int) string { return childName(parent, vlan) }

func (Macvlan) New(l Link, parent netlink.Link) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex, la.MTU = l.Name, parent.Attrs().Index, l.MTU
	return &netlink.Macvlan{LinkAttrs: la, Mode: netlink.MACVLAN_MODE_BRIDGE}
}

func (Macvlan) Matches(e netlink.Link, l Link, parent netlink.Link) bool {
	m, ok := e.(*netlink.Macvlan)
	return ok && m.ParentIndex == parent.Attrs().Index
}

func (Macvlan) Describe(l Link) string {
	return fmt.Sprintf("macvlan on %s standing in for VLAN %d", l.Parent, l.VLAN)
}

// Check probes the macvlan itself: there is no VLAN tag to find.
func (Macvlan) Check(nw expect.Network, child string) expect.Network {
	nw.Interface, nw.MAC, nw.VLAN = child, "", 0
	return nw
}
