package netcheck

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/expect"
)

// findParent finds the NIC by MAC first (names change with firmware and slot moves), then
// by name. how says what matched when it is worth saying.
func findParent(nw expect.Network) (netlink.Link, string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, "", fmt.Errorf("list links: %w", err)
	}
	if nw.MAC != "" {
		want, err := net.ParseMAC(nw.MAC)
		if err != nil {
			return nil, "", fmt.Errorf("MAC %q is malformed: fix the inventory", nw.MAC)
		}
		for _, l := range links {
			// VLAN and macvlan children share or borrow MACs: only a real parent counts.
			if isChild(l) {
				continue
			}
			if l.Attrs().HardwareAddr.String() == want.String() {
				how := ""
				if nw.Interface != "" && l.Attrs().Name != nw.Interface {
					how = fmt.Sprintf(" (found by MAC; the inventory calls it %s)", nw.Interface)
				}
				return l, how, nil
			}
		}
	}
	if nw.Interface != "" {
		for _, l := range links {
			if l.Attrs().Name == nw.Interface {
				if nw.MAC != "" {
					return nil, "", fmt.Errorf("no NIC has MAC %s; %s exists but has MAC %s: the inventory's MAC is wrong or the NIC was swapped",
						nw.MAC, nw.Interface, l.Attrs().HardwareAddr)
				}
				return l, "", nil
			}
		}
	}
	var names []string
	for _, l := range links {
		if !isChild(l) && l.Attrs().Name != "lo" {
			names = append(names, l.Attrs().Name)
		}
	}
	sort.Strings(names)
	return nil, "", fmt.Errorf("no interface with %s: NIC missing, driver not loaded, or a wrong MAC in the inventory (present: %s)",
		strings.Join(nonEmpty("MAC "+nw.MAC, nw.MAC != "", "name "+nw.Interface, nw.Interface != ""), " or "), strings.Join(names, ", "))
}

func nonEmpty(a string, ok1 bool, b string, ok2 bool) []string {
	var out []string
	if ok1 {
		out = append(out, a)
	}
	if ok2 {
		out = append(out, b)
	}
	return out
}

func isChild(l netlink.Link) bool {
	switch l.Type() {
	case "vlan", "macvlan", "macvtap", "ipvlan":
		return true
	}
	return false
}

// hasCarrier is UP + LOWER_UP, and a readable state for messages.
func hasCarrier(l netlink.Link) (bool, string) {
	a := l.Attrs()
	up := a.RawFlags&unix.IFF_UP != 0
	lower := a.RawFlags&iffLowerUp != 0
	state := "operstate " + a.OperState.String()
	switch {
	case !up:
		return false, "administratively down"
	case !lower:
		return false, "up, NO-CARRIER, " + state
	}
	return true, "up, carrier, " + state
}

// findVLAN returns the VLAN sub-interface of parent with the id, or the ids it does have.
func findVLAN(parent netlink.Link, id int) (netlink.Link, []string) {
	links, _ := netlink.LinkList()
	var other []string
	for _, l := range links {
		v, ok := l.(*netlink.Vlan)
		if !ok || v.Attrs().ParentIndex != parent.Attrs().Index {
			continue
		}
		if v.VlanId == id {
			return v, nil
		}
		other = append(other, strconv.Itoa(v.VlanId)+" ("+v.Attrs().Name+")")
	}
	return nil, other
}

// linkWithAddr names the interface holding an address, "" when none does.
func linkWithAddr(a netip.Addr) string {
	addrs, err := netlink.AddrList(nil, familyAll)
	if err != nil {
		return ""
	}
	for _, x := range addrs {
		if ip, ok := netip.AddrFromSlice(x.IP); ok && ip.Unmap() == a {
			if l, err := netlink.LinkByIndex(x.LinkIndex); err == nil {
				return l.Attrs().Name
			}
		}
	}
	return ""
}

// hasAddr reports whether link l holds the address of cidr (any prefix length).
func hasAddr(l netlink.Link, cidr string) bool {
	want, err := netip.ParsePrefix(cidr)
	if err != nil {
		return false
	}
	addrs, _ := netlink.AddrList(l, familyAll)
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == want.Addr() {
			return true
		}
	}
	return false
}
