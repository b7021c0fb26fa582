package rack

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/switchcfg"
)

// SwitchKnobs break what one node's storage port (its second NIC) says over LLDP, to
// see the node's report fail the way a real rack's would.
type SwitchKnobs struct {
	// Miscable makes the port say it is the next node's storage port, as if the two
	// cables were swapped.
	Miscable bool
	// DropVLAN is a VLAN left out of the port's advertisement (a port nobody trunked).
	DropVLAN int
	// MaxFrameSize is the frame size the port advertises (0: the inventory's MTU + 18).
	MaxFrameSize int
}

// ParseSwitchKnobs reads "NODE:KNOB[,KNOB]" with knobs miscable, drop-vlan=N and
// frame-size=N (racklift-lab --switch).
func ParseSwitchKnobs(specs []string) (map[string]SwitchKnobs, error) {
	out := map[string]SwitchKnobs{}
	for _, s := range specs {
		node, knobs, ok := strings.Cut(s, ":")
		if !ok || node == "" {
			return nil, fmt.Errorf("switch knob %q: write NODE:miscable, NODE:drop-vlan=200 or NODE:frame-size=1518", s)
		}
		k := out[node]
		for _, knob := range strings.Split(knobs, ",") {
			name, val, _ := strings.Cut(knob, "=")
			var n int
			if val != "" {
				if _, err := fmt.Sscan(val, &n); err != nil || n <= 0 {
					return nil, fmt.Errorf("switch knob %q: %q is not a positive number", s, val)
				}
			}
			switch {
			case name == "miscable" && val == "":
				k.Miscable = true
			case name == "drop-vlan" && n > 0:
				k.DropVLAN = n
			case name == "frame-size" && n > 0:
				k.MaxFrameSize = n
			default:
				return nil, fmt.Errorf("switch knob %q: unknown knob %q (miscable, drop-vlan=N, frame-size=N)", s, knob)
			}
		}
		out[node] = k
	}
	return out, nil
}

// lldpPorts is what each guest NIC's switch port says: the port the inventory cables it
// to (switchcfg, the same port the export configures), with the node's knobs applied
// to its storage NIC. NICs the inventory does not cable get no LLDP.
func lldpPorts(inv *inventory.Inventory, nodes []*node, knobs map[string]SwitchKnobs) (map[string]lldpd.Port, error) {
	type cabled struct {
		tap  string
		port switchcfg.Port
	}
	var storage []cabled // in node order, for Miscable's "next node"
	byTap := map[string]switchcfg.Port{}
	for _, n := range nodes {
		in := inv.Node(n.Name)
		if in == nil {
			continue // an Extra machine, not in the inventory yet
		}
		for k, mac := range n.MACs() {
			if k >= len(n.taps) {
				break
			}
			_, ifc := inv.NodeByMAC(mustMAC(mac))
			if ifc == nil {
				continue
			}
			p, ok := switchcfg.ForInterface(inv, in, ifc)
			if !ok {
				continue
			}
			byTap[n.taps[k]] = p
			if k == 1 {
				storage = append(storage, cabled{n.taps[k], p})
			}
		}
	}
	for name := range knobs {
		if inv.Node(name) == nil {
			return nil, fmt.Errorf("rack: switch knobs for %s, which is not in the inventory", name)
		}
	}
	out := map[string]lldpd.Port{}
	for tap, p := range byTap {
		out[tap] = portOf(inv, tap, p)
	}
	for i, s := range storage {
		k, ok := knobs[s.port.Node]
		if !ok {
			continue
		}
		lp := out[s.tap]
		if k.Miscable {
			if len(storage) < 2 {
				return nil, fmt.Errorf("rack: %s cannot be miscabled: no other cabled storage NIC to swap with", s.port.Node)
			}
			other := storage[(i+1)%len(storage)].port
			lp.System, lp.PortID, lp.Description = other.Switch, other.Name, other.Description
		}
		if k.DropVLAN > 0 {
			kept := lp.VLANs[:0:0]
			for _, v := range lp.VLANs {
				if v.ID != k.DropVLAN {
					kept = append(kept, v)
				}
			}
			lp.VLANs = kept
		}
		if k.MaxFrameSize > 0 {
			lp.MaxFrameSize = k.MaxFrameSize
		}
		out[s.tap] = lp
	}
	return out, nil
}

// portOf is a healthy switch port's LLDP: what the inventory wants, VLAN 1 untagged
// where no network is (a switch's default VLAN).
func portOf(inv *inventory.Inventory, tap string, p switchcfg.Port) lldpd.Port {
	lp := lldpd.Port{Interface: tap, System: p.Switch, PortID: p.Name, Description: p.Description,
		PVID: p.Untagged, MaxFrameSize: p.NetworkMTU + 18}
	if lp.PVID == 0 {
		lp.PVID = 1
	}
	for _, id := range p.VLANs() {
		name := ""
		if nw := switchcfg.NetworkOf(inv, p, id); nw != nil {
			name = nw.Name
		}
		lp.VLANs = append(lp.VLANs, lldpd.VLAN{ID: id, Name: name})
	}
	return lp
}

// LLDPDir is where the rack's lldpds keep their control sockets: outside the rack's Dir,
// which may sit under a 0700 directory lldpd's _lldpd user cannot pass. Close and Down
// remove it.
func LLDPDir(netnsName string) string {
	return filepath.Join(os.TempDir(), "racklift-lldpd-"+netnsName)
}

// startLLDP runs one lldpd per cabled guest NIC, on its tap inside the namespace.
func (r *Rack) startLLDP(inv *inventory.Inventory) error {
	ports, err := lldpPorts(inv, r.nodes, r.cfg.Switch)
	if err != nil {
		return err
	}
	if len(ports) == 0 {
		return nil
	}
	dir := LLDPDir(r.cfg.NetNS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rack: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("rack: %w", err)
	}
	for _, n := range r.nodes {
		for _, tap := range n.taps {
			p, ok := ports[tap]
			if !ok {
				continue
			}
			d, err := lldpd.StartIn(dir, r.cfg.NetNS, p)
			if err != nil {
				return fmt.Errorf("rack: node %s: %w", n.Name, err)
			}
			r.lldpds = append(r.lldpds, d)
			r.pids.add(d.PID(), "lldpd", n.Name)
		}
	}
	return nil
}

// stopLLDP ends every lldpd the rack started.
func (r *Rack) stopLLDP() []error {
	var errs []error
	for _, d := range r.lldpds {
		if err := d.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	r.lldpds = nil
	os.RemoveAll(LLDPDir(r.cfg.NetNS))
	return errs
}

// mustMAC parses a MAC the rack already checked (nodes.go); nil finds nothing.
func mustMAC(s string) net.HardwareAddr {
	hw, _ := net.ParseMAC(s)
	return hw
}
