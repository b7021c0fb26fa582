package inventory

import (
	"reflect"
	"slices"

	"gopkg.in/yaml.v3"
)

// SwitchOSes are the switch operating systems racklift writes port configs for:
// SONiC (config_db.json), NVIDIA Cumulus Linux (NVUE) and Arista EOS.
var SwitchOSes = []string{"sonic", "nvue", "eos"}

// Switch is a network switch the nodes are cabled to, declared in site.yaml or in the
// rack file of the rack it stands in.
type Switch struct {
	Name    string `yaml:"name" json:"name"`                           // as the switch calls itself (LLDP system name)
	OS      string `yaml:"os" json:"os"`                               // sonic, nvue or eos
	Address string `yaml:"address,omitempty" json:"address,omitempty"` // management address, IP or DNS name
	// Ports lists ports whose VLANs the network team fixed; a node interface cabled to
	// one must be on a network whose VLAN the port carries. Other ports carry what their
	// cabling needs.
	Ports []*SwitchPort `yaml:"ports,omitempty" json:"ports,omitempty"`

	Rack string `yaml:"-" json:"rack,omitempty"` // the rack file that declares it; empty: site.yaml
	src  source
}

// SwitchPort is a port whose VLANs the inventory states.
type SwitchPort struct {
	Name  string `yaml:"name" json:"name"`
	VLANs []int  `yaml:"vlans" json:"vlans"` // every VLAN the port carries, tagged or not
	src   source
}

// Uplink is the provisioning host's cabling: the trunk (provision net apply --trunk)
// and the switch port it plugs into, which carries every network's VLAN.
type Uplink struct {
	Interface string `yaml:"interface,omitempty" json:"interface,omitempty"` // the host's trunk NIC, e.g. eth1
	Switch    string `yaml:"switch" json:"switch"`
	Port      string `yaml:"port" json:"port"`
	src       source
}

// Positions of cabling objects, for callers that report errors about them.
func (s *Switch) Pos() Pos                 { return s.src.Pos() }
func (s *Switch) PosOf(key string) Pos     { return s.src.At(key) }
func (p *SwitchPort) Pos() Pos             { return p.src.Pos() }
func (p *SwitchPort) PosOf(key string) Pos { return p.src.At(key) }
func (u *Uplink) Pos() Pos                 { return u.src.Pos() }
func (u *Uplink) PosOf(key string) Pos     { return u.src.At(key) }

func (s *Switch) setSource(f string, y *yaml.Node)     { s.src.setSource(f, y) }
func (p *SwitchPort) setSource(f string, y *yaml.Node) { p.src.setSource(f, y) }
func (u *Uplink) setSource(f string, y *yaml.Node)     { u.src.setSource(f, y) }

// Switch finds a switch by name; nil when absent.
func (inv *Inventory) Switch(name string) *Switch { return inv.switchByName[name] }

// Port is the declared port of that name, nil when the inventory leaves it to the cabling.
func (s *Switch) Port(name string) *SwitchPort {
	for _, p := range s.Ports {
		if p != nil && p.Name == name {
			return p
		}
	}
	return nil
}

// Cabled reports whether the interface names its switch port.
func (i *Interface) Cabled() bool { return i.Switch != "" && i.Port != "" }

// buildSwitches gathers the switches of the site file and the rack files, in file order.
func (inv *Inventory) buildSwitches(site *siteFile, racks []*Rack) {
	inv.switchByName = map[string]*Switch{}
	inv.Uplink = site.Uplink
	add := func(s *Switch, rack string) {
		if s == nil {
			return
		}
		s.Rack = rack
		inv.Switches = append(inv.Switches, s)
		if _, dup := inv.switchByName[s.Name]; !dup && s.Name != "" {
			inv.switchByName[s.Name] = s
		}
	}
	for _, s := range site.Switches {
		add(s, "")
	}
	for _, r := range racks {
		if r == nil {
			continue
		}
		for _, s := range r.Switches {
			add(s, r.Name)
		}
	}
}

func init() {
	// decode's cache must be full before concurrent loads (see decode.go).
	for _, t := range []any{Switch{}, SwitchPort{}, Uplink{}} {
		structFields(reflect.TypeOf(t))
	}
	typeDocs["Switch"] = "A switch nodes are cabled to: its name as it says in LLDP, its OS (for provision export switch) and optionally its management address."
	typeDocs["SwitchPort"] = "A switch port whose VLANs are fixed; nodes cabled to it must be on networks it carries."
	typeDocs["Uplink"] = "The provisioning host's cabling: its trunk NIC and the switch port, which carries every network's VLAN."
	for k, v := range map[string]string{
		"siteFile.Switches": "Switches of the site (a rack file may list its own top-of-rack switches too).",
		"siteFile.Uplink":   "Where the provisioning host's trunk is cabled.",
		"Rack.Switches":     "The rack's own switches.",
		"Interface.Switch":  "Cabling: the switch this NIC is cabled to (a name under switches:).",
		"Interface.Port":    "Cabling: the switch's port, as the switch names it (e.g. Ethernet12, swp12).",
		"Switch.Name":       "The switch's hostname, as it sends it in LLDP (system name).",
		"Switch.OS":         "sonic, nvue (Cumulus Linux) or eos (Arista).",
		"Switch.Address":    "Management address, IP or DNS name.",
		"Switch.Ports":      "Ports whose VLANs are fixed by the network team.",
		"SwitchPort.Name":   "The port, as the switch names it.",
		"SwitchPort.VLANs":  "Every VLAN the port carries, tagged or untagged.",
		"Uplink.Interface":  "The provisioning host's trunk NIC (provision net apply --trunk).",
		"Uplink.Switch":     "The switch the trunk is cabled to.",
		"Uplink.Port":       "The switch's port.",
	} {
		fieldDocs[k] = v
	}
	fieldRules["Switch.OS"] = map[string]any{"enum": slices.Clone(SwitchOSes)}
}
