// Command racklift-lab runs the virtual rack of `make demo` and the end-to-end tests:
// the lab inventory's nodes as QEMU guests in a network namespace, each behind its own
// virtual BMC (Redfish or ipmi_sim) listening where the inventory says, inside it.
package main

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

// Files racklift-lab up keeps in --dir besides the rack's own (rack.json, rack.pids).
const (
	pidFile   = "racklift-lab.pid" // the up process, for down
	readyFile = "ready"            // written once every BMC listens; holds the namespace name
	logFile   = "racklift-lab.log" // the detached up process's output
)

// globals are the flags every command shares; each tree has its own.
type globals struct {
	dir    string
	netns  string
	output string
}

func main() { os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

// run builds a fresh command tree, runs args on it and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Code(cli.Execute(ctx, newRoot(), args, stdout, stderr), stderr, "racklift-lab: ")
}

// newRoot builds racklift-lab's command tree.
func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "racklift-lab",
		Short: "The virtual rack: QEMU guests behind virtual BMCs in a network namespace",
		Long: `racklift-lab builds the lab inventory's rack in a network namespace: bridges br-prov
(provisioning, no address: provision net apply adds the server's) and br-stor (storage
trunk, tagged VLAN frames pass), one QEMU guest per node with its NICs on them and an ext4
scratch disk, and each node's BMC (Redfish on HTTPS, or ipmi_sim) listening inside the
namespace at the inventory's address and port. Guests start powered off: power them on
through their BMCs (provision up, provision bmc, ipmitool) from inside the namespace.`,
		Example: `  export RACKLIFT_CRED_LAB_BMC_PASSWORD=...
  racklift-lab up -i inventory/examples/lab --dir .demo --detach
  ip netns exec racklift-lab bin/provision bmc power status all -i inventory/examples/lab
  racklift-lab counts --dir .demo
  racklift-lab down --dir .demo`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return output.Check(g.output)
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.dir, "dir", ".demo", "work directory: guest disks, serial logs, BMC files, status")
	pf.StringVar(&g.netns, "netns", "", "network namespace name (default "+rack.DefaultNetNS+"; down: the one recorded in --dir)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table, json or yaml")
	root.AddCommand(newUpCmd(g), newDownCmd(g), newCountsCmd(g))
	return root
}
