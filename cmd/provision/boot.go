package main

import (
	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/cli"
)

func newBootCmd(g *globals) *cobra.Command {
	var f bmcFlags
	var b bmc.Boot
	cmd := &cobra.Command{
		Use:   "boot pxe|disk|bios SELECTOR...",
		Short: "Set the device nodes boot from next (or always), and check the BMC kept it",
		Long: `boot sets the boot override on the BMC of every selected node: the next boot only,
or every boot with --persistent; UEFI unless --legacy. It then reads the override back
from the BMC: a BMC that answered success and dropped the setting (known on some
Supermicro firmware, bmclib issue 459) is reported as a failure saying so.

boot changes no power state: follow it with 'provision power cycle' or 'power on'.

pxe and bios are refused on nodes marked protected or maintenance in the inventory
unless --force is given (the same policy and message as power); disk is always allowed.`,
		Example: `  provision boot pxe rack=a01
  provision boot disk gpu-a01-03 --persistent
  provision boot pxe all --legacy --dry-run -o json`,
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: g.completeSelectors(1, []string{bmc.BootPXE, bmc.BootDisk, bmc.BootBIOS}),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case bmc.BootPXE, bmc.BootDisk, bmc.BootBIOS:
			default:
				return cli.Usagef("unknown boot device %q: use pxe, disk or bios", args[0])
			}
			if len(args) < 2 {
				return cli.Usagef("boot %s: name the nodes (names, globs, rack=, role=, k=v labels, or all)", args[0])
			}
			b.Device = args[0]
			return runBMC(cmd, g, args[1:], bmc.Op{Boot: &b}, &f)
		},
	}
	cmd.Flags().BoolVar(&b.Persistent, "persistent", false, "boot from the device on every boot, not only the next")
	cmd.Flags().BoolVar(&b.Legacy, "legacy", false, "legacy (BIOS) boot instead of UEFI")
	addBMCFlags(cmd, &f, true)
	return cmd
}
