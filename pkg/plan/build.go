package plan

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// DefaultLease is the DHCP lease when the network does not set one.
const DefaultLease = 12 * time.Hour

// netFacts are a network's parsed values, computed once for all its nodes.
type netFacts struct {
	nw      *inventory.Network
	mode    string
	gateway netip.Addr
	dns     []netip.Addr
	server  netip.Addr
	lease   int
	base    string // http://server:port
}

// Build computes the plan of every node of a validated inventory. It fails, naming the
// node, when a node cannot be booted: no PXE interface or no server on its network.
func Build(inv *inventory.Inventory, opt Options) (*Plan, error) {
	if opt.HTTPPort == 0 {
		opt.HTTPPort = DefaultHTTPPort
	}
	facts := make(map[string]*netFacts, len(inv.Networks))
	p := &Plan{
		Site:   inv.Site,
		Nodes:  make([]*NodePlan, 0, len(inv.Nodes)),
		Host:   []HostInterface{},
		byMAC:  make(map[string]*NodePlan, len(inv.Nodes)),
		byName: make(map[string]*NodePlan, len(inv.Nodes)),
	}
	for _, nw := range inv.Networks {
		f, err := factsOf(nw, opt.HTTPPort)
		if err != nil {
			return nil, err
		}
		facts[nw.Name] = f
		if f.server.IsValid() {
			p.Host = append(p.Host, HostInterface{
				Network: nw.Name, Role: nw.Role, VLAN: nw.VLAN, MTU: nw.MTU,
				Address: netip.PrefixFrom(f.server, nw.Prefix.Bits()),
			})
		}
	}
	for _, n := range inv.Nodes {
		np, err := nodePlan(n, facts)
		if err != nil {
			return nil, err
		}
		np.Login = inv.LoginFor(n)
		p.Nodes = append(p.Nodes, np)
		p.byMAC[string(np.Reservation.MAC)] = np
		p.byName[np.Node] = np
	}
	return p, nil
}

func factsOf(nw *inventory.Network, port int) (*netFacts, error) {
	f := &netFacts{nw: nw, mode: "off", lease: int(DefaultLease / time.Second)}
	if nw.DHCP != nil {
		f.mode = nw.DHCP.Mode
		if nw.DHCP.Lease != "" {
			d, err := time.ParseDuration(nw.DHCP.Lease)
			if err != nil {
				return nil, fmt.Errorf("network %q: DHCP lease %q: %w", nw.Name, nw.DHCP.Lease, err)
			}
			f.lease = int(d / time.Second)
		}
	}
	if nw.Gateway != "" {
		f.gateway, _ = netip.ParseAddr(nw.Gateway)
	}
	for _, d := range nw.DNS {
		if a, err := netip.ParseAddr(d); err == nil {
			f.dns = append(f.dns, a)
		}
	}
	if nw.Server != "" {
		a, err := netip.ParseAddr(nw.Server)
		if err != nil {
			return nil, fmt.Errorf("network %q: server %q is not an IP address", nw.Name, nw.Server)
		}
		f.server = a.Unmap()
		f.base = "http://" + netip.AddrPortFrom(f.server, uint16(port)).String()
	}
	return f, nil
}

func nodePlan(n *inventory.Node, facts map[string]*netFacts) (*NodePlan, error) {
	ifc := n.PXEInterface()
	if ifc == nil {
		return nil, fmt.Errorf("node %q (%s) has no PXE interface: mark one with pxe: true", n.Name, n.Pos())
	}
	f := facts[ifc.Network]
	if f == nil {
		return nil, fmt.Errorf("node %q: PXE interface %s is on network %q, which is not defined", n.Name, ifc.Name, ifc.Network)
	}
	if !f.server.IsValid() {
		return nil, fmt.Errorf("node %q: network %q of PXE interface %s has no server address to boot from", n.Name, f.nw.Name, ifc.Name)
	}
	mac := ifc.HW
	if len(mac) == 0 {
		var err error
		if mac, err = net.ParseMAC(ifc.MAC); err != nil {
			return nil, fmt.Errorf("node %q: interface %s: %w", n.Name, ifc.Name, err)
		}
	}
	macStr := mac.String()
	np := &NodePlan{
		Node:        n.Name,
		Rack:        n.Rack,
		Role:        n.Role,
		Protected:   n.Protected,
		Maintenance: n.Maintenance,
		Profile:     n.Profile,
		Reservation: Reservation{
			Mode:         f.mode,
			Network:      f.nw.Name,
			Interface:    ifc.Name,
			MAC:          mac,
			MACString:    macStr,
			IP:           ifc.Addr,
			Prefix:       f.nw.Prefix,
			Gateway:      f.gateway,
			DNS:          f.dns,
			Domain:       f.nw.Domain,
			MTU:          f.nw.MTU,
			Hostname:     n.Name,
			LeaseSeconds: f.lease,
			Server:       f.server,
		},
		Boot: Boot{
			BIOSFile:  FileBIOS,
			UEFIFile:  FileUEFI,
			ARM64File: FileARM64UEFI,
			ScriptURL: f.base + "/ipxe/" + macStr,
		},
	}
	if s := n.Spec; s != nil {
		if s.Boot.UEFIBinary != "" {
			np.Boot.UEFIFile = s.Boot.UEFIBinary
		}
		np.Boot.Kernel, np.Boot.Initrd = s.Boot.Kernel, s.Boot.Initrd
		np.Boot.Cmdline, np.Boot.Install, np.Boot.RootDevice = s.Boot.Cmdline, s.Boot.Install, s.Boot.RootDevice
	}
	np.Boot.HTTPBootURL = f.base + "/pxe/" + np.Boot.UEFIFile
	return np, nil
}

// ByMAC is the plan of the node whose PXE interface has mac, nil when none.
func (p *Plan) ByMAC(mac net.HardwareAddr) *NodePlan {
	if p.byMAC != nil {
		return p.byMAC[string(mac)]
	}
	for _, np := range p.Nodes { // a plan decoded from JSON has no index
		if string(np.Reservation.MAC) == string(mac) || np.Reservation.MACString == mac.String() {
			return np
		}
	}
	return nil
}

// Node is the plan of a node by name, nil when none.
func (p *Plan) Node(name string) *NodePlan {
	if p.byName != nil {
		return p.byName[name]
	}
	for _, np := range p.Nodes {
		if np.Node == name {
			return np
		}
	}
	return nil
}

// LeaseDuration is the reservation's lease as a duration.
func (r *Reservation) LeaseDuration() time.Duration {
	return time.Duration(r.LeaseSeconds) * time.Second
}
