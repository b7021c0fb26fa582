package main

import (
	"io"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/plan"
)

func newExpectCmd() *cobra.Command {
	var inv, format string
	cmd := &cobra.Command{
		Use:   "expect NODE",
		Short: "Print a node's expectations from the inventory (what the server serves at /expect)",
		Long: `expect builds NODE's expectations from the inventory exactly as the server does for
GET /api/v1/nodes/NODE/expect: the node's effective profile (GPUs, storage mounts and
limits) and its networks. Save it and run 'node-agent check --expect FILE' on a node
that cannot reach the server.`,
		Example: `  node-agent expect -i inventory gpu-a01-01 > expect.yaml
  node-agent expect -i inventory/examples/site gpu-a01-01 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			in, err := inventory.Load(inv)
			if err != nil {
				return err
			}
			e, err := plan.ExpectationsFor(in, args[0])
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), format, e, func(w io.Writer) error {
				// The table form is the YAML --expect reads back.
				enc := yaml.NewEncoder(w)
				enc.SetIndent(2)
				defer enc.Close()
				return enc.Encode(e)
			})
		},
	}
	cmd.Flags().StringVarP(&inv, "inventory", "i", "./inventory", "inventory directory or site file")
	cmd.Flags().StringVarP(&format, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}
