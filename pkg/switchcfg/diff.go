package switchcfg

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/racklift/racklift/pkg/check"
)

// Heard is one node interface's LLDP from a stored agent report.
type Heard struct {
	Node string
	LLDP check.LLDP
}

// RequiredFrameSize is the smallest maximum frame size (802.3, Ethernet header and FCS
// included) a port may advertise for its networks' MTU: MTU + 18. The VLAN tag's 4 bytes
// are left out because switches commonly advertise 1518 and still pass tagged 1500-byte
// packets; a check that failed those would cry wolf.
func (p Port) RequiredFrameSize() int { return p.NetworkMTU + 18 }

// Matches reports whether what an interface heard names this port.
func (p Port) Matches(l check.LLDP) bool {
	return l.Heard && SameSwitch(l, p.Switch) && samePort(l, p.Name)
}

// SameSwitch reports whether the LLDP names the switch: its system name, or that name's
// first DNS label (leaf-a01.example.net is leaf-a01).
func SameSwitch(l check.LLDP, name string) bool {
	sys := l.SystemName
	if strings.EqualFold(sys, name) {
		return true
	}
	first, _, _ := strings.Cut(sys, ".")
	return strings.EqualFold(first, name)
}

func samePort(l check.LLDP, name string) bool {
	return strings.EqualFold(l.PortID, name) || strings.EqualFold(l.PortDescription, name)
}

// Change is what one port needs to become what the inventory wants.
type Change struct {
	Port  Port
	Heard *Heard   // nil: no report heard this port
	Needs []string // empty: the port is as the inventory wants
	// Elsewhere is what the NIC the inventory cables here heard instead ("leaf-a02
	// Ethernet7"): the cable is in another port, so the port's settings say nothing.
	Elsewhere string
}

// Diff compares each port of c with what the nodes' LLDP reported from it: the report of
// the NIC the inventory cables to the port (by MAC, else by name), else any report that
// heard this port.
func Diff(c *Config, heard []Heard) []Change {
	out := make([]Change, 0, len(c.Ports))
	for _, p := range c.Ports {
		ch := Change{Port: p}
		if h := cabledNIC(p, heard); h != nil {
			if p.Matches(h.LLDP) {
				ch.Heard = h
			} else if h.LLDP.Heard {
				ch.Elsewhere = h.LLDP.Switch() + " " + h.LLDP.Port()
			}
		}
		if ch.Heard == nil && ch.Elsewhere == "" {
			for i := range heard {
				if p.Matches(heard[i].LLDP) {
					ch.Heard = &heard[i]
					break
				}
			}
		}
		if ch.Heard != nil {
			ch.Needs = Needs(p, ch.Heard.LLDP, c.VLANs)
		}
		out = append(out, ch)
	}
	return out
}

// cabledNIC is the report of the NIC the inventory cables to p.
func cabledNIC(p Port, heard []Heard) *Heard {
	if p.Node == "" {
		return nil
	}
	for i := range heard {
		h := &heard[i]
		if h.Node == p.Node && (p.MAC != "" && strings.EqualFold(h.LLDP.MAC, p.MAC) || h.LLDP.MAC == "" && h.LLDP.Interface == p.Interface) {
			return h
		}
	}
	return nil
}

// Needs lists what the port lacks against what it advertised: VLANs to add or take off,
// the untagged VLAN, the frame size.
func Needs(p Port, l check.LLDP, names map[int]string) []string {
	var out []string
	have := l.VLANIDs()
	name := func(id int) string {
		if n := names[id]; n != "" {
			return fmt.Sprintf("VLAN %d (%s)", id, n)
		}
		return fmt.Sprintf("VLAN %d", id)
	}
	if p.Untagged > 0 && l.PVID != p.Untagged {
		out = append(out, fmt.Sprintf("untagged %s (it sends %s untagged)", name(p.Untagged), pvid(l.PVID)))
	}
	for _, id := range p.Tagged {
		if !slices.Contains(have, id) {
			out = append(out, "add tagged "+name(id))
		}
	}
	for _, id := range have {
		if !slices.Contains(p.VLANs(), id) && id != 1 {
			out = append(out, fmt.Sprintf("remove VLAN %d (no network of this port uses it)", id))
		}
	}
	if want := p.RequiredFrameSize(); l.MaxFrameSize > 0 && l.MaxFrameSize < want {
		out = append(out, fmt.Sprintf("raise the MTU to %d (frames up to %d bytes now, %d needed)", p.MTU, l.MaxFrameSize, want))
	}
	return out
}

func pvid(id int) string {
	if id == 0 {
		return "no VLAN"
	}
	return fmt.Sprintf("VLAN %d", id)
}

// WriteDiff prints one line per port: what it needs, "as the inventory wants", or that
// no report heard it.
func WriteDiff(w io.Writer, c *Config, changes []Change) error {
	var b strings.Builder
	for _, ch := range changes {
		fmt.Fprintf(&b, "%s %s (%s): ", c.Switch.Name, ch.Port.Name, ch.Port.Description)
		switch {
		case ch.Elsewhere != "":
			fmt.Fprintf(&b, "its cable is in %s (%s heard it there): move the cable, or fix the inventory's cabling\n", ch.Elsewhere, ch.Port.Interface)
		case ch.Heard == nil:
			b.WriteString("no LLDP report from this port yet (run the node's agent, or check the cabling)\n")
		case len(ch.Needs) == 0:
			b.WriteString("as the inventory wants\n")
		default:
			b.WriteString(strings.Join(ch.Needs, "; ") + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
