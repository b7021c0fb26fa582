package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

func newEventsCmd(g *globals) *cobra.Command {
	var since uint64
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:               "events [NODE]",
		ValidArgsFunction: g.completeNames(),
		Short:             "Show a node's events (DHCP, TFTP, HTTP, BMC, agent, phase changes) from serve's log",
		Long: `events prints serve's event log for NODE (or every node): each DHCP answer, TFTP
transfer, HTTP fetch, BMC power action, agent hello and report, timeout and retry, with
the node's phase after it. Every event has a sequence number: --since SEQ prints only
later ones, so a script that remembers the last number it saw resumes without losing or
repeating any. --follow keeps printing new events until interrupted.`,
		Example: `  provision events gpu-a01-03
  provision events gpu-a01-03 --follow
  provision events --since 1200 -o json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			node := ""
			if len(args) == 1 {
				node = args[0]
			}
			ctx := cmd.Context()
			src, err := g.connect(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			w := cmd.OutOrStdout()
			if r, err := src.Retention(ctx); err == nil && follow {
				api.WriteDropped(cmd.ErrOrStderr(), r, since)
			}
			if follow {
				// One line per event as it comes (JSON lines with -o json).
				asJSON := g.output == output.JSON || g.output == output.YAML
				return api.FollowEvents(ctx, src, node, since, limit, func(e state.Event) error { return api.WriteEventLine(w, e, asJSON) })
			}
			if node != "" {
				if _, err := src.Node(ctx, node); err != nil {
					return err
				}
			}
			evs, err := src.Events(ctx, node, since, limit, 0)
			if err != nil {
				return err
			}
			if evs == nil {
				evs = []state.Event{}
			}
			// Said on stderr, so -o json stays one document.
			if r, err := src.Retention(ctx); err == nil {
				api.WriteDropped(cmd.ErrOrStderr(), r, since)
			}
			return output.PrintOpts(w, g.out(), evs, func(w io.Writer) error { return api.WriteEvents(w, evs) })
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&since, "since", 0, "only events after this sequence number")
	f.IntVar(&limit, "limit", 0, "at most this many events (0: all)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	return cmd
}
