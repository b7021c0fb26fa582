package switchcfg

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/racklift/racklift/pkg/inventory"
)

// Formats are the outputs of Write, named like the switch OSes of the inventory.
var Formats = inventory.SwitchOSes

// Write prints the configuration of every cabled port of c in format (sonic, nvue or
// eos; empty: the switch's own OS).
func Write(w io.Writer, c *Config, format string) error {
	if format == "" {
		format = c.Switch.OS
	}
	switch format {
	case "sonic":
		return writeSONiC(w, c)
	case "nvue":
		return writeNVUE(w, c)
	case "eos":
		return writeEOS(w, c)
	}
	return fmt.Errorf("switch %s: unknown format %q (use one of %s)", c.Switch.Name, format, strings.Join(Formats, ", "))
}

// SONiC is the part of config_db.json the export writes: the three tables to merge
// with 'sonic-cfggen -j FILE --write-to-db' (or 'config load').
type SONiC struct {
	Port       map[string]SONiCPort       `json:"PORT"`
	VLAN       map[string]SONiCVLAN       `json:"VLAN"`
	VLANMember map[string]SONiCVLANMember `json:"VLAN_MEMBER"`
}

// SONiCPort is a PORT entry; SONiC's config_db keeps numbers as strings.
type SONiCPort struct {
	AdminStatus string `json:"admin_status"`
	Description string `json:"description"`
	MTU         string `json:"mtu"`
}

// SONiCVLAN is a VLAN entry.
type SONiCVLAN struct {
	VLANID  string   `json:"vlanid"`
	Members []string `json:"members"`
}

// SONiCVLANMember is a VLAN_MEMBER entry, keyed "VlanN|PORT".
type SONiCVLANMember struct {
	TaggingMode string `json:"tagging_mode"` // tagged or untagged
}

func writeSONiC(w io.Writer, c *Config) error {
	db := SONiC{Port: map[string]SONiCPort{}, VLAN: map[string]SONiCVLAN{}, VLANMember: map[string]SONiCVLANMember{}}
	member := func(id int, port, mode string) {
		key := "Vlan" + strconv.Itoa(id)
		v := db.VLAN[key]
		v.VLANID = strconv.Itoa(id)
		v.Members = append(v.Members, port)
		db.VLAN[key] = v
		db.VLANMember[key+"|"+port] = SONiCVLANMember{TaggingMode: mode}
	}
	for _, p := range c.Ports {
		db.Port[p.Name] = SONiCPort{AdminStatus: "up", Description: p.Description, MTU: strconv.Itoa(p.MTU)}
		if p.Untagged > 0 {
			member(p.Untagged, p.Name, "untagged")
		}
		for _, id := range p.Tagged {
			member(id, p.Name, "tagged")
		}
	}
	b, err := json.MarshalIndent(db, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func writeNVUE(w io.Writer, c *Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: port configuration from the racklift inventory (NVUE)\n", c.Switch.Name)
	var all []int
	for _, p := range c.Ports {
		all = append(all, p.VLANs()...)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	if len(all) > 0 {
		fmt.Fprintf(&b, "nv set bridge domain br_default vlan %s\n", joinInts(all, ","))
	}
	for _, p := range c.Ports {
		fmt.Fprintf(&b, "nv set interface %s description '%s'\n", p.Name, p.Description)
		fmt.Fprintf(&b, "nv set interface %s link mtu %d\n", p.Name, p.MTU)
		fmt.Fprintf(&b, "nv set interface %s bridge domain br_default\n", p.Name)
		switch {
		case len(p.Tagged) == 0 && p.Untagged > 0:
			fmt.Fprintf(&b, "nv set interface %s bridge domain br_default access %d\n", p.Name, p.Untagged)
		case len(p.Tagged) == 0: // an untagged network without a VLAN id: the bridge's default VLAN
		default:
			fmt.Fprintf(&b, "nv set interface %s bridge domain br_default vlan %s\n", p.Name, joinInts(p.Tagged, ","))
			if p.Untagged > 0 {
				fmt.Fprintf(&b, "nv set interface %s bridge domain br_default untagged %d\n", p.Name, p.Untagged)
			}
		}
	}
	b.WriteString("nv config apply\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeEOS(w io.Writer, c *Config) error {
	var b strings.Builder
	fmt.Fprintf(&b, "! %s: port configuration from the racklift inventory (Arista EOS)\n", c.Switch.Name)
	ids := make([]int, 0, len(c.VLANs))
	for id := range c.VLANs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "vlan %d\n   name %s\n!\n", id, c.VLANs[id])
	}
	for _, p := range c.Ports {
		fmt.Fprintf(&b, "interface %s\n   description %s\n   mtu %d\n", p.Name, p.Description, p.MTU)
		switch {
		case len(p.Tagged) == 0 && p.Untagged > 0:
			fmt.Fprintf(&b, "   switchport mode access\n   switchport access vlan %d\n", p.Untagged)
		case len(p.Tagged) == 0: // an untagged network without a VLAN id: the default VLAN
			b.WriteString("   switchport mode access\n")
		default:
			b.WriteString("   switchport mode trunk\n")
			if p.Untagged > 0 {
				fmt.Fprintf(&b, "   switchport trunk native vlan %d\n", p.Untagged)
			}
			fmt.Fprintf(&b, "   switchport trunk allowed vlan %s\n", joinInts(p.VLANs(), ","))
		}
		b.WriteString("   no shutdown\n!\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func joinInts(ids []int, sep string) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(id)
	}
	return strings.Join(s, sep)
}
