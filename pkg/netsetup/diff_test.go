package netsetup

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// host is a fake kernel for diff: links, their global addresses and routes.
type host struct {
	links  []netlink.Link
	addrs  map[string][]netip.Prefix
	routes map[string][]Route
}

func (h host) observed() *observed {
	o := &observed{links: h.links, byName: map[string]netlink.Link{}, addrs: map[string][]netip.Prefix{}, owner: map[netip.Addr][]string{},
		route: func(l netlink.Link, r Route) bool {
			for _, x := range h.routes[l.Attrs().Name] {
				if x == r {
					return true
				}
			}
			return false
		}}
	for _, l := range h.links {
		o.byName[l.Attrs().Name] = l
	}
	for name, ps := range h.addrs {
		for _, p := range ps {
			o.addrs[name] = append(o.addrs[name], p)
			o.owner[p.Addr()] = append(o.owner[p.Addr()], name)
		}
	}
	return o
}

func nic(name string, index, mtu int, mac string, up bool) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.Index, la.MTU = name, index, mtu
	la.HardwareAddr, _ = net.ParseMAC(mac)
	if up {
		la.RawFlags = unix.IFF_UP
	}
	return &netlink.Device{LinkAttrs: la}
}

func vlan(name string, index, parent, id, mtu int, alias string, up bool) netlink.Link {
	la := netlink.NewLinkAttrs()
	la.Name, la.Index, la.ParentIndex, la.MTU, la.Alias = name, index, parent, mtu, alias
	if up {
		la.RawFlags = unix.IFF_UP
	}
	return &netlink.Vlan{LinkAttrs: la, VlanId: id}
}

// storage is one tagged network on eth0: VLAN 200, 9000 bytes, an address and a route.
func storage(nicName, mac string) Desired {
	return Desired{Links: []Link{
		{Name: nicName, Kind: KindNIC, MAC: mac, MTU: 9000, MinMTU: true},
		{Name: nicName + ".200", Kind: "vlan", Parent: nicName, VLAN: 200, MTU: 9000, Network: "storage",
			Addrs:  []netip.Prefix{netip.MustParsePrefix("10.20.0.11/22")},
			Routes: []Route{{Dst: netip.MustParsePrefix("10.21.0.0/16"), Gw: netip.MustParseAddr("10.20.0.1")}}},
	}}
}

const mac0 = "3c:ec:ef:00:00:01"

