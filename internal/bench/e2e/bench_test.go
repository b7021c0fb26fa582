package e2e

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/bench/stats"
	lab "github.com/racklift/racklift/internal/lab/e2e"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// BenchmarkRackUp (make bench-e2e) times `provision up` on the lab rack, from one run:
// one node (lab-01, powered on from off), then all three (lab-01 power-cycled again,
// lab-02 and lab-03 powered on), and prints their ratio. Goal: three nodes take at most
// twice as long as one, i.e. nodes come up side by side rather than one after another.
func BenchmarkRackUp(b *testing.B) {
	r := lab.NewRig(b)
	r.StartServe()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	b.ResetTimer()
	run := func(args ...string) time.Duration {
		start := time.Now()
		res, errOut, code := r.Up(ctx, args...)
		d := time.Since(start)
		if code != 0 {
			b.Fatalf("up %v: exit %d\n%s\n%+v", args, code, errOut, res.Nodes)
		}
		for _, n := range res.Nodes {
			if n.Phase != lifecycle.Ready {
				b.Fatalf("up %v: %s is %s (%s)", args, n.Name, n.Phase, n.Reason)
			}
		}
		return d
	}
	one := run("lab-01")
	three := run("all", "--reprovision")
	b.StopTimer()
	ratio := three.Seconds() / one.Seconds()
	verdict := "MET"
	if ratio > 2 {
		verdict = "MISSED"
	}
	fmt.Printf("\nbench-e2e: provision up on the lab rack (QEMU under TCG, %d CPUs)\n", runtime.NumCPU())
	fmt.Printf("  up 1 node  (lab-01)            %6.1f s\n", one.Seconds())
	fmt.Printf("  up 3 nodes (all, --reprovision) %6.1f s\n", three.Seconds())
	fmt.Printf("  ratio 3 nodes / 1 node          %6.2f   goal <= 2: %s\n", ratio, verdict)
	fmt.Printf("  load average at the end: %s\n", stats.LoadString())
	b.ReportMetric(one.Seconds(), "s/up-1")
	b.ReportMetric(three.Seconds(), "s/up-3")
	b.ReportMetric(ratio, "ratio")
}
