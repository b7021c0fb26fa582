// Package netsetup makes a host's links match the inventory with netlink: VLAN
// sub-interfaces on a trunk NIC (or macvlans where the kernel has no 802.1Q, as in tests),
// MTU, addresses, routes and link state.
//
// Plan compares the desired state with the kernel and lists the difference; Apply makes
// only that difference, so a second Apply changes nothing, and undoes what it changed if a
// step fails. racklift records what it created (links carry the alias "racklift:<network>",
// and a state file lists created links, added addresses and the original MTU of NICs it
// changed) and never removes what it did not create unless told to adopt it. Down removes
// only what racklift created.
package netsetup

import (
	"fmt"
	"net/netip"
	"strconv"

	"github.com/racklift/racklift/pkg/expect"
)

// Kinds of desired links.
const (
	KindNIC = "nic" // an existing NIC: never created or deleted, only configured
)

// Link is one link as it should be.
type Link struct {
	Name    string         `json:"name"`
	Kind    string         `json:"kind"` // nic, vlan, macvlan
	Parent  string         `json:"parent,omitempty"`
	MAC     string         `json:"mac,omitempty"` // a NIC is found by MAC first
	VLAN    int            `json:"vlan,omitempty"`
	MTU     int            `json:"mtu,omitempty"`
	Addrs   []netip.Prefix `json:"addresses,omitempty"`
	Routes  []Route        `json:"routes,omitempty"`
	Network string         `json:"network,omitempty"` // for messages; parents list their networks
	// MinMTU: a NIC that only carries VLANs needs at least MTU, not exactly (a switch-facing
	// NIC at 9216 is fine for 9000-byte VLANs).
	MinMTU bool `json:"min_mtu,omitempty"`
}

// Route is a route the host needs, e.g. a remote subnet through the network's gateway.
type Route struct {
	Dst netip.Prefix `json:"dst"`
	Gw  netip.Addr   `json:"gateway"`
}

func (r Route) String() string { return r.Dst.String() + " via " + r.Gw.String() }

// Desired is the whole host: parents before their children.
type Desired struct {
	Links []Link `json:"links"`
	// Networks are the checks that verify the result (gateway ARP, DF MTU probe, peers).
	Networks []expect.Network `json:"networks"`
}

// FromNetworks turns the networks a host must be on into links: a tagged network becomes a
// child link of kind (VLAN on a trunk, or macvlan in labs) on its NIC, an untagged one puts
// its address on the NIC itself; NIC MTUs rise to the largest network they carry.
func FromNetworks(nets []expect.Network, kind Kind) (Desired, error) {
	var d Desired
	nic := map[string]int{} // NIC name → index in d.Links
	for _, nw := range nets {
		if nw.Interface == "" {
			return Desired{}, fmt.Errorf("network %s: no interface named for it", nw.Name)
		}
		var addr netip.Prefix
		if nw.Address != "" {
			p, err := netip.ParsePrefix(nw.Address)
			if err != nil {
				return Desired{}, fmt.Errorf("network %s on %s: address %q: %w", nw.Name, nw.Interface, nw.Address, err)
			}
			addr = p
		}
		i, ok := nic[nw.Interface]
		if !ok {
			i = len(d.Links)
			nic[nw.Interface] = i
			d.Links = append(d.Links, Link{Name: nw.Interface, Kind: KindNIC, MAC: nw.MAC, MinMTU: true})
		}
		p := &d.Links[i]
		if nw.MTU > p.MTU {
			p.MTU = nw.MTU
		}
		if nw.VLAN == 0 {
			p.Network = join(p.Network, nw.Name)
			p.MinMTU = false
			if addr.IsValid() {
				p.Addrs = append(p.Addrs, addr)
			}
			d.Networks = append(d.Networks, nw)
			continue
		}
		c := Link{Name: kind.ChildName(nw.Interface, nw.VLAN), Kind: kind.Name(), Parent: nw.Interface,
			VLAN: nw.VLAN, MTU: nw.MTU, Network: nw.Name}
		if addr.IsValid() {
			c.Addrs = []netip.Prefix{addr}
		}
		d.Links = append(d.Links, c)
		d.Networks = append(d.Networks, kind.Check(nw, c.Name))
	}
	// Parents first: NICs were appended at first sight, children after; keep NICs on top.
	var out []Link
	for _, l := range d.Links {
		if l.Kind == KindNIC {
			out = append(out, l)
		}
	}
	for _, l := range d.Links {
		if l.Kind != KindNIC {
			out = append(out, l)
		}
	}
	d.Links = out
	return d, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "," + b
}

// childName is "<parent>.<vlan>", the parent cut so the name fits IFNAMSIZ (15 bytes).
func childName(parent string, vlan int) string {
	suffix := "." + strconv.Itoa(vlan)
	if len(parent)+len(suffix) > 15 {
		parent = parent[:15-len(suffix)]
	}
	return parent + suffix
}
