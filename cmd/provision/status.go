package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

// Where serve keeps its state and answers the CLI; shared by serve, up, status, report
// and events.
var stateOpts struct {
	dir string
	api string
}

func init() {
	pf := root.PersistentFlags()
	pf.StringVar(&stateOpts.dir, "state-dir", state.DefaultDir(), "serve's state: node phases, event log, CA, API socket and token (env "+state.DirEnv+")")
	pf.StringVar(&stateOpts.api, "api", "", "serve's control API: unix:///path/api.sock or http://127.0.0.1:PORT (default: the socket in --state-dir)")

	cmd := &cobra.Command{
		Use:   "status [SELECTOR...]",
		Short: "Show each node's lifecycle phase, attempt and last event, with counts per phase",
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
			src, err := connectState(ctx)
			if err != nil {
				return err
			}
			defer src.Close()
			nodes, err := src.Nodes(ctx)
			if err != nil {
				return err
			}
			if nodes, err = filterNodes(nodes, args); err != nil {
				return err
			}
			return printStatus(cmd.OutOrStdout(), src.Describe(), nodes, time.Now())
		},
	}
	root.AddCommand(cmd)
}

// connectState reaches serve's API, or its state read-only when serve is not running.
func connectState(ctx context.Context) (api.Source, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	return api.Connect(ctx, stateOpts.api, stateOpts.dir)
}

// filterNodes keeps the nodes the selectors name in the inventory.
func filterNodes(nodes []api.NodeStatus, selectors []string) ([]api.NodeStatus, error) {
	if len(selectors) == 0 {
		return nodes, nil
	}
	_, sel, err := selectNodes(selectors)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range sel {
		want[n.Name] = true
	}
	var out []api.NodeStatus
	seen := map[string]bool{}
	for _, n := range nodes {
		if want[n.Name] {
			out = append(out, n)
			seen[n.Name] = true
		}
	}
	// Selected but never seen by serve: show them as enrolled-to-be.
	for _, n := range sel {
		if !seen[n.Name] {
			out = append(out, api.NodeStatus{Name: n.Name, Phase: lifecycle.Enrolled, Reason: "serve has no state for this node yet (not loaded by serve)"})
		}
	}
	return out, nil
}

// statusReport is status's -o json|yaml shape.
type statusReport struct {
	Source string                  `json:"source"`
	Counts map[lifecycle.Phase]int `json:"counts"`
	Nodes  []api.NodeStatus        `json:"nodes"`
}

func countPhases(nodes []api.NodeStatus) map[lifecycle.Phase]int {
	c := map[lifecycle.Phase]int{}
	for _, n := range nodes {
		c[n.Phase]++
	}
	return c
}

// phaseCounts is the one-line summary: "3 nodes: ready 2, failed 1".
func phaseCounts(nodes []api.NodeStatus) string {
	c := countPhases(nodes)
	var parts []string
	for _, p := range lifecycle.Phases {
		if c[p] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, c[p]))
		}
	}
	return fmt.Sprintf("%d nodes: %s", len(nodes), strings.Join(parts, ", "))
}

func printStatus(w io.Writer, source string, nodes []api.NodeStatus, now time.Time) error {
	if nodes == nil {
		nodes = []api.NodeStatus{}
	}
	data := statusReport{Source: source, Counts: countPhases(nodes), Nodes: nodes}
	return output.Print(w, global.output, data, func(w io.Writer) error {
		fmt.Fprintf(w, "%s  (from %s)\n", phaseCounts(nodes), source)
		rows := output.Rows{Header: []string{"NODE", "PHASE", "ATTEMPT", "FOR", "CHECKS", "LAST EVENT / REASON"}}
		for _, n := range nodes {
			rows.Add(n.Name, string(n.Phase), attempt(n), age(n.EnteredAt, now), checks(n.Checks), lastOrReason(n))
		}
		return rows.Write(w)
	})
}

func attempt(n api.NodeStatus) string {
	if n.Run == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (run %d)", n.Attempt, n.Run)
}

func age(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return now.Sub(t).Truncate(time.Second).String()
}

func checks(c *api.Counts) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%d pass, %d warn, %d fail", c.Pass, c.Warn, c.Fail)
}

func lastOrReason(n api.NodeStatus) string {
	if n.Phase == lifecycle.Failed && n.Reason != "" {
		return n.Reason
	}
	if n.LastEvent == nil {
		return n.Reason
	}
	s := n.LastEvent.Kind
	if n.LastEvent.Detail != "" {
		s += ": " + n.LastEvent.Detail
	}
	return s
}
