package main

import (
	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
)

func init() {
	bmcCmd := &cobra.Command{Use: "bmc", Short: "Ask nodes' BMCs about themselves"}
	var f bmcFlags
	info := &cobra.Command{
		Use:   "info SELECTOR...",
		Short: "Show vendor, model, serial, BMC firmware and power state as each BMC reports them",
		Example: `  provision bmc info all
  provision bmc info rack=a01 -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBMC(cmd, args, bmc.Op{Info: true}, &f)
		},
	}
	addBMCFlags(info, &f, false)
	bmcCmd.AddCommand(info)
	root.AddCommand(bmcCmd)
}
