package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/cli"
)

func newPowerCmd(g *globals) *cobra.Command {
	var f bmcFlags
	cmd := &cobra.Command{
		Use:   "power status|on|off|soft|cycle|reset SELECTOR...",
		Short: "Read or change nodes' power through their BMCs (Redfish or IPMI)",
		Long: `power talks to the BMC of every selected node at once (--concurrency), each with its
own deadline (--timeout), and prints one row per node with the power state read back
from the BMC afterwards.

  status  read the power state
  on      power on (nothing if already on)
  off     hard power off
  soft    graceful shutdown through the OS (ACPI)
  cycle   hard power off, then on
  reset   warm reset

off, soft, cycle and reset refuse nodes marked protected or maintenance in the
inventory unless --force is given. The exit status is 4 if some nodes failed or were
refused, 5 if all did.`,
		Example: `  provision power status all
  provision power on rack=a01 --dry-run
  provision power cycle gpu-a01-03 gpu-a01-04 --timeout 30s
  provision power off role=gpu --force -o json`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeSelectors(1, bmc.PowerActions),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := args[0]
			if !slices.Contains(bmc.PowerActions, action) {
				return cli.Usagef("unknown power action %q: use %s", action, strings.Join(bmc.PowerActions, ", "))
			}
			if len(args) < 2 {
				return cli.Usagef("power %s: name the nodes (names, globs, rack=, role=, k=v labels, or all)", action)
			}
			return runBMC(cmd, g, args[1:], bmc.Op{Power: action}, &f)
		},
	}
	addBMCFlags(cmd, &f, true)
	return cmd
}
