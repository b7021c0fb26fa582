package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
	"github.com/racklift/racklift/pkg/agent/hw"
	"github.com/racklift/racklift/pkg/agent/netcheck"
	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/output"
)

// checkFlags are shared by check and daemon.
type checkFlags struct {
	expect       string
	storageSize  string
	storageTime  time.Duration
	storageJobs  int
	xidWindow    time.Duration
	noBufferRead bool
}

func (f *checkFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.expect, "expect", "", "expectations file (YAML or JSON), e.g. from 'node-agent expect -i INVENTORY NODE'")
	fl.StringVar(&f.storageSize, "storage-size", "1G", "size of each mount's test file (K, M, G, T suffixes, binary)")
	fl.DurationVar(&f.storageTime, "storage-time", 30*time.Second, "time limit of each storage phase (write, read, buffered read)")
	fl.IntVar(&f.storageJobs, "storage-jobs", 4, "parallel O_DIRECT streams per mount (requests in flight)")
	fl.DurationVar(&f.xidWindow, "xid-window", 2*time.Second, "how long to listen for NVML Xid events")
	fl.BoolVar(&f.noBufferRead, "no-buffered-read", false, "skip the buffered single-stream read")
}

func (f *checkFlags) options() (agent.Options, error) {
	size, err := cli.ParseSize(f.storageSize)
	if err != nil {
		return agent.Options{}, fmt.Errorf("--storage-size: %w", err)
	}
	o := agent.Options{Net: netcheck.Run}
	o.Storage.Params = storage.Params{Size: size, Jobs: f.storageJobs, Duration: f.storageTime}
	o.Storage.NoBuffered = f.noBufferRead
	o.GPU.XIDWindow = f.xidWindow
	if f.xidWindow == 0 {
		o.GPU.XIDWindow = -1
	}
	return o, nil
}

// signalContext is cancelled on SIGINT or SIGTERM; storage test files are removed at
// once, before the checks unwind.
func signalContext() (context.Context, func() os.Signal, context.CancelFunc) {
	return cli.SignalContext(context.Background(), storage.RemoveLive)
}

func newCheckCmd() *cobra.Command {
	var f checkFlags
	var format, node string
	var withHW bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run the GPU, storage and network checks once and print the results",
		Long: `check runs every check the expectations ask for and prints one row per check:
name, status (pass, warn, fail), what was observed, what was expected, a message saying
what is wrong and the likely fix, and how long it took. Exit status 1 if any check failed.

On SIGINT or SIGTERM the storage test files are removed before the agent exits.`,
		Example: `  node-agent check --expect /etc/racklift/expect.yaml
  node-agent check --expect expect.yaml -o json
  node-agent check --expect expect.yaml --storage-size 4G --storage-time 60s --storage-jobs 8`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(format); err != nil {
				return err
			}
			if f.expect == "" {
				return fmt.Errorf("--expect FILE is required (or run 'node-agent daemon --server URL')")
			}
			exp, err := expect.Load(f.expect)
			if err != nil {
				return err
			}
			if node != "" {
				exp.Node = node
			}
			if exp.Node == "" {
				exp.Node, _ = os.Hostname()
			}
			opts, err := f.options()
			if err != nil {
				return err
			}
			ctx, sig, stop := signalContext()
			defer stop()
			rs := agent.Run(ctx, exp, agent.Checkers(opts))
			if s := sig(); s != nil {
				return cli.Interrupted(s, "node-agent: interrupted by %v; storage test files removed", s)
			}
			var inv *check.Hardware
			if withHW {
				inv = hw.Collect(hw.Roots{})
			}
			rep := check.NewReport(exp.Node, agent.Version, inv, rs)
			if err := output.Print(cmd.OutOrStdout(), format, rep, func(w io.Writer) error { return resultTable(w, rs) }); err != nil {
				return err
			}
			return verdict(cmd.ErrOrStderr(), rs)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	cmd.Flags().StringVar(&node, "node", "", "node name for the report (default: the file's node, else the hostname)")
	cmd.Flags().BoolVar(&withHW, "hardware", false, "include the hardware inventory in -o json/yaml")
	return cmd
}
