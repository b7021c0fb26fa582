package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
)

// validateResult is what `validate -o json|yaml` prints.
type validateResult struct {
	OK       bool               `json:"ok"`
	Path     string             `json:"path"`
	Nodes    int                `json:"nodes"`
	Racks    int                `json:"racks"`
	Networks int                `json:"networks"`
	Errors   []*inventory.Error `json:"errors"`
}

var validateCmd = &cobra.Command{
	Use:   "validate",
	Short: "Check the inventory and report every defect with file:line:col and a fix",
	Long: `validate loads the inventory (a site directory or a single file) and reports every
defect at once: unknown fields, duplicate names, MACs, addresses and BMCs, addresses
outside their network, bad VLANs and MTUs, missing references, overlapping rack units,
PXE interfaces, plain-text passwords. Exit status 1 when there is any, 0 when clean.`,
	Example: `  provision validate -i inventory/examples/site
  provision validate -i site.yaml -o json | jq '.errors[].message'`,
	Args: cobra.NoArgs,
	RunE: func(cmd *cobra.Command, args []string) error {
		inv, err := loadInventory()
		res := validateResult{Path: global.inventory, Errors: []*inventory.Error{}}
		var ie inventory.Errors
		switch {
		case errors.As(err, &ie):
			res.Errors = ie
		case err != nil:
			return err
		default:
			res.OK = true
			res.Nodes, res.Racks, res.Networks = len(inv.Nodes), len(inv.Racks), len(inv.Networks)
		}
		if global.output == output.Table || global.output == "" {
			if !res.OK {
				return ie // main prints every error and the count, exit 1
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %s in %s, %s\n",
				plural(res.Nodes, "node"), plural(res.Racks, "rack"), plural(res.Networks, "network"))
			return nil
		}
		if err := output.Print(cmd.OutOrStdout(), global.output, res, func(io.Writer) error { return nil }); err != nil {
			return err
		}
		if !res.OK {
			return &exitError{code: 1}
		}
		return nil
	},
}

func init() { root.AddCommand(validateCmd) }

// plural writes "1 rack" or "2 racks".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
