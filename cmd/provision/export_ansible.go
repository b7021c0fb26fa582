package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/ansible"
	"github.com/racklift/racklift/pkg/output"
)

// newExportCmd is the parent of the exports in other tools' formats.
func newExportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "export", Short: "Write the inventory in other tools' formats (ansible, dnsmasq, switch port configs)"}
	cmd.AddCommand(newExportAnsibleCmd(g), newExportDnsmasqCmd(g), newExportSwitchCmd(g))
	return cmd
}

func newExportAnsibleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "ansible [SELECTOR...]",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Print an Ansible inventory (YAML) grouped by rack, role and label",
		Long: `ansible prints the selected nodes (all when no selector is given) as an Ansible YAML
inventory: every host under all.hosts with ansible_host set to its PXE address and
racklift_* variables (rack, unit, role, profile, BMC), and groups rack_<rack>,
role_<role> and <label>_<value> for each label. Group names keep only letters, digits
and '_'. -o json prints the same structure as JSON.`,
		Example: `  provision export ansible -i inventory/examples/site > hosts.yaml
  ansible -i hosts.yaml rack_a01 -m ping
  provision export ansible -i inventory/examples/site role=gpu -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, nodes, err := g.selectNodesOrAll(args)
			if err != nil {
				return err
			}
			ai := ansible.For(inv, nodes)
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), ai, func(w io.Writer) error { return ai.WriteYAML(w, inv.Site) })
		},
	}
}
