package inventory

import (
	"fmt"
	"slices"
	"strings"
)

// cabled is what holds one switch port: a node interface or the provisioning host's uplink.
type cabled struct {
	owner owner // zero for the uplink
	pos   Pos
}

func (c cabled) String() string {
	if c.owner.node == nil {
		return "the provisioning host's uplink"
	}
	return "interface " + c.owner.String()
}

// cabling checks the switches and every cable: known switches, a port cabled once, and a
// node interface's VLAN on the port when the inventory fixes the port's VLANs.
func (v *validator) cabling() {
	names := v.switchNames()
	for _, s := range v.inv.Switches {
		v.switchDecl(s)
	}
	taken := map[[2]string]cabled{}
	for _, n := range v.inv.Nodes {
		for _, ifc := range n.Interfaces {
			if ifc == nil || (ifc.Switch == "" && ifc.Port == "") {
				continue
			}
			o := owner{n, ifc}
			v.cable(cabled{o, ifc.PosOf("port")}, ifc.Switch, ifc.Port, ifc.src, names, taken)
			if sw := v.inv.switchByName[ifc.Switch]; sw != nil && ifc.Port != "" {
				v.portVLAN(o, sw, sw.Port(ifc.Port))
			}
		}
	}
	if u := v.inv.Uplink; u != nil {
		v.cable(cabled{pos: u.PosOf("port")}, u.Switch, u.Port, u.src, names, taken)
	}
}

func (v *validator) switchNames() []string {
	out := make([]string, 0, len(v.inv.switchByName))
	for name := range v.inv.switchByName {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func (v *validator) switchDecl(s *Switch) {
	switch first := v.inv.switchByName[s.Name]; {
	case s.Name == "":
		v.add(s.Pos(), "add 'name: <switch>' as the switch calls itself (its LLDP system name)", "switch has no name")
	case first != s:
		v.add(s.PosOf("name"), "switch names are unique across the site and its racks", "duplicate switch %q: also at %s", s.Name, first.PosOf("name"))
	case !hostnameRe.MatchString(s.Name):
		v.add(s.PosOf("name"), "letters, digits and '-', as the switch's hostname", "switch name %q is not a hostname", s.Name)
	}
	switch {
	case s.OS == "":
		v.add(s.Pos(), "add 'os:' one of "+strings.Join(SwitchOSes, ", "), "switch %q has no os", s.Name)
	case !slices.Contains(SwitchOSes, s.OS):
		v.add(s.PosOf("os"), suggest(s.OS, SwitchOSes), "unknown os %q for switch %q", s.OS, s.Name)
	}
	if s.Address != "" && !dnsNameRe.MatchString(s.Address) {
		v.add(s.PosOf("address"), "write an IP address or a DNS name", "address %q of switch %q is neither an IP address nor a DNS name", s.Address, s.Name)
	}
	ports := map[string]*SwitchPort{}
	for _, p := range s.Ports {
		if p == nil {
			continue
		}
		switch first, dup := ports[p.Name]; {
		case p.Name == "":
			v.add(p.Pos(), "add 'name: <port>' as the switch names it, e.g. Ethernet12", "a port of switch %q has no name", s.Name)
		case dup:
			v.add(p.PosOf("name"), "list each port once", "switch %q lists port %s twice (also at %s)", s.Name, p.Name, first.PosOf("name"))
		default:
			ports[p.Name] = p
		}
		for i, id := range p.VLANs {
			if id < MinVLAN || id > MaxVLAN {
				v.add(p.src.posAt("vlans", fmt.Sprint(i)), "802.1Q VLAN ids are 1-4094", "VLAN %d on %s %s is outside %d-%d", id, s.Name, p.Name, MinVLAN, MaxVLAN)
			}
		}
	}
}

// cable checks one cable's switch and port, and that no other cable holds the port.
func (v *validator) cable(c cabled, swName, port string, src source, names []string, taken map[[2]string]cabled) {
	switch {
	case swName == "":
		v.add(src.Pos(), "add 'switch: <name>' next to 'port:', naming a switch under switches:", "%s names port %q but no switch", c, port)
		return
	case port == "":
		v.add(src.At("switch"), "add 'port: <name>' as the switch names it, e.g. Ethernet12", "%s is cabled to switch %q but names no port", c, swName)
		return
	}
	if v.inv.switchByName[swName] == nil {
		hint := suggest(swName, names)
		if len(names) == 0 {
			hint = "declare it under 'switches:' in site.yaml or the rack file (name, os)"
		}
		v.add(src.At("switch"), hint, "%s is cabled to switch %q, which is not defined", c, swName)
		return
	}
	key := [2]string{swName, port}
	if first, dup := taken[key]; dup {
		v.add(c.pos, "a port takes one cable; check the cabling sheet for one of the two",
			"port %s %s is cabled twice: %s and %s (at %s)", swName, port, c, first, first.pos)
		return
	}
	taken[key] = c
}

// portVLAN reports a node interface whose network's VLAN a fixed port does not carry.
func (v *validator) portVLAN(o owner, sw *Switch, p *SwitchPort) {
	nw := v.inv.networkByName[o.ifc.Network]
	if p == nil || nw == nil || nw.VLAN == 0 || slices.Contains(p.VLANs, nw.VLAN) {
		return
	}
	v.add(o.ifc.PosOf("port"), fmt.Sprintf("add VLAN %d to the port at %s, or cable %s to a port that carries it", nw.VLAN, p.PosOf("vlans"), o.ifc.Name),
		"%s is on network %s (VLAN %d, %s) but %s %s carries VLANs %s", o, nw.Name, nw.VLAN, nw.PosOf("vlan"), sw.Name, p.Name, vlanList(p.VLANs))
}

// vlanList is "100, 300" or "none".
func vlanList(ids []int) string {
	if len(ids) == 0 {
		return "none"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}
