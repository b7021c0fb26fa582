package api

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/racklift/racklift/pkg/lifecycle"
)

// The progress block stays within the terminal whatever the rack's size: no line wraps,
// it never has more lines than the screen less the cursor's, one line per node when they
// fit, and the failed nodes are still named when they do not.
func TestRedrawFitsTheTerminal(t *testing.T) {
	t.Parallel()
	nodes := func(n int) []NodeStatus {
		var out []NodeStatus
		for i := range n {
			ns := NodeStatus{Name: fmt.Sprintf("gpu-b%02d-%02d", i/16, i%16), Phase: lifecycle.Booting,
				Reason: strings.Repeat("a long reason from a BMC ", 8)}
			switch i % 5 {
			case 0:
				ns.Phase = lifecycle.Ready
			case 3:
				ns.Phase, ns.Reason = lifecycle.Failed, "BMC did not answer"
			}
			out = append(out, ns)
		}
		return out
	}
	tests := []struct {
		name       string
		nodes      int
		cols, rows int
		perNode    bool
	}{
		{name: "3 nodes at 80x24", nodes: 3, cols: 80, rows: 24, perNode: true},
		{name: "22 nodes at 80x24 fit", nodes: 22, cols: 80, rows: 24, perNode: true},
		{name: "23 nodes at 80x24 do not", nodes: 23, cols: 80, rows: 24},
		{name: "40 nodes at 80x24", nodes: 40, cols: 80, rows: 24},
		{name: "40 nodes at 200x60", nodes: 40, cols: 200, rows: 60, perNode: true},
		{name: "400 nodes at 40x10", nodes: 400, cols: 40, rows: 10},
		{name: "tiny 20x3", nodes: 40, cols: 20, rows: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			ns := nodes(tc.nodes)
			n := redraw(&b, ns, 0, tc.cols, tc.rows)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if n != len(lines) || n > tc.rows-1 {
				t.Errorf("drew %d lines (said %d) on %d rows", len(lines), n, tc.rows)
			}
			for _, l := range lines {
				if utf8.RuneCountInString(l) >= tc.cols {
					t.Errorf("line of %d columns on a %d-column terminal: %q", utf8.RuneCountInString(l), tc.cols, l)
				}
			}
			if got := n == tc.nodes+1; got != tc.perNode {
				t.Errorf("one line per node = %v, want %v:\n%s", got, tc.perNode, b.String())
			}
			if !tc.perNode && tc.rows > 4 && !strings.Contains(b.String(), "gpu-b00-03  ") {
				t.Errorf("the first failed node is not shown:\n%s", b.String())
			}
			// The next redraw moves up exactly what this one drew.
			b.Reset()
			redraw(&b, ns, n, tc.cols, tc.rows)
			if want := fmt.Sprintf("\x1b[%dA\x1b[J", n); !strings.HasPrefix(b.String(), want) {
				t.Errorf("redraw starts %q, want %q", b.String()[:min(10, b.Len())], want)
			}
		})
	}
}
