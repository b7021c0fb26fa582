package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
)

// ansibleInventory is Ansible's YAML inventory format: all.hosts with host variables and
// all.children groups.
type ansibleInventory struct {
	All ansibleGroup `json:"all" yaml:"all"`
}

type ansibleGroup struct {
	Vars     map[string]any            `json:"vars,omitempty" yaml:"vars,omitempty"`
	Hosts    map[string]map[string]any `json:"hosts,omitempty" yaml:"hosts,omitempty"`
	Children map[string]*ansibleGroup  `json:"children,omitempty" yaml:"children,omitempty"`
}

var exportAnsibleCmd = &cobra.Command{
	Use:   "ansible [SELECTOR...]",
	Short: "Print an Ansible inventory (YAML) grouped by rack, role and label",
	Long: `ansible prints the selected nodes (all when no selector is given) as an Ansible YAML
inventory: every host under all.hosts with ansible_host set to its PXE address and
racklift_* variables (rack, unit, role, profile, BMC), and groups rack_<rack>,
role_<role> and <label>_<value> for each label. Group names keep only letters, digits
and '_'. -o json prints the same structure as JSON.`,
	Example: `  provision export ansible -i inventory/examples/site > hosts.yaml
  ansible -i hosts.yaml rack_a01 -m ping
  provision export ansible -i inventory/examples/site role=gpu -o json`,
	RunE: func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = []string{"all"}
		}
		inv, nodes, err := selectNodes(args)
		if err != nil {
			return err
		}
		ai := ansibleFor(inv, nodes)
		return output.Print(cmd.OutOrStdout(), global.output, ai, func(w io.Writer) error {
			fmt.Fprintf(w, "# Ansible inventory of site %s, written by 'provision export ansible'.\n", inv.Site)
			enc := yaml.NewEncoder(w)
			enc.SetIndent(2)
			if err := enc.Encode(ai); err != nil {
				return err
			}
			return enc.Close()
		})
	},
}

func ansibleFor(inv *inventory.Inventory, nodes []*inventory.Node) *ansibleInventory {
	ai := &ansibleInventory{All: ansibleGroup{
		Vars:     map[string]any{"racklift_site": inv.Site},
		Hosts:    map[string]map[string]any{},
		Children: map[string]*ansibleGroup{},
	}}
	join := func(group, host string) {
		group = groupName(group)
		g := ai.All.Children[group]
		if g == nil {
			g = &ansibleGroup{Hosts: map[string]map[string]any{}}
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
		ai.All.Hosts[n.Name] = vars
		join("rack_"+n.Rack, n.Name)
		join("role_"+n.Role, n.Name)
		for k, v := range n.Labels {
			join(k+"_"+v, n.Name)
		}
	}
	return ai
}

// groupName makes a valid Ansible group name: letters, digits and '_', not starting
// with a digit.
func groupName(s string) string {
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

func init() { exportCmd.AddCommand(exportAnsibleCmd) }
