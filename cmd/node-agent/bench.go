package main

import (
	"fmt"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	agentbench "github.com/racklift/racklift/internal/bench/agent"
	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

// newBenchCmd is `node-agent bench`: flags, one agentbench.Run, the table.
func newBenchCmd() *cobra.Command {
	var dir, size, fioBin, format string
	var jobs, rounds int
	var limit time.Duration
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Compare the agent's O_DIRECT storage figures with fio's on the same file",
		Long: `bench measures sequential O_DIRECT write and read on one file in DIR with the agent's
own code and with fio doing the same I/O: 1 MiB blocks, --jobs streams with one request
in flight each (fio: psync, iodepth=1, numjobs, each stream on its own region via
offset_increment), each write stream ending with fsync (fio: end_fsync=1), bounded by
the same size and time. The file is laid out once, so every timed pass overwrites
allocated blocks and neither tool allocates.

A warm-up round (printed, not counted) is followed by --rounds rounds; in each, both
tools write back to back, then both read, and which goes first alternates by round, so
both see the same disk and the same neighbours. It prints every round, each side's
median and spread (interquartile range / median), the ratio of the medians, and
the median of the per-round ratios agent/fio, on which the goal (within ±10 %) is
judged: the two runs of a round are seconds apart, so a drift of the disk's speed over
the bench cancels in each ratio. It also prints the load average and the CPU and I/O
pressure during the run. The file is removed at the end, also on SIGINT/SIGTERM.`,
		Example: `  node-agent bench --dir /raid --size 4G --jobs 4
  node-agent bench --dir /mnt/datasets --size 8G --jobs 8 --rounds 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			n, err := cli.ParseSize(size)
			if err != nil {
				return fmt.Errorf("--size: %w", err)
			}
			if rounds < 1 || jobs < 1 {
				return fmt.Errorf("--rounds and --jobs must be at least 1")
			}
			fio, err := exec.LookPath(fioBin)
			if err != nil {
				return fmt.Errorf("fio not found (%v): apt-get install fio", err)
			}
			ctx, sig, stop := signalContext()
			defer stop()
			rep, err := agentbench.Run(ctx, fio, dir, storage.Params{Size: n, Jobs: jobs, BlockSize: 1 << 20, Duration: limit}, rounds)
			if s := sig(); s != nil {
				return cli.Interrupted(s, "node-agent: interrupted by %v; bench file removed", s)
			}
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), format, rep, rep.WriteTable)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&dir, "dir", ".", "directory on the filesystem to measure")
	fl.StringVar(&size, "size", "1G", "file size (K, M, G suffixes)")
	fl.IntVar(&jobs, "jobs", 4, "parallel streams (fio numjobs), one request in flight each")
	fl.IntVar(&rounds, "rounds", 9, "counted rounds after the warm-up (each tool writes and reads once per round)")
	fl.DurationVar(&limit, "time", 2*time.Minute, "time limit of each write or read pass")
	fl.StringVar(&fioBin, "fio", "fio", "fio binary")
	fl.StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}
