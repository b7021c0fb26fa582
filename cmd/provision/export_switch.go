package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/switchcfg"
)

func newExportSwitchCmd(g *globals) *cobra.Command {
	var format string
	var diff bool
	cmd := &cobra.Command{
		Use:   "switch SWITCH",
		Short: "Print a switch's port configuration from the inventory's cabling (SONiC, NVUE, EOS)",
		Long: `switch prints the configuration of every port of SWITCH the inventory cables a node
interface (or the provisioning host's uplink) to: the provisioning VLAN untagged, the
node's other networks tagged, an MTU of the largest network MTU on the port plus 18
(Ethernet header and VLAN tag), and a description naming node and interface.
--format sonic writes config_db.json (PORT, VLAN, VLAN_MEMBER), nvue 'nv set'
commands, eos the CLI; the default is the switch's os: in the inventory.
--diff compares each port with what the nodes' agents heard over LLDP (from serve's
state) and prints what each port needs.`,
		Example: `  provision export switch leaf-a01 -i inventory/examples/site > config_db.json
  provision export switch leaf-a02 -i inventory/examples/site --format nvue
  provision export switch leaf-a01 --diff`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := g.loadInventory()
			if err != nil {
				return err
			}
			c, err := switchcfg.For(inv, args[0])
			if err != nil {
				return err
			}
			if !diff {
				return switchcfg.Write(cmd.OutOrStdout(), c, strings.ToLower(format))
			}
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			var heard []switchcfg.Heard
			seen := map[string]bool{}
			for _, p := range c.Ports {
				if p.Node == "" || seen[p.Node] {
					continue
				}
				seen[p.Node] = true
				d, err := src.Node(ctx, p.Node)
				if err != nil {
					return fmt.Errorf("switch %s: node %s: %w", c.Switch.Name, p.Node, err)
				}
				if d.Report == nil {
					continue
				}
				for _, l := range d.Report.LLDP {
					heard = append(heard, switchcfg.Heard{Node: p.Node, LLDP: l})
				}
			}
			return switchcfg.WriteDiff(cmd.OutOrStdout(), c, switchcfg.Diff(c, heard))
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "sonic, nvue or eos (default: the switch's os)")
	cmd.Flags().BoolVar(&diff, "diff", false, "compare with what the nodes' LLDP reported")
	return cmd
}
