package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
)

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Act on one node's record in serve: revoke its credentials",
	}
	cmd.AddCommand(newNodeRevokeCmd(g))
	return cmd
}

func newNodeRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "revoke NODE...",
		ValidArgsFunction: g.completeNames(),
		Short:             "Revoke a node's credentials: its agents are refused until `up --reprovision NODE`",
		Long: `revoke marks the node's client certificate revoked and drops its unused bootstrap
secret, in serve's state: every later call of its agents (ramdisk or installed daemon)
is refused with 401 and changes nothing. Use it when a node's key may have leaked, or
the machine leaves your control. 'provision up --reprovision NODE' gives it new ones.
serve must be running.`,
		Example: `  provision node revoke gpu-a01-03`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			client, ok := src.(*api.Client)
			if !ok {
				return fmt.Errorf("node revoke needs a running serve: %s: start `provision serve`", src.Describe())
			}
			for _, n := range args {
				if _, err := client.Revoke(ctx, n); err != nil {
					return fmt.Errorf("revoke %s: %w", n, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: credentials revoked; `provision up --reprovision %s` gives it new ones\n", n, n)
			}
			return nil
		},
	}
}
