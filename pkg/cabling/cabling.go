// Package cabling compares what a node's interfaces heard over LLDP with the inventory's
// cabling and says what is wrong in the inventory's words: the switch and port a NIC is
// really cabled to against the one the inventory names (file:line), a VLAN a network
// needs that the port does not carry, a frame size below a network's MTU, and silence.
// serve runs it on every agent report; `provision net apply` on the host's trunk.
package cabling

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/sanitize"
	"github.com/racklift/racklift/pkg/switchcfg"
)

// Check judges the LLDP of one node's report against its interfaces' cabling: one
// result per interface and aspect (lldp.IF.cabling, lldp.IF.vlans, lldp.IF.frame_size).
// An interface the inventory does not cable gets what LLDP saw as a suggestion.
func Check(inv *inventory.Inventory, node string, heard []check.LLDP) []check.Result {
	n := inv.Node(node)
	if n == nil || len(heard) == 0 {
		return nil
	}
	var out []check.Result
	for _, l := range heard {
		l = Clean(l)
		ifc := interfaceOf(n, l)
		if ifc == nil {
			continue // the agent listened on an interface the inventory does not know
		}
		if p, ok := switchcfg.ForInterface(inv, n, ifc); ok {
			out = append(out, Port(inv, p, l)...)
			continue
		}
		out = append(out, suggest(inv, ifc, l))
	}
	return out
}

// Uplink judges what the provisioning host's trunk heard against the inventory's uplink.
func Uplink(inv *inventory.Inventory, l check.LLDP) []check.Result {
	p, ok := switchcfg.Uplink(inv)
	if !ok {
		return nil
	}
	return Port(inv, p, Clean(l))
}

func interfaceOf(n *inventory.Node, l check.LLDP) *inventory.Interface {
	for _, ifc := range n.Interfaces {
		if ifc != nil && ifc.Name == l.Interface {
			return ifc
		}
	}
	for _, ifc := range n.Interfaces {
		if ifc != nil && l.MAC != "" && strings.EqualFold(ifc.HW.String(), l.MAC) {
			return ifc
		}
	}
	return nil
}

// Port judges one interface's LLDP against the port the inventory cables it to.
func Port(inv *inventory.Inventory, p switchcfg.Port, l check.LLDP) []check.Result {
	name := "lldp." + l.Interface
	where := fmt.Sprintf("%s %s", p.Switch, p.Name)
	nic := l.Interface
	if l.MAC != "" {
		nic += " (" + l.MAC + ")"
	}
	cab := check.Result{Name: name + ".cabling", Expected: where}
	switch {
	case l.Error != "":
		cab.Status, cab.Observed = check.Fail, "error"
		cab.Message = fmt.Sprintf("%s: listening for LLDP failed: %s", l.Interface, l.Error)
		return []check.Result{cab}
	case !l.Heard:
		cab.Status, cab.Observed = check.Warn, "no LLDP"
		cab.Message = fmt.Sprintf("no LLDP on %s within %d s: the switch does not send LLDP on this port, or the link is down", l.Interface, l.WaitSeconds)
		return []check.Result{cab}
	}
	seen := fmt.Sprintf("%s %s", l.Switch(), l.Port())
	cab.Observed = seen
	if !p.Matches(l) {
		cab.Status = check.Fail
		cab.Message = fmt.Sprintf("%s is cabled to %s, the inventory says %s (%s)", nic, seen, where, At(inv, p.Pos))
		// Against the wrong port, the VLAN and MTU checks would only add noise.
		return []check.Result{cab}
	}
	cab.Status = check.Pass
	out := []check.Result{cab, vlans(inv, p, l, name, where), frame(inv, p, l, name, where)}
	return slices.DeleteFunc(out, func(r check.Result) bool { return r.Name == "" })
}

