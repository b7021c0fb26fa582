package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
	"github.com/racklift/racklift/pkg/agent/hw"
	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/check"
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
	size, err := parseSize(f.storageSize)
	if err != nil {
		return agent.Options{}, fmt.Errorf("--storage-size: %w", err)
	}
	o := agent.Options{Net: netCheck}
	o.Storage.Params = storage.Params{Size: size, Jobs: f.storageJobs, Duration: f.storageTime}
	o.Storage.NoBuffered = f.noBufferRead
	o.GPU.XIDWindow = f.xidWindow
	if f.xidWindow == 0 {
		o.GPU.XIDWindow = -1
	}
	return o, nil
}

// netCheck runs the network checks: netcheck.Run, set in net.go.
var netCheck agent.NetFunc

// parseSize reads "512M", "1G", "1GiB", "1048576".
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 512M, 4G)", s)
	}
	return n * mult, nil
}

// signalContext is cancelled on SIGINT or SIGTERM; storage test files are removed at
// once, before the checks unwind.
func signalContext() (context.Context, func() os.Signal, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case got = <-ch:
			storage.RemoveLive()
			cancel()
		case <-done:
		}
	}()
	return ctx, func() os.Signal { return got }, func() {
		signal.Stop(ch)
		close(done)
		cancel()
	}
}

func init() {
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
				return &exitError{code: 128 + int(s.(syscall.Signal)), msg: fmt.Sprintf("node-agent: interrupted by %v; storage test files removed", s)}
			}
			var inv *check.Hardware
			if withHW {
				inv = hw.Collect(hw.Roots{})
			}
			rep := check.NewReport(exp.Node, agent.Version, inv, rs)
			if err := output.Print(cmd.OutOrStdout(), format, rep, func(w io.Writer) error { return resultTable(w, rs) }); err != nil {
				return err
			}
			return verdict(rs)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&format, "output", "o", "table", "output format: table, json or yaml")
	cmd.Flags().StringVar(&node, "node", "", "node name for the report (default: the file's node, else the hostname)")
	cmd.Flags().BoolVar(&withHW, "hardware", false, "include the hardware inventory in -o json/yaml")
	root.AddCommand(cmd)
}

func resultTable(w io.Writer, rs []check.Result) error {
	t := output.Rows{Header: []string{"CHECK", "STATUS", "OBSERVED", "EXPECTED", "MESSAGE", "TIME"}}
	for _, r := range rs {
		t.Add(r.Name, strings.ToUpper(string(r.Status)), r.Observed, r.Expected, r.Message, fmt.Sprintf("%.1fs", r.Duration.Seconds()))
	}
	if len(rs) == 0 {
		fmt.Fprintln(w, "no checks: the expectations ask for no GPU, storage or network")
		return nil
	}
	return t.Write(w)
}

// verdict is exit status 1 with a summary on stderr when any check failed.
func verdict(rs []check.Result) error {
	var failed, warned []string
	for _, r := range rs {
		switch r.Status {
		case check.Fail:
			failed = append(failed, r.Name)
		case check.Warn:
			warned = append(warned, r.Name)
		}
	}
	if len(warned) > 0 {
		fmt.Fprintf(os.Stderr, "node-agent: %d warning(s): %s\n", len(warned), strings.Join(warned, ", "))
	}
	if len(failed) > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("node-agent: %d of %d checks failed: %s", len(failed), len(rs), strings.Join(failed, ", "))}
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
