package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

func init() {
	var since uint64
	var limit int
	var follow bool
	cmd := &cobra.Command{
		Use:   "events [NODE]",
		Short: "Show a node's events (DHCP, TFTP, HTTP, BMC, agent, phase changes) from serve's log",
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
			src, err := connectState(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			if node != "" && !follow {
				if _, err := src.Node(ctx, node); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			evs, err := src.Events(ctx, node, since, limit, 0)
			if err != nil {
				return err
			}
			if !follow {
				if evs == nil {
					evs = []state.Event{}
				}
				return output.Print(w, global.output, evs, func(w io.Writer) error {
					rows := eventRows()
					for _, e := range evs {
						addEvent(&rows, e)
					}
					return rows.Write(w)
				})
			}
			// Follow: one line per event as it comes (JSON lines with -o json).
			if _, local := src.(*api.Local); local {
				return fmt.Errorf("--follow needs a running serve: %s", src.Describe())
			}
			after := since
			for {
				for _, e := range evs {
					if err := printEventLine(w, e); err != nil {
						return err
					}
					after = e.Seq
				}
				if ctx.Err() != nil {
					return nil
				}
				if evs, err = src.Events(ctx, node, after, 0, 30*time.Second); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&since, "since", 0, "only events after this sequence number")
	f.IntVar(&limit, "limit", 0, "at most this many events (0: all)")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	root.AddCommand(cmd)
}

func eventRows() output.Rows {
	return output.Rows{Header: []string{"SEQ", "TIME", "NODE", "KIND", "PHASE", "DETAIL"}}
}

func addEvent(rows *output.Rows, e state.Event) {
	rows.Add(fmt.Sprint(e.Seq), e.Time.Local().Format("15:04:05.000"), e.Node, e.Kind, orDash(e.Phase), e.Detail)
}

func printEventLine(w io.Writer, e state.Event) error {
	if global.output == output.JSON || global.output == output.YAML {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Local().Format("15:04:05.000"), e.Node, e.Kind, orDash(e.Phase), e.Detail)
	return err
}
