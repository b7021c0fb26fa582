// Package ansible writes the inventory's nodes as an Ansible YAML inventory: every host
// under all.hosts with its variables, grouped by rack, role and label.
package ansible

import (
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/inventory"
)

// Inventory is Ansible's YAML inventory format: all.hosts with host variables and
// all.children groups.
type Inventory struct {
	All Group `json:"all" yaml:"all"`
}

// Group is an Ansible group: variables, hosts and child groups.
type Group struct {
	Vars     map[string]any            `json:"vars,omitempty" yaml:"vars,omitempty"`
	Hosts    map[string]map[string]any `json:"hosts,omitempty" yaml:"hosts,omitempty"`
	Children map[string]*Group         `json:"children,omitempty" yaml:"children,omitempty"`
}

// For is the Ansible inventory of nodes: ansible_host is the PXE address (else the first
// fixed address), ansible_user the inventory's login user (else racklift's), racklift_*
// variables carry rack, unit, role, profile, BMC and PXE MAC; groups are rack_<rack>,
// role_<role> and <label>_<value>.
func For(inv *inventory.Inventory, nodes []*inventory.Node) *Inventory {
	ai := &Inventory{All: Group{
		Vars:     map[string]any{"racklift_site": inv.Site},
		Hosts:    map[string]map[string]any{},
		Children: map[string]*Group{},
	}}
	join := func(group, host string) {
		group = GroupName(group)
		g := ai.All.Children[group]
		if g == nil {
			g = &Group{Hosts: map[string]map[string]any{}}
			ai.All.Children[group] = g
		}
		g.Hosts[host] = nil
	}
	for _, n := range nodes {
		vars := map[string]any{
			"racklift_rack":    n.Rack,
			"racklift_role":    n.Role,
			"racklift_profile": n.Profile,
			"racklift_bmc":     n.BMC.Address,
		}
		if n.Unit > 0 {
			vars["racklift_unit"] = n.Unit
		}
		if p := n.PXEInterface(); p != nil {
			if p.Address != "" {
				vars["ansible_host"] = p.Address
			}
			vars["racklift_pxe_mac"] = p.HW.String()
		}
		if vars["ansible_host"] == nil { // no fixed PXE address: the first interface with one
			for _, i := range n.Interfaces {
				if i.Address != "" {
					vars["ansible_host"] = i.Address
					break
				}
			}
		}
		// The user the install created with the inventory's SSH keys (inventory login:).
		vars["ansible_user"] = inventory.DefaultLoginUser
		if l := inv.LoginFor(n); l != nil {
			vars["ansible_user"] = l.User
		}
		ai.All.Hosts[n.Name] = vars
		join("rack_"+n.Rack, n.Name)
		join("role_"+n.Role, n.Name)
		for k, v := range n.Labels {
			join(k+"_"+v, n.Name)
		}
	}
	return ai
}

// GroupName makes a valid Ansible group name: letters, digits and '_', not starting
// with a digit.
func GroupName(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	if len(b) > 0 && b[0] >= '0' && b[0] <= '9' {
		return "_" + string(b)
	}
	return string(b)
}

// WriteYAML writes the inventory as the YAML file Ansible reads, under a comment naming
// the site.
func (ai *Inventory) WriteYAML(w io.Writer, site string) error {
	fmt.Fprintf(w, "# Ansible inventory of site %s, written by 'provision export ansible'.\n", site)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(ai); err != nil {
		return err
	}
	return enc.Close()
}
