// Command provision is racklift's operator CLI: validate and plan an inventory, serve PXE
// boot, drive BMCs, set up VLANs and bring racks up.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
)

// Flags every command shares.
var global struct {
	inventory string
	output    string
	secrets   string
}

var root = &cobra.Command{
	Use:   "provision",
	Short: "racklift: bare-metal provisioning for GPU racks, driven by an inventory",
	Long: `racklift turns a rack inventory (YAML in git) into booted, validated GPU nodes:
it validates and plans the inventory, serves PXE boot (DHCP, TFTP, HTTP/iPXE), drives
BMCs over Redfish and IPMI, sets up VLANs with netlink and watches racks come up.`,
	Example: `  provision validate -i inventory/examples/site
  provision plan -i inventory/examples/site -o json
  provision inventory list rack=a01`,
	SilenceUsage:  true,
	SilenceErrors: true,
	PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
		return output.Check(global.output)
	},
}

func init() {
	pf := root.PersistentFlags()
	pf.StringVarP(&global.inventory, "inventory", "i", "./inventory", "inventory: a site directory (site.yaml, racks/) or a single file")
	pf.StringVarP(&global.output, "output", "o", "table", "output format: table, json or yaml")
	pf.StringVar(&global.secrets, "secrets", "", "secrets file with BMC passwords, mode 0600 (default $RACKLIFT_SECRETS or "+inventory.DefaultSecretsFile+")")
}

// loadInventory loads -i; a defective inventory is returned as inventory.Errors.
func loadInventory() (*inventory.Inventory, error) {
	return inventory.Load(global.inventory)
}

// selectNodes loads the inventory and resolves the command's selector arguments.
func selectNodes(args []string) (*inventory.Inventory, []*inventory.Node, error) {
	inv, err := loadInventory()
	if err != nil {
		return nil, nil, err
	}
	nodes, err := inv.SelectAny(args)
	if err != nil {
		return nil, nil, err
	}
	return inv, nodes, nil
}

// exitError carries a specific exit status; its message, if any, is already printed.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func main() {
	err := root.Execute()
	if err == nil {
		return
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(os.Stderr, ee.msg)
		}
		os.Exit(ee.code)
	}
	var ie inventory.Errors
	if errors.As(err, &ie) {
		fmt.Fprintln(os.Stderr, ie.Error())
		fmt.Fprintf(os.Stderr, "%d error(s) in the inventory\n", len(ie))
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}
