package main

import (
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/output"
)

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "status [SELECTOR...]",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Show each node's lifecycle phase, attempt and last event, with counts per phase",
		Long: `status asks serve (or, when serve is not running, reads its state directly) where each
node is: enrolled, powering, pxe, booting, agent, validating, ready or failed, with the
reason for failed nodes. Selectors (names, globs, rack=, role=, k=v, all) are resolved
against the inventory (-i); without one, every node serve knows is shown.`,
		Example: `  provision status
  provision status rack=a01
  provision status gpu-a01-* -o json
  provision status --api http://127.0.0.1:9180`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			nodes, err := src.Nodes(ctx)
			if err != nil {
				return err
			}
			if len(args) > 0 {
				_, sel, err := g.selectNodes(args)
				if err != nil {
					return err
				}
				nodes = api.SelectStatus(nodes, sel)
			}
			st := api.NewStatusReport(src.Describe(), nodes)
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), st, func(w io.Writer) error { return st.WriteText(w, time.Now()) })
		},
	}
}
