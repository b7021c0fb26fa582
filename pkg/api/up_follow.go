package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/state"
)

// UpResult is `provision up`: serve's decision per node and, once followed, where each
// node ended; what -o json|yaml prints.
type UpResult struct {
	DryRun    bool                 `json:"dry_run,omitempty"`
	Decisions []lifecycle.Decision `json:"decisions"`
	Nodes     []NodeStatus         `json:"nodes,omitempty"`
	Failed    int                  `json:"failed"`
	Seconds   float64              `json:"seconds"`

	followed bool
}

// UpWatch is where up shows its progress while it follows the nodes.
type UpWatch struct {
	Log    io.Writer // refusals, each node's phase changes, serve leaving and coming back
	Redraw io.Writer // a terminal: redraw a block of counts and one line per node here instead of logging phase changes; nil: none
	// Size is Redraw's size in columns and rows, asked at every redraw (a window may be
	// resized); nil or ok false: 80x24.
	Size func() (cols, rows int, ok bool)
}

// UpAndFollow asks serve to bring the nodes up and, with follow, follows the started ones to ready
// or failed. The result is there to print even with an error (following stopped): it
// counts refused nodes, and followed nodes that did not end ready, as failed.
func (c *Client) UpAndFollow(ctx context.Context, req UpRequest, follow bool, watch UpWatch) (*UpResult, error) {
	start := time.Now()
	resp, err := c.Up(ctx, req)
	if err != nil {
		return nil, err
	}
	res := &UpResult{DryRun: req.DryRun, Decisions: resp.Decisions}
	var toFollow []string
	for _, d := range resp.Decisions {
		switch d.Action {
		case lifecycle.Refused:
			res.Failed++
			fmt.Fprintf(watch.Log, "refused: %s\n", d.Detail)
		case lifecycle.Start, lifecycle.Resume:
			toFollow = append(toFollow, d.Node)
		}
	}
	if req.DryRun || !follow || len(toFollow) == 0 {
		res.Seconds = time.Since(start).Seconds()
		return res, nil
	}
	res.followed = true
	res.Nodes, err = c.follow(ctx, toFollow, resp.LastSeq, watch)
	for _, n := range res.Nodes {
		if n.Phase != lifecycle.Ready {
			res.Failed++
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, err
}

// WriteText prints the decisions, or once followed the counts and time taken and where
// each node ended.
func (r *UpResult) WriteText(w io.Writer) error {
	if !r.followed {
		rows := output.Rows{Header: []string{"NODE", "ACTION", "PHASE", "DETAIL"}}
		for _, d := range r.Decisions {
			rows.Add(d.Node, string(d.Action), string(d.Phase), d.Detail)
		}
		return rows.Write(w)
	}
	took := time.Duration(r.Seconds * float64(time.Second)).Truncate(time.Second)
	fmt.Fprintf(w, "%s in %s\n", PhaseCounts(r.Nodes), took)
	rows := output.Rows{Header: []string{"NODE", "PHASE", "ATTEMPT", "CHECKS", "REASON / LAST EVENT"}}
	for _, n := range r.Nodes {
		rows.Add(n.Name, string(n.Phase), n.attempt(), n.Checks.String(), n.lastOrReason())
	}
	return rows.Write(w)
}

// follow follows the nodes' events until every one is ready or failed (or left its run
// another way: nothing more will happen to it in this run), showing the progress, and
// returns their final status. When serve goes away it waits for it to come back and
// carries on from the last event seen.
func (c *Client) follow(ctx context.Context, names []string, after uint64, watch UpWatch) ([]NodeStatus, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	last := map[string]lifecycle.Phase{}
	drawn := 0
	away := false
	var cur []NodeStatus
	for {
		all, err := c.Nodes(ctx)
		if err == nil {
			if away {
				fmt.Fprintln(watch.Log, "serve is back: carrying on")
				away = false
			}
			cur = cur[:0]
			for _, n := range all {
				if want[n.Name] {
					cur = append(cur, n)
				}
			}
			sort.Slice(cur, func(i, j int) bool { return cur[i].Name < cur[j].Name })
			if watch.Redraw != nil {
				cols, rows, ok := 0, 0, false
				if watch.Size != nil {
					cols, rows, ok = watch.Size()
				}
				if !ok {
					cols, rows = 80, 24
				}
				drawn = redraw(watch.Redraw, cur, drawn, cols, rows)
			} else {
				for _, n := range cur {
					if last[n.Name] != n.Phase {
						fmt.Fprintf(watch.Log, "%s  %-10s %s\n", time.Now().Format("15:04:05"), n.Name, n.phaseLine())
						last[n.Name] = n.Phase
					}
				}
			}
			finished := len(cur) == len(names)
			for _, n := range cur {
				finished = finished && !n.Phase.Active()
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
			var se *StatusError
			if errors.As(err, &se) {
				return cur, err
			}
			if !away {
				fmt.Fprintf(watch.Log, "serve went away (%v): waiting for it to come back; it resumes where it stopped\n", err)
				away = true
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// redraw replaces the previous progress block on a terminal of cols x rows and returns
// how many lines it drew. The block must stay within the screen, or moving the cursor
// back up cannot reach its top and every redraw leaves a copy behind: each line is cut
// to cols-1 columns (no wrapping), and it has at most rows-1 lines (the cursor's line
// stays free). One line per node when they fit; else the counts, the nodes not ready
// (failed first) as far as they fit, and a line saying how many are not shown.
func redraw(w io.Writer, nodes []NodeStatus, prev, cols, rows int) int {
	var lines []string
	lines = append(lines, PhaseCounts(nodes))
	room := max(rows-1, 1) - 1 // lines left under the counts
	nodeLine := func(n NodeStatus) string { return fmt.Sprintf("  %-16s %s", n.Name, n.phaseLine()) }
	if len(nodes) <= room {
		for _, n := range nodes {
			lines = append(lines, nodeLine(n))
		}
	} else if room > 0 {
		var failed, active []NodeStatus
		for _, n := range nodes {
			switch {
			case n.Phase == lifecycle.Failed:
				failed = append(failed, n)
			case n.Phase != lifecycle.Ready:
				active = append(active, n)
			}
		}
		shown := append(failed, active...)
		if len(shown) > room-1 {
			shown = shown[:room-1]
		}
		for _, n := range shown {
			lines = append(lines, nodeLine(n))
		}
		lines = append(lines, fmt.Sprintf("  ... %d more not shown (%dx%d terminal); failed and active nodes first", len(nodes)-len(shown), cols, rows))
	}
	var b strings.Builder
	if prev > 0 {
		fmt.Fprintf(&b, "\x1b[%dA\x1b[J", prev)
	}
	for _, l := range lines {
		b.WriteString(fitWidth(l, cols-1))
		b.WriteByte('\n')
	}
	io.WriteString(w, b.String())
	return len(lines)
}

// fitWidth cuts s to at most width runes, marking the cut with "...".
func fitWidth(s string, width int) string {
	width = max(width, 4)
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-3]) + "..."
}
