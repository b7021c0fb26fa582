package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

func init() {
	var req api.UpRequest
	var timeout time.Duration
	var noFollow bool
	cmd := &cobra.Command{
		Use:   "up SELECTOR...",
		Short: "Bring nodes up: one-time PXE boot, power cycle in waves, follow them to ready",
		Long: `up asks serve to provision the selected nodes: each gets a one-time PXE boot and a power
cycle through its BMC (--wave at a time, so a rack neither boot-storms nor surges), then
serve follows it through pxe, booting, agent and validating to ready, or failed with the
reason. up shows the progress live (counts per phase and a line per node), ends with a
table, and exits 1 if any node failed or was refused.

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
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return runUp(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), req, !noFollow)
		},
	}
	f := cmd.Flags()
	f.IntVar(&req.Wave, "wave", 0, "how many nodes may be power-cycled and not yet past pxe at once (0: serve's setting, unlimited by default)")
	f.BoolVar(&req.Force, "force", false, "power-cycle nodes marked protected or maintenance too")
	f.BoolVar(&req.Reprovision, "reprovision", false, "provision ready nodes again")
	f.BoolVar(&req.DryRun, "dry-run", false, "show what would be done to which node, change nothing")
	f.DurationVar(&timeout, "timeout", 2*time.Hour, "give up following after this long (the nodes carry on in serve)")
	f.BoolVar(&noFollow, "no-follow", false, "start the nodes and return; follow with `provision status`")
	root.AddCommand(cmd)
}

// upResult is up's -o json|yaml shape.
type upResult struct {
	DryRun    bool                 `json:"dry_run,omitempty"`
	Decisions []lifecycle.Decision `json:"decisions"`
	Nodes     []api.NodeStatus     `json:"nodes,omitempty"`
	Failed    int                  `json:"failed"`
	Seconds   float64              `json:"seconds"`
}

func runUp(ctx context.Context, stdout, stderr io.Writer, req api.UpRequest, follow bool) error {
	start := time.Now()
	src, err := connectState(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	client, ok := src.(*api.Client)
	if !ok {
		return fmt.Errorf("up needs a running serve: %s: start `provision serve`", src.Describe())
	}
	resp, err := client.Up(ctx, req)
	if err != nil {
		return err
	}
	res := upResult{DryRun: req.DryRun, Decisions: resp.Decisions}
	var toFollow []string
	refused := 0
	for _, d := range resp.Decisions {
		switch d.Action {
		case lifecycle.Refused:
			refused++
			fmt.Fprintf(stderr, "refused: %s\n", d.Detail)
		case lifecycle.Start, lifecycle.Resume:
			toFollow = append(toFollow, d.Node)
		}
	}
	if req.DryRun || !follow || len(toFollow) == 0 {
		res.Failed = refused
		res.Seconds = time.Since(start).Seconds()
		err := output.Print(stdout, global.output, res, func(w io.Writer) error {
			rows := output.Rows{Header: []string{"NODE", "ACTION", "PHASE", "DETAIL"}}
			for _, d := range resp.Decisions {
				rows.Add(d.Node, string(d.Action), string(d.Phase), d.Detail)
			}
			return rows.Write(w)
		})
		if err == nil && refused > 0 {
			return &exitError{code: 1}
		}
		return err
	}

	tty := global.output == output.Table && upIsTTY(stdout)
	final, err := followUp(ctx, client, stdout, stderr, toFollow, resp.LastSeq, tty)
	res.Nodes = final
	for _, n := range final {
		if n.Phase != lifecycle.Ready {
			res.Failed++
		}
	}
	res.Failed += refused
	res.Seconds = time.Since(start).Seconds()
	perr := output.Print(stdout, global.output, res, func(w io.Writer) error {
		fmt.Fprintf(w, "%s in %s\n", phaseCounts(final), time.Since(start).Truncate(time.Second))
		rows := output.Rows{Header: []string{"NODE", "PHASE", "ATTEMPT", "CHECKS", "REASON / LAST EVENT"}}
		for _, n := range final {
			rows.Add(n.Name, string(n.Phase), attempt(n), checks(n.Checks), lastOrReason(n))
		}
		return rows.Write(w)
	})
	if err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if res.Failed > 0 {
		return &exitError{code: 1}
	}
	return nil
}

// done: ready or failed (a node that left its run another way, e.g. enrolled again, is
// done too: nothing more will happen to it in this run).
func done(p lifecycle.Phase) bool { return !p.Active() }

// followUp follows the nodes' events until every one is ready or failed, showing the
// progress, and returns their final status. When serve goes away it waits for it to
// come back and carries on from the last event seen.
func followUp(ctx context.Context, c *api.Client, stdout, stderr io.Writer, names []string, after uint64, tty bool) ([]api.NodeStatus, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	last := map[string]lifecycle.Phase{}
	drawn := 0
	away := false
	var cur []api.NodeStatus
	for {
		all, err := c.Nodes(ctx)
		if err == nil {
			if away {
				fmt.Fprintln(stderr, "serve is back: carrying on")
				away = false
			}
			cur = cur[:0]
			for _, n := range all {
				if want[n.Name] {
					cur = append(cur, n)
				}
			}
			sort.Slice(cur, func(i, j int) bool { return cur[i].Name < cur[j].Name })
			if tty {
				drawn = redraw(stdout, cur, drawn)
			} else {
				for _, n := range cur {
					if last[n.Name] != n.Phase {
						fmt.Fprintf(stderr, "%s  %-10s %s\n", time.Now().Format("15:04:05"), n.Name, phaseLine(n))
						last[n.Name] = n.Phase
					}
				}
			}
			finished := len(cur) == len(names)
			for _, n := range cur {
				finished = finished && done(n.Phase)
			}
			if finished {
				return cur, nil
			}
			var evs []state.Event
			evs, err = c.Events(ctx, "", after, 0, 5*time.Second)
			for _, e := range evs {
				after = max(after, e.Seq)
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return cur, fmt.Errorf("stopped following (%v): the nodes carry on in serve; see `provision status`", context.Cause(ctx))
			}
			var se *api.StatusError
			if errors.As(err, &se) {
				return cur, err
			}
			if !away {
				fmt.Fprintf(stderr, "serve went away (%v): waiting for it to come back; it resumes where it stopped\n", err)
				away = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func phaseLine(n api.NodeStatus) string {
	s := string(n.Phase)
	if n.Attempt > 1 {
		s += fmt.Sprintf(" (attempt %d)", n.Attempt)
	}
	if r := lastOrReason(n); r != "" {
		s += "  " + r
	}
	return s
}

// redraw replaces the previous progress block on a terminal.
func redraw(w io.Writer, nodes []api.NodeStatus, prev int) int {
	var b strings.Builder
	if prev > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", prev)
	}
	fmt.Fprintln(&b, phaseCounts(nodes))
	for _, n := range nodes {
		line := fmt.Sprintf("  %-16s %s", n.Name, phaseLine(n))
		if len(line) > 160 {
			line = line[:157] + "..."
		}
		fmt.Fprintln(&b, line)
	}
	io.WriteString(w, b.String())
	return len(nodes) + 1
}

// upIsTTY reports whether w is a terminal, where the progress block is redrawn.
func upIsTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
