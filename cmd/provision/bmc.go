package main

import (
	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
)

func newBMCCmd(g *globals) *cobra.Command {
	bmcCmd := &cobra.Command{
		Use:   "bmc",
		Short: "Ask nodes' BMCs about themselves",
		Long: `bmc talks to the BMCs of the selected nodes (Redfish or IPMI, as the inventory says).
Power and boot have their own commands: 'provision power' and 'provision boot'.`,
		Example: `  provision bmc info all
  provision bmc info gpu-a01-* -o json`,
	}
	var f bmcFlags
	info := &cobra.Command{
		Use:               "info SELECTOR...",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Show vendor, model, serial, BMC firmware and power state as each BMC reports them",
		Example: `  provision bmc info all
  provision bmc info rack=a01 -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBMC(cmd, g, args, bmc.Op{Info: true}, &f)
		},
	}
	addBMCFlags(info, &f, false)
	bmcCmd.AddCommand(info)
	return bmcCmd
}
