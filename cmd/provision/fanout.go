package main

import (
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/output"
)

// bmcFlags are the flags of every command that fans out to BMCs.
type bmcFlags struct {
	concurrency int
	timeout     time.Duration
	dryRun      bool
	force       bool
}

func addBMCFlags(cmd *cobra.Command, f *bmcFlags, withForce bool) {
	fl := cmd.Flags()
	fl.IntVar(&f.concurrency, "concurrency", bmc.DefaultConcurrency, "how many BMCs to talk to at once")
	fl.DurationVar(&f.timeout, "timeout", bmc.DefaultTimeout, "deadline per BMC, retries included (a hung BMC fails after this, the others go on)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be done to which node and BMC, change nothing")
	if withForce {
		fl.BoolVar(&f.force, "force", false, "act on nodes marked protected or maintenance in the inventory too")
	}
}

// runBMC runs op on the BMCs of the selected nodes (bmc.Run: the lock policy, dry runs,
// the fan-out) and prints one row per node; Ctrl-C stops new BMCs being started.
func runBMC(cmd *cobra.Command, g *globals, args []string, op bmc.Op, f *bmcFlags) error {
	inv, nodes, err := g.selectNodes(args)
	if err != nil {
		return err
	}
	if f.concurrency <= 0 {
		return cli.Usagef("--concurrency must be at least 1")
	}
	if f.timeout <= 0 {
		return cli.Usagef("--timeout must be positive, e.g. 30s")
	}
	req := bmc.Request{Op: op, Concurrency: f.concurrency, Timeout: f.timeout, DryRun: f.dryRun, Force: f.force,
		Secrets: g.secretsStore(), Warn: cmd.ErrOrStderr()}
	if cli.IsTerminal(cmd.ErrOrStderr()) {
		req.Progress = cmd.ErrOrStderr()
	}
	ctx, _, stop := cli.SignalContext(cmd.Context(), nil)
	defer stop()
	rep := bmc.Run(ctx, inv, nodes, req)
	if err := output.PrintOpts(cmd.OutOrStdout(), g.out(), rep, func(w io.Writer) error { return rep.WriteTable(w) }); err != nil {
		return err
	}
	if err := rep.Err(); err != nil {
		return cli.NodesFailed(rep.Failed, len(rep.Results), err.Error())
	}
	return nil
}
