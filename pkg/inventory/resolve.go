package inventory

import (
	"maps"
	"net"
	"net/netip"
	"strings"

	"github.com/racklift/racklift/pkg/expect"
)

// Default values applied when the inventory leaves a field out.
const (
	DefaultMTU       = 1500
	DefaultRackUnits = 42
	DefaultRole      = "compute"
)

// DefaultPort is the BMC port for a protocol.
func DefaultPort(protocol string) int {
	if protocol == "ipmi" {
		return 623
	}
	return 443
}

// build indexes the decoded files, applies defaults site → rack → node and validates.
func (inv *Inventory) build(site *siteFile, racks []*Rack, errs *Errors) {
	inv.site = site
	inv.Site = site.Site
	inv.TLS = site.TLS
	inv.Networks = site.Networks
	inv.Profiles = site.Profiles
	inv.Credentials = site.Credentials
	inv.Racks = racks
	inv.nodeByName = make(map[string]*Node)
	inv.nodeByMAC = make(map[string]owner)
	inv.networkByName = make(map[string]*Network)
	inv.profileByName = make(map[string]*Profile)
	inv.credByName = make(map[string]*Credential)
	if site.Site == "" {
		errs.add(site.src.Pos(), "add 'site: <name>' at the top of the site file", "site name is missing")
	}
	for _, n := range inv.Networks {
		if n.MTU == 0 {
			n.MTU = DefaultMTU
		}
		if p, err := netip.ParsePrefix(n.CIDR); err == nil {
			n.Prefix = p.Masked()
		}
		if _, dup := inv.networkByName[n.Name]; !dup && n.Name != "" {
			inv.networkByName[n.Name] = n
		}
	}
	for _, p := range inv.Profiles {
		if _, dup := inv.profileByName[p.Name]; !dup && p.Name != "" {
			inv.profileByName[p.Name] = p
		}
	}
	for _, c := range inv.Credentials {
		if _, dup := inv.credByName[c.Name]; !dup && c.Name != "" {
			inv.credByName[c.Name] = c
		}
	}
	for _, r := range racks {
		if r == nil {
			continue
		}
		if r.Units == 0 {
			r.Units = DefaultRackUnits
		}
		for _, n := range r.Nodes {
			if n == nil {
				continue
			}
			n.Rack = r.Name
			inheritDefaults(n, &site.Defaults, &r.Defaults)
			for _, ifc := range n.Interfaces {
				if ifc == nil {
					continue
				}
				ifc.HW, _ = net.ParseMAC(ifc.MAC)
				if len(ifc.HW) > 0 {
					if _, dup := inv.nodeByMAC[string(ifc.HW)]; !dup {
						inv.nodeByMAC[string(ifc.HW)] = owner{n, ifc}
					}
				}
				if ifc.Address != "" {
					ifc.Addr, _ = netip.ParseAddr(ifc.Address)
				}
			}
			if p := inv.profileByName[n.Profile]; p != nil {
				n.Spec = p.withOverrides(n.Overrides)
			}
			inv.Nodes = append(inv.Nodes, n)
			if _, dup := inv.nodeByName[n.Name]; !dup {
				inv.nodeByName[n.Name] = n
			}
		}
	}
	inv.buildSwitches(site, racks)
	inv.validate(errs)
}

// inheritDefaults fills what the node leaves out from its rack, then the site.
func inheritDefaults(n *Node, site, rack *Defaults) {
	for _, d := range []*Defaults{rack, site} {
		if n.Role == "" {
			n.Role = d.Role
		}
		if n.Profile == "" {
			n.Profile = d.Profile
		}
		if d.Protected != nil && !n.Protected && *d.Protected {
			n.Protected = true
		}
		if d.BMC != nil {
			mergeBMC(&n.BMC, d.BMC)
		}
	}
	if n.Role == "" {
		n.Role = DefaultRole
	}
	labels := map[string]string{}
	maps.Copy(labels, site.Labels)
	maps.Copy(labels, rack.Labels)
	maps.Copy(labels, n.Labels)
	n.Labels = labels
	if n.Height == 0 {
		n.Height = 1
	}
	if n.BMC.Protocol == "" {
		n.BMC.Protocol = "redfish"
	}
	n.BMC.Protocol = strings.ToLower(n.BMC.Protocol)
	if n.BMC.Port == 0 {
		n.BMC.Port = DefaultPort(n.BMC.Protocol)
	}
}

func mergeBMC(dst, src *BMC) {
	if dst.Address == "" {
		dst.Address = src.Address
	}
	if dst.Protocol == "" {
		dst.Protocol = src.Protocol
	}
	if dst.Port == 0 {
		dst.Port = src.Port
	}
	if dst.Credentials == "" {
		dst.Credentials = src.Credentials
	}
	if dst.Vendor == "" {
		dst.Vendor = src.Vendor
	}
	if dst.TLS == nil && src.TLS != nil {
		t := *src.TLS
		dst.TLS = &t
	}
}

// withOverrides returns a copy of p with a node's overrides applied; a zero override
// field keeps the profile's value.
func (p *Profile) withOverrides(o *Overrides) *Profile {
	c := *p
	if o == nil {
		return &c
	}
	if b := o.Boot; b != nil {
		set(&c.Boot.Kernel, b.Kernel)
		set(&c.Boot.Initrd, b.Initrd)
		set(&c.Boot.Cmdline, b.Cmdline)
		set(&c.Boot.Install, b.Install)
		set(&c.Boot.UEFIBinary, b.UEFIBinary)
	}
	if e := o.Expect; e != nil {
		if e.GPU != nil {
			g := expect.GPU{}
			if c.Expect.GPU != nil {
				g = *c.Expect.GPU
			}
			set(&g.Model, e.GPU.Model)
			set(&g.MinDriver, e.GPU.MinDriver)
			set(&g.CUDA, e.GPU.CUDA)
			if e.GPU.Count != 0 {
				g.Count = e.GPU.Count
			}
			if e.GPU.XIDIgnore != nil {
				g.XIDIgnore = e.GPU.XIDIgnore
			}
			c.Expect.GPU = &g
		}
		if e.Storage != nil {
			c.Expect.Storage = e.Storage
		}
		if e.Networks != nil {
			c.Expect.Networks = e.Networks
		}
		if e.Peers != nil {
			c.Expect.Peers = e.Peers
		}
	}
	return &c
}

func set(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// Lookups by name; nil when absent.
func (inv *Inventory) Node(name string) *Node            { return inv.nodeByName[name] }
func (inv *Inventory) Network(name string) *Network      { return inv.networkByName[name] }
func (inv *Inventory) ProfileNamed(name string) *Profile { return inv.profileByName[name] }
func (inv *Inventory) Credential(name string) *Credential {
	return inv.credByName[name]
}

// NodeByMAC finds the node owning a MAC address on any interface, in constant time.
func (inv *Inventory) NodeByMAC(mac net.HardwareAddr) (*Node, *Interface) {
	o, ok := inv.nodeByMAC[string(mac)]
	if !ok {
		return nil, nil
	}
	return o.node, o.ifc
}

// PXEInterface is the interface the node network-boots from, nil when none is marked.
func (n *Node) PXEInterface() *Interface {
	for _, ifc := range n.Interfaces {
		if ifc != nil && ifc.PXE {
			return ifc
		}
	}
	return nil
}
