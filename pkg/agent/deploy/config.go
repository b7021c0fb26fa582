package deploy

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/netsetup"
)

// File is one file written onto the installed root: the node's own configuration, and
// what the identity hand-off gives (identity.Bundle.Files: certificate, key, CA pin).
type File = identity.File

// NetworkDir is where systemd-networkd reads its configuration on the installed system.
const NetworkDir = "/etc/systemd/network"

var (
	hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	ifnameRE   = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,14}$`)
)

// Roles the installed system leaves alone: they belong to the BMC.
var bmcRoles = map[string]bool{"bmc": true, "oob": true}

// NodeConfig renders the node's own configuration for the installed system: hostname,
// /etc/hosts, and a systemd-networkd .network (and .netdev for each VLAN) for every
// network the node carries, matched by MAC when the inventory gives one (interface names
// in the installed system need not be the ramdisk's). The provisioning network without a
// static address takes DHCP, and a last-resort file gives any other Ethernet NIC DHCP, so
// the installed agent can always reach serve. Bad network data is refused, naming the
// network.
func NodeConfig(hostname string, nets []expect.Network) ([]File, error) {
	if hostname == "" || len(hostname) > 253 || !hostnameRE.MatchString(hostname) {
		return nil, fmt.Errorf("hostname %q: not a valid host name", hostname)
	}
	short, _, _ := strings.Cut(hostname, ".")
	files := []File{
		{Path: "/etc/hostname", Mode: 0o644, Data: []byte(hostname + "\n")},
		{Path: "/etc/hosts", Mode: 0o644, Data: fmt.Appendf(nil,
			"127.0.0.1\tlocalhost\n127.0.1.1\t%s %s\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
			hostname, short)},
	}

	type nic struct {
		name, mac string
		mtu       int
		dhcp      bool
		addrs     []string
		gateway   string
		vlans     []string
		networks  []string
	}
	var order []string
	nics := map[string]*nic{}
	var children []File
	gatewaySet := false
	anyDHCP := false
	for _, nw := range nets {
		if bmcRoles[nw.Role] {
			continue
		}
		if nw.Role == "provisioning" && nw.Address == "" {
			anyDHCP = true
		}
	}
	for _, nw := range nets {
		if bmcRoles[nw.Role] {
			continue
		}
		if !ifnameRE.MatchString(nw.Interface) {
			return nil, fmt.Errorf("network %s: interface %q is not a valid interface name", nw.Name, nw.Interface)
		}
		if nw.MAC != "" {
			if _, err := net.ParseMAC(nw.MAC); err != nil {
				return nil, fmt.Errorf("network %s on %s: MAC %q: %v", nw.Name, nw.Interface, nw.MAC, err)
			}
		}
		if nw.VLAN < 0 || nw.VLAN > 4094 {
			return nil, fmt.Errorf("network %s on %s: VLAN %d is not 0-4094", nw.Name, nw.Interface, nw.VLAN)
		}
		if nw.MTU < 0 || nw.MTU > 65535 || (nw.MTU > 0 && nw.MTU < 576) {
			return nil, fmt.Errorf("network %s on %s: MTU %d is not 576-65535", nw.Name, nw.Interface, nw.MTU)
		}
		if nw.Address != "" {
			if _, err := netip.ParsePrefix(nw.Address); err != nil {
				return nil, fmt.Errorf("network %s on %s: address %q: %v", nw.Name, nw.Interface, nw.Address, err)
			}
		}
		if nw.Gateway != "" {
			if _, err := netip.ParseAddr(nw.Gateway); err != nil {
				return nil, fmt.Errorf("network %s on %s: gateway %q: %v", nw.Name, nw.Interface, nw.Gateway, err)
			}
		}
		n := nics[nw.Interface]
		if n == nil {
			n = &nic{name: nw.Interface}
			nics[nw.Interface] = n
			order = append(order, nw.Interface)
		}
		if n.mac == "" {
			n.mac = strings.ToLower(nw.MAC)
		}
		n.mtu = max(n.mtu, nw.MTU) // the parent carries the largest frame of its VLANs
		// One default route: the first static gateway, and only without a DHCP network
		// (whose lease brings the router).
		gw := ""
		if nw.Gateway != "" && !gatewaySet && !anyDHCP {
			gw, gatewaySet = nw.Gateway, true
		}
		if nw.VLAN == 0 {
			n.networks = append(n.networks, nw.Name)
			if nw.Address != "" {
				n.addrs = append(n.addrs, nw.Address)
			} else if nw.Role == "provisioning" {
				n.dhcp = true
			}
			if gw != "" {
				n.gateway = gw
			}
			continue
		}
		child := netsetup.VLAN{}.ChildName(nw.Interface, nw.VLAN)
		n.vlans = append(n.vlans, child)
		var nd strings.Builder
		fmt.Fprintf(&nd, "# racklift: network %s, VLAN %d on %s\n[NetDev]\nName=%s\nKind=vlan\n", nw.Name, nw.VLAN, nw.Interface, child)
		if nw.MTU > 0 {
			fmt.Fprintf(&nd, "MTUBytes=%d\n", nw.MTU)
		}
		fmt.Fprintf(&nd, "\n[VLAN]\nId=%d\n", nw.VLAN)
		var nf strings.Builder
		fmt.Fprintf(&nf, "# racklift: network %s\n[Match]\nName=%s\n", nw.Name, child)
		if nw.MTU > 0 {
			fmt.Fprintf(&nf, "\n[Link]\nMTUBytes=%d\n", nw.MTU)
		}
		nf.WriteString("\n[Network]\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
		if nw.Address != "" {
			fmt.Fprintf(&nf, "Address=%s\n", nw.Address)
		}
		if gw != "" {
			fmt.Fprintf(&nf, "Gateway=%s\n", gw)
		}
		children = append(children,
			File{Path: path.Join(NetworkDir, "10-racklift-"+child+".netdev"), Mode: 0o644, Data: []byte(nd.String())},
			File{Path: path.Join(NetworkDir, "10-racklift-"+child+".network"), Mode: 0o644, Data: []byte(nf.String())})
	}
	for _, name := range order {
		n := nics[name]
		var b strings.Builder
		fmt.Fprintf(&b, "# racklift: NIC %s", n.name)
		if len(n.networks) > 0 {
			fmt.Fprintf(&b, ", network %s", strings.Join(n.networks, ", "))
		}
		// Type=ether: a VLAN child shares its parent's MAC and must not match here.
		b.WriteString("\n[Match]\n")
		if n.mac != "" {
			fmt.Fprintf(&b, "MACAddress=%s\nType=ether\n", n.mac)
		} else {
			fmt.Fprintf(&b, "Name=%s\nType=ether\n", n.name)
		}
		if n.mtu > 0 {
			fmt.Fprintf(&b, "\n[Link]\nMTUBytes=%d\n", n.mtu)
		}
		b.WriteString("\n[Network]\n")
		if n.dhcp {
			b.WriteString("DHCP=ipv4\n")
		} else {
			b.WriteString("LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
		}
		for _, a := range n.addrs {
			fmt.Fprintf(&b, "Address=%s\n", a)
		}
		if n.gateway != "" {
			fmt.Fprintf(&b, "Gateway=%s\n", n.gateway)
		}
		slices.Sort(n.vlans)
		for _, v := range n.vlans {
			fmt.Fprintf(&b, "VLAN=%s\n", v)
		}
		files = append(files, File{Path: path.Join(NetworkDir, "10-racklift-"+n.name+".network"), Mode: 0o644, Data: []byte(b.String())})
	}
	files = append(files, children...)
	files = append(files, File{Path: path.Join(NetworkDir, "99-racklift-dhcp.network"), Mode: 0o644, Data: []byte(
		"# racklift: any other Ethernet NIC takes DHCP, so the installed agent can reach serve.\n" +
			"[Match]\nType=ether\n\n[Network]\nDHCP=ipv4\n")})
	return files, nil
}