// TestDiff covers Plan's comparison without root: the changes, in Apply's order, or the
// refusal that names what collides.
func TestDiff(t *testing.T) {
	t.Parallel()
	addr := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, x := range s {
			out = append(out, netip.MustParsePrefix(x))
		}
		return out
	}
	route := Route{Dst: netip.MustParsePrefix("10.21.0.0/16"), Gw: netip.MustParseAddr("10.20.0.1")}
	tests := []struct {
		name    string
		host    host
		state   *State
		adopt   bool
		desired Desired
		want    []string // Change.String() of each change, in order
		kept    string   // part of one Kept line
		refused string   // part of the refusal
	}{
		{
			name:    "from a bare NIC",
			host:    host{links: []netlink.Link{nic("eth0", 2, 1500, mac0, false)}},
			desired: storage("eth0", mac0),
			want: []string{
				"~ mtu eth0: 1500 → 9000",
				"~ up eth0: down → up",
				"+ link eth0.200 (storage): VLAN 200 on eth0, mtu 9000",
				"+ address 10.20.0.11/22 on eth0.200 (storage)",
				"+ route 10.21.0.0/16 via 10.20.0.1 on eth0.200 (storage)",
			},
		},
		{
			name: "nothing to do",
			host: host{
				links:  []netlink.Link{nic("eth0", 2, 9216, mac0, true), vlan("eth0.200", 3, 2, 200, 9000, "racklift:storage", true)},
				addrs:  map[string][]netip.Prefix{"eth0.200": addr("10.20.0.11/22")},
				routes: map[string][]Route{"eth0.200": {route}},
			},
			desired: storage("eth0", mac0),
		},
		{
			name: "drift on our link: MTU, down, prefix length, an extra address, the route",
			host: host{
				links: []netlink.Link{nic("eth0", 2, 9000, mac0, true), vlan("eth0.200", 3, 2, 200, 1500, "racklift:storage", false)},
				addrs: map[string][]netip.Prefix{"eth0.200": addr("10.20.0.11/24", "10.20.0.99/22")},
			},
			desired: storage("eth0", mac0),
			want: []string{
				"- address 10.20.0.11/24 on eth0.200 (storage) [prefix length differs from the inventory's 10.20.0.11/22]",
				"- address 10.20.0.99/22 on eth0.200 (storage) [not in the inventory]",
				"~ mtu eth0.200 (storage): 1500 → 9000",
				"~ up eth0.200 (storage): down → up",
				"+ address 10.20.0.11/22 on eth0.200 (storage)",
				"+ route 10.21.0.0/16 via 10.20.0.1 on eth0.200 (storage)",
			},
		},
		{
			name: "someone else's link: used as is, its extra address kept",
			host: host{
				links:  []netlink.Link{nic("eth0", 2, 9000, mac0, true), vlan("eth0.200", 3, 2, 200, 9000, "", true)},
				addrs:  map[string][]netip.Prefix{"eth0.200": addr("10.20.0.11/22", "10.20.0.99/22")},
				routes: map[string][]Route{"eth0.200": {route}},
			},
			desired: storage("eth0", mac0),
			kept:    "eth0.200 has 10.20.0.99/22, which racklift did not add: kept",
		},
		{
			name: "someone else's address elsewhere: refused",
			host: host{
				links: []netlink.Link{nic("eth0", 2, 9000, mac0, true), nic("eth1", 4, 1500, "3c:ec:ef:00:00:02", true)},
				addrs: map[string][]netip.Prefix{"eth1": addr("10.20.0.11/22")},
			},
			desired: storage("eth0", mac0),
			refused: "address 10.20.0.11/22 for network storage on eth0.200 is already in use on eth1 (as 10.20.0.11/22)",
		},
		{
			name: "our address elsewhere: moved",
			host: host{
				links:  []netlink.Link{nic("eth0", 2, 9000, mac0, true), nic("eth1", 4, 1500, "3c:ec:ef:00:00:02", true)},
				addrs:  map[string][]netip.Prefix{"eth1": addr("10.20.0.11/22")},
				routes: map[string][]Route{},
			},
			state:   &State{Links: map[string]LinkRecord{}, MTU: map[string]int{}, Addrs: []AddrRecord{{Link: "eth1", Prefix: netip.MustParsePrefix("10.20.0.11/22"), Network: "storage"}}},
			desired: storage("eth0", mac0),
			want: []string{
				"- address 10.20.0.11/22 on eth1 [moving to eth0.200]",
				"+ link eth0.200 (storage): VLAN 200 on eth0, mtu 9000",
				"+ address 10.20.0.11/22 on eth0.200 (storage)",
				"+ route 10.21.0.0/16 via 10.20.0.1 on eth0.200 (storage)",
			},
		},
		{
			name:    "the NIC is missing",
			host:    host{links: []netlink.Link{nic("lo", 1, 65536, "", true), nic("eth1", 4, 1500, "3c:ec:ef:00:00:02", true)}},
			desired: storage("eth0", mac0),
			refused: "NIC eth0 (MAC 3c:ec:ef:00:00:01) is not on this host (present: eth1)",
		},
		{
			name: "the NIC found by MAC under another name",
			host: host{links: []netlink.Link{nic("ens1f0", 2, 9000, mac0, true)}},
			desired: Desired{Links: []Link{
				{Name: "eth0", Kind: KindNIC, MAC: mac0, MTU: 9000, MinMTU: true},
				{Name: "eth0.200", Kind: "vlan", Parent: "eth0", VLAN: 200, MTU: 9000, Network: "storage"},
			}},
			want: []string{"+ link ens1f0.200 (storage): VLAN 200 on ens1f0, mtu 9000"},
		},
		{
			name:    "a link of another kind in the way: refused without --adopt",
			host:    host{links: []netlink.Link{nic("eth0", 2, 9000, mac0, true), vlan("eth0.200", 3, 2, 300, 9000, "", true)}},
			desired: storage("eth0", mac0),
			refused: "eth0.200 exists as a vlan (VLAN 300 on eth0), but network storage needs VLAN 200 on eth0 there; racklift did not create it: remove it, or run with --adopt",
		},
		{
			name:  "a link of another kind in the way: replaced with --adopt",
			host:  host{links: []netlink.Link{nic("eth0", 2, 9000, mac0, true), vlan("eth0.200", 3, 2, 300, 9000, "", true)}},
			adopt: true,
			desired: Desired{Links: []Link{
				{Name: "eth0", Kind: KindNIC, MTU: 9000, MinMTU: true},
				{Name: "eth0.200", Kind: "vlan", Parent: "eth0", VLAN: 200, MTU: 9000, Network: "storage"},
			}},
			want: []string{
				"- link eth0.200 (storage) [replaced: it is a vlan (VLAN 300 on eth0), want VLAN 200 on eth0]",
				"+ link eth0.200 (storage): VLAN 200 on eth0, mtu 9000",
			},
		},
		{
			name: "racklift's stale link and the MTU it changed are undone",
			host: host{links: []netlink.Link{nic("eth0", 2, 9000, mac0, true), vlan("eth0.300", 3, 2, 300, 9000, "racklift:old", true)}},
			state: &State{Links: map[string]LinkRecord{"eth0.300": {Network: "old", Kind: "vlan"}},
				MTU: map[string]int{"eth0": 1500}},
			desired: Desired{},
			want: []string{
				"- link eth0.300 (old) [created by racklift, no longer in the inventory]",
				"~ mtu eth0: 9000 → 1500 [restoring the MTU racklift found]",
			},
		},
		{
			name:    "a NIC above a MinMTU is left alone, below it is raised",
			host:    host{links: []netlink.Link{nic("eth0", 2, 9216, mac0, true), nic("eth1", 4, 1500, "3c:ec:ef:00:00:02", true)}},
			desired: Desired{Links: []Link{{Name: "eth0", Kind: KindNIC, MTU: 9000, MinMTU: true}, {Name: "eth1", Kind: KindNIC, MTU: 1500}}},
		},
		{
			name:    "an exact NIC MTU is set down too",
			host:    host{links: []netlink.Link{nic("eth0", 2, 9216, mac0, true)}},
			desired: Desired{Links: []Link{{Name: "eth0", Kind: KindNIC, MTU: 9000}}},
			want:    []string{"~ mtu eth0: 9216 → 9000"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.state
			if st == nil {
				st = newState()
			}
			p, err := Options{Kind: VLAN{}, Adopt: tc.adopt}.diff(tc.desired, tc.host.observed(), st)
			if tc.refused != "" {
				var re *RefusedError
				if !errors.As(err, &re) || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("diff = %v; want a refusal containing %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range p.Changes {
				got = append(got, c.String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("changes:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			if p.Empty() != (len(tc.want) == 0) {
				t.Errorf("Empty() = %v with %d changes", p.Empty(), len(p.Changes))
			}
			if tc.kept != "" && !strings.Contains(strings.Join(p.Kept, "\n"), tc.kept) {
				t.Errorf("kept %q; want a line containing %q", p.Kept, tc.kept)
			}
		})
	}
}
