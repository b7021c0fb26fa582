package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent/lldp"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

func newLLDPCmd() *cobra.Command {
	var ifaces []string
	var format string
	var wait = lldp.DefaultWait
	cmd := &cobra.Command{
		Use:   "lldp --interface IF",
		Short: "Listen for LLDP and print the switch and port this node is cabled to",
		Long: `lldp listens on each --interface for the LLDP frame its switch sends (every 30 s on
most switches) up to --wait, and prints what it says: chassis id, system name, port id
and description, the port VLAN id (untagged), the VLANs the port advertises, maximum
frame size and link aggregation. It needs root (a raw socket). It exits 1 when an
interface heard nothing.`,
		Example: `  node-agent lldp --interface eth1 --wait 35s -o json
  node-agent lldp --interface eno1,enp25s0f0np0`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			if len(ifaces) == 0 {
				return cli.Exitf(2, "lldp: name at least one --interface")
			}
			if wait <= 0 {
				return cli.Exitf(2, "lldp: --wait %s must be positive", wait)
			}
			heard := lldp.ListenAll(cmd.Context(), ifaces, wait)
			var v any = heard
			if len(heard) == 1 {
				v = heard[0]
			}
			if err := output.Print(cmd.OutOrStdout(), format, v, func(w io.Writer) error { return lldp.WriteText(w, heard) }); err != nil {
				return err
			}
			for _, l := range heard {
				if !l.Heard {
					return cli.Exitf(1, "")
				}
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&ifaces, "interface", nil, "interface(s) to listen on, comma-separated or repeated")
	cmd.Flags().DurationVar(&wait, "wait", wait, "how long to listen on each interface (at once)")
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}
