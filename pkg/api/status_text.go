package api

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/sanitize"
)

// StatusReport is `provision status`: where the nodes are, counted per phase; what
// -o json|yaml prints.
type StatusReport struct {
	Source string                  `json:"source"`
	Counts map[lifecycle.Phase]int `json:"counts"`
	Nodes  []NodeStatus            `json:"nodes"`
}

// NewStatusReport counts the nodes' phases; source names where they were read.
func NewStatusReport(source string, nodes []NodeStatus) StatusReport {
	if nodes == nil {
		nodes = []NodeStatus{}
	}
	return StatusReport{Source: source, Counts: countPhases(nodes), Nodes: nodes}
}

// WriteText prints the counts line and a row per node; now dates how long each has been
// in its phase.
func (s StatusReport) WriteText(w io.Writer, now time.Time) error {
	fmt.Fprintf(w, "%s  (from %s)\n", PhaseCounts(s.Nodes), s.Source)
	rows := output.Rows{Header: []string{"NODE", "PHASE", "BOOT", "ATTEMPT", "FOR", "CHECKS", "LAST EVENT / REASON"}}
	for _, n := range s.Nodes {
		phase := string(n.Phase)
		if n.Installed {
			phase += ", installed"
		}
		rows.Add(n.Name, phase, n.bootText(), n.attempt(), age(n.EnteredAt, now), n.Checks.String(), n.lastOrReason())
	}
	return rows.Write(w)
}

// SelectStatus keeps the nodes selected in the inventory, in serve's order, and shows a
// selected node serve has no state for as enrolled, saying so.
func SelectStatus(nodes []NodeStatus, selected []*inventory.Node) []NodeStatus {
	want := map[string]bool{}
	for _, n := range selected {
		want[n.Name] = true
	}
	var out []NodeStatus
	seen := map[string]bool{}
	for _, n := range nodes {
		if want[n.Name] {
			out = append(out, n)
			seen[n.Name] = true
		}
	}
	for _, n := range selected {
		if !seen[n.Name] {
			out = append(out, NodeStatus{Name: n.Name, Phase: lifecycle.Enrolled, Reason: "serve has no state for this node yet (not loaded by serve)"})
		}
	}
	return out
}

func countPhases(nodes []NodeStatus) map[lifecycle.Phase]int {
	c := map[lifecycle.Phase]int{}
	for _, n := range nodes {
		c[n.Phase]++
	}
	return c
}

// PhaseCounts is the one-line summary: "3 nodes: ready 2, failed 1".
func PhaseCounts(nodes []NodeStatus) string {
	c := countPhases(nodes)
	var parts []string
	for _, p := range lifecycle.Phases {
		if c[p] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p, c[p]))
		}
	}
	return fmt.Sprintf("%d nodes: %s", len(nodes), strings.Join(parts, ", "))
}

func (n NodeStatus) attempt() string {
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

// String is "8 pass, 0 warn, 1 fail", or "-" before any report.
func (c *Counts) String() string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%d pass, %d warn, %d fail", c.Pass, c.Warn, c.Fail)
}

// lastOrReason is a failed node's reason, else its last event.
func (n NodeStatus) lastOrReason() string {
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

// phaseLine is a node's progress line: phase, attempt after the first, reason or event.
func (n NodeStatus) phaseLine() string {
	s := string(n.Phase)
	if n.Attempt > 1 {
		s += fmt.Sprintf(" (attempt %d)", n.Attempt)
	}
	if r := n.lastOrReason(); r != "" {
		s += "  " + sanitize.Escape(r)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
