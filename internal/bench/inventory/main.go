// Command inventory (make bench-inventory) times `provision validate` and `provision
// plan` on a generated 10,000-node site and prints each figure against its goal.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"time"

	"github.com/racklift/racklift/internal/bench/inventory/invgen"
	"github.com/racklift/racklift/internal/bench/stats"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
)

func main() {
	bin := flag.String("bin", "bin/provision", "provision binary to time")
	nodes := flag.Int("nodes", 10000, "nodes in the generated site")
	perRack := flag.Int("per-rack", 40, "nodes per rack file")
	runs := flag.Int("runs", 5, "runs per figure; the median is printed")
	keep := flag.String("write", "", "only write the generated site into this directory, time nothing")
	flag.Parse()

	if *keep != "" {
		check(invgen.Write(*keep, invgen.Options{Nodes: *nodes, NodesPerRack: *perRack}))
		return
	}

	dir, err := os.MkdirTemp("", "racklift-bench-")
	check(err)
	defer os.RemoveAll(dir)
	check(invgen.Write(dir, invgen.Options{Nodes: *nodes, NodesPerRack: *perRack}))
	fmt.Printf("bench-inventory: %d nodes in %d rack files (%s), median of %d runs, %d CPUs, load average %s\n",
		*nodes, (*nodes+*perRack-1) / *perRack, dir, *runs, runtime.NumCPU(), stats.Load1())

	// What an operator waits for: the whole command, process start included. The CPU
	// time (user+sys) is printed too: on a shared machine the wall time also holds the
	// time spent waiting for a core.
	var cpu []time.Duration
	validate := median(*runs, func() { cpu = append(cpu, run(*bin, "validate", "-i", dir)) })
	validateCPU := stats.Median(cpu)
	cpu = nil
	planCLI := median(*runs, func() { cpu = append(cpu, run(*bin, "plan", "-i", dir, "-o", "json")) })
	planCPU := stats.Median(cpu)
	// The library calls alone, for where the time goes.
	var inv *inventory.Inventory
	load := median(*runs, func() {
		inv, err = inventory.Load(dir)
		check(err)
	})
	build := median(*runs, func() {
		_, err := plan.Build(inv, plan.Options{})
		check(err)
	})

	fmt.Printf("  %-38s %9s %9s %7s\n", "figure", "median", "goal", "ratio")
	row("provision validate (CLI, wall)", validate, time.Second)
	row("  cpu user+sys, both cores", validateCPU, 0)
	row("provision plan -o json (CLI, wall)", planCLI, 2*time.Second)
	row("  cpu user+sys, both cores", planCPU, 0)
	row("inventory.Load: parse+validate (lib)", load, time.Second)
	row("plan.Build (lib)", build, 2*time.Second)
}

// row prints a figure against its goal; a goal of 0 is an informative figure.
func row(name string, d, goal time.Duration) {
	if goal == 0 {
		fmt.Printf("  %-38s %9s %9s %7s\n", name, d.Round(time.Millisecond), "-", "-")
		return
	}
	verdict := "ok"
	if d > goal {
		verdict = "OVER GOAL"
	}
	fmt.Printf("  %-38s %9s %9s %6.2fx  %s\n", name, d.Round(time.Millisecond), goal, float64(d)/float64(goal), verdict)
}

// run runs the command and returns the CPU time it used.
func run(bin string, args ...string) time.Duration {
	cmd := exec.Command(bin, args...)
	cmd.Stdout = io.Discard
	cmd.Stderr = os.Stderr
	check(cmd.Run())
	return stats.ExitedCPU(cmd.ProcessState)
}

// median runs f n times and returns the median of its wall times.
func median(n int, f func()) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		t := time.Now()
		f()
		ds[i] = time.Since(t)
	}
	return stats.Median(ds)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-inventory:", err)
		os.Exit(1)
	}
}
