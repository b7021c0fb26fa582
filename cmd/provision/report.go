package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

func newReportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "report NODE",
		ValidArgsFunction: g.completeNames(),
		Short:             "Show the node agent's last report: every check, failed ones first, with their messages",
		Long: `report prints the checks the node agent ran on NODE (GPUs, storage, networks) as it last
reported them to serve: failed checks first, then warnings, then passes, each with what
was observed against what the profile expects and, for failures, the likely fix.`,
		Example: `  provision report gpu-a01-03
  provision report gpu-a01-03 -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			d, err := src.Node(ctx, args[0])
			if err != nil {
				return err
			}
			if err := d.NoReport(); err != nil {
				return cli.Exitf(1, "%v", err)
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), d, func(w io.Writer) error { return d.WriteReport(w) })
		},
	}
}
