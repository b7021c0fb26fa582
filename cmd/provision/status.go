package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/config"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

func newStatusCmd(g *globals) *cobra.Command {
	var sf config.StoreFlags
	cmd := &cobra.Command{
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
			ec, err := sf.Etcd()
			if err != nil {
				return cli.Exitf(2, "error: %v", err)
			}
			if ec == nil {
				return output.PrintOpts(cmd.OutOrStdout(), g.out(), st, func(w io.Writer) error { return st.WriteText(w, time.Now()) })
			}
			// Several instances: who answers DHCP on each network and drives each node.
			h, err := readHolders(ctx, *ec)
			if err != nil {
				return err
			}
			var names []string
			for _, n := range nodes {
				names = append(names, n.Name)
			}
			out := statusWithHolders{StatusReport: &st, Holders: &h}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), out, func(w io.Writer) error {
				if err := st.WriteText(w, time.Now()); err != nil {
					return err
				}
				return h.WriteText(w, names)
			})
		},
	}
	sf.Register(cmd.Flags(), false)
	return cmd
}

// statusWithHolders is status with the instances' holdings (--store etcd).
type statusWithHolders struct {
	*api.StatusReport
	Holders *cluster.Holders `json:"holders"`
}

func readHolders(ctx context.Context, ec state.EtcdConfig) (cluster.Holders, error) {
	cli, err := ec.Dial()
	if err != nil {
		return cluster.Holders{}, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cluster.ReadHolders(ctx, cli, ec.Prefix)
}
