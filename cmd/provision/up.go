package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

func newUpCmd(g *globals) *cobra.Command {
	var req api.UpRequest
	var timeout time.Duration
	var noFollow bool
	cmd := &cobra.Command{
		Use:               "up SELECTOR...",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Bring nodes up: one-time PXE boot, power cycle in waves, follow them to ready",
		Long: `up asks serve to provision the selected nodes: each gets a one-time PXE boot and a power
cycle through its BMC (--wave at a time, so a rack neither boot-storms nor surges), then
serve follows it through pxe, booting, agent and validating to ready, or failed with the
reason. up shows the progress live (counts per phase, and a line per node while they fit
the terminal), ends with a table, and exits 4 if some nodes failed or were refused, 5 if
all did.

Nodes marked protected or maintenance in the inventory are refused without --force.
Nodes already under way are followed, not power-cycled again; ready nodes are skipped
unless --reprovision. If serve is killed and restarted meanwhile, up waits for it and
carries on: serve resumes from its state, without a second power cycle per attempt.`,
		Example: `  provision up all
  provision up rack=a01 --wave 4
  provision up gpu-a01-03 --force --reprovision
  provision up role=gpu --dry-run -o json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Selectors = args
			ctx, _, stop := cli.SignalContext(cmd.Context(), nil)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return runUp(ctx, cmd, g, req, !noFollow)
		},
	}
	f := cmd.Flags()
	f.IntVar(&req.Wave, "wave", 0, "how many nodes may be power-cycled and not yet past pxe at once (0: serve's setting, unlimited by default)")
	f.BoolVar(&req.Force, "force", false, "power-cycle nodes marked protected or maintenance too")
	f.BoolVar(&req.Reprovision, "reprovision", false, "provision ready nodes again")
	f.BoolVar(&req.DryRun, "dry-run", false, "show what would be done to which node, change nothing")
	f.DurationVar(&timeout, "timeout", 2*time.Hour, "give up following after this long (the nodes carry on in serve)")
	f.BoolVar(&noFollow, "no-follow", false, "start the nodes and return (follow them with 'provision status')")
	return cmd
}

// runUp asks serve to bring the nodes up and follows them (api.Client.UpAndFollow):
// progress on stderr, or redrawn on stdout when it is a terminal showing the table; the
// result table at the end; exit status 4 if some nodes failed or were refused, 5 if all did.
func runUp(ctx context.Context, cmd *cobra.Command, g *globals, req api.UpRequest, follow bool) error {
	stdout := cmd.OutOrStdout()
	src, err := g.connect(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	client, ok := src.(*api.Client)
	if !ok {
		return cli.WithCode(cli.CodeUnreachable, fmt.Errorf("up needs a running serve: %s: start `provision serve`", src.Describe()))
	}
	watch := api.UpWatch{Log: cmd.ErrOrStderr()}
	if (g.output == output.Table || g.output == output.Wide) && cli.IsTerminal(stdout) {
		watch.Redraw = stdout
		watch.Size = func() (int, int, bool) { return cli.TermSize(stdout) }
	}
	res, err := client.UpAndFollow(ctx, req, follow, watch)
	if res == nil {
		return err
	}
	if perr := output.PrintOpts(stdout, g.out(), res, func(w io.Writer) error { return res.WriteText(w) }); perr != nil && err == nil {
		err = perr
	}
	if err == nil {
		return cli.NodesFailed(res.Failed, len(res.Decisions), "")
	}
	return err
}