// vlans checks that the port carries every VLAN of its networks, the untagged one untagged.
func vlans(inv *inventory.Inventory, p switchcfg.Port, l check.LLDP, name, where string) check.Result {
	want := p.VLANs()
	if len(want) == 0 {
		return check.Result{}
	}
	r := check.Result{Name: name + ".vlans", Status: check.Pass, Observed: l.VLANText(), Expected: vlanWords(p)}
	have := l.VLANIDs()
	if len(have) == 0 {
		r.Status = check.Warn
		r.Message = fmt.Sprintf("%s advertises no VLANs (no 802.1 VLAN TLVs): the VLANs %s cannot be checked from LLDP", where, r.Expected)
		return r
	}
	var missing []string
	for _, id := range want {
		if slices.Contains(have, id) {
			continue
		}
		nw := switchcfg.NetworkOf(inv, p, id)
		missing = append(missing, fmt.Sprintf("%s advertises VLANs %s but not %d, which network %s needs (%s)", where, l.VLANText(), id, nw.Name, At(inv, nw.PosOf("vlan"))))
	}
	if u := p.Untagged; u > 0 && slices.Contains(have, u) && l.PVID != 0 && l.PVID != u {
		nw := switchcfg.NetworkOf(inv, p, u)
		missing = append(missing, fmt.Sprintf("%s sends VLAN %d untagged, network %s needs VLAN %d untagged (%s)", where, l.PVID, nw.Name, u, At(inv, nw.PosOf("vlan"))))
	}
	if len(missing) > 0 {
		r.Status = check.Fail
		r.Message = strings.Join(missing, "; ")
	}
	return r
}

// frame checks the advertised maximum frame size against the largest network MTU.
func frame(inv *inventory.Inventory, p switchcfg.Port, l check.LLDP, name, where string) check.Result {
	if l.MaxFrameSize == 0 || p.NetworkMTU == 0 {
		return check.Result{}
	}
	r := check.Result{Name: name + ".frame_size", Status: check.Pass, Observed: fmt.Sprint(l.MaxFrameSize), Expected: fmt.Sprintf("at least %d", p.RequiredFrameSize())}
	if l.MaxFrameSize < p.RequiredFrameSize() {
		nw := largest(inv, p)
		r.Status = check.Fail
		r.Message = fmt.Sprintf("%s allows frames up to %d bytes; network %s wants MTU %d (%s)", where, l.MaxFrameSize, nw.Name, nw.MTU, At(inv, nw.PosOf("mtu")))
	}
	return r
}

func largest(inv *inventory.Inventory, p switchcfg.Port) *inventory.Network {
	var best *inventory.Network
	for _, name := range p.Networks {
		if nw := inv.Network(name); nw != nil && (best == nil || nw.MTU > best.MTU) {
			best = nw
		}
	}
	return best
}

// suggest is what an uncabled interface heard, written as the inventory line to paste.
func suggest(inv *inventory.Inventory, ifc *inventory.Interface, l check.LLDP) check.Result {
	r := check.Result{Name: "lldp." + l.Interface + ".cabling", Status: check.Pass, Expected: "not in the inventory"}
	if !l.Heard {
		r.Observed = "no LLDP"
		r.Message = fmt.Sprintf("no LLDP on %s within %d s, and the inventory does not say where it is cabled", l.Interface, l.WaitSeconds)
		return r
	}
	r.Observed = l.Switch() + " " + l.Port()
	r.Message = fmt.Sprintf("%s is cabled to %s; add 'switch: %s, port: %s' to interface %s (%s)", l.Interface, r.Observed, l.Switch(), l.Port(), ifc.Name, At(inv, ifc.Pos()))
	return r
}

func vlanWords(p switchcfg.Port) string {
	var w []string
	for _, id := range p.VLANs() {
		s := fmt.Sprint(id)
		if id == p.Untagged {
			s += " (untagged)"
		}
		w = append(w, s)
	}
	return strings.Join(w, ", ")
}

// At is a position as the messages give it: file:line, the file relative to the
// inventory directory.
func At(inv *inventory.Inventory, pos inventory.Pos) string {
	file := pos.File
	if rel, err := filepath.Rel(inv.Path, file); err == nil && !strings.HasPrefix(rel, "..") && rel != "." {
		file = rel
	}
	if pos.Line == 0 {
		return file
	}
	return fmt.Sprintf("%s:%d", file, pos.Line)
}

// Clean bounds and escapes what a report says the switch sent: the agent does the same,
// but the server trusts no node with its terminal or its store.
func Clean(l check.LLDP) check.LLDP {
	for _, f := range []*string{&l.Interface, &l.MAC, &l.Error, &l.ChassisID, &l.ChassisIDType, &l.SystemName, &l.SystemDesc,
		&l.PortID, &l.PortIDType, &l.PortDescription, &l.MgmtAddress} {
		*f = sanitize.Text(*f, maxText)
	}
	if len(l.VLANs) > maxVLANs {
		l.VLANs = l.VLANs[:maxVLANs]
	}
	l.VLANs = slices.Clone(l.VLANs)
	for i := range l.VLANs {
		l.VLANs[i].Name = sanitize.Text(l.VLANs[i].Name, maxText)
	}
	return l
}

// Bounds on what a report's LLDP may bring into a message.
const (
	maxText  = 255
	maxVLANs = 256
)
