package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
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

// bmcReport is what a fan-out prints with -o json|yaml.
type bmcReport struct {
	Action  string       `json:"action"`
	DryRun  bool         `json:"dry_run,omitempty"`
	Nodes   int          `json:"nodes"`
	Failed  int          `json:"failed"`
	Seconds float64      `json:"seconds"`
	Results []bmc.Result `json:"results"`
}

// runBMC runs op on the BMCs of the selected nodes and prints one row per node.
func runBMC(cmd *cobra.Command, args []string, op bmc.Op, f *bmcFlags) error {
	inv, nodes, err := selectNodes(args)
	if err != nil {
		return err
	}
	if f.concurrency <= 0 {
		return fmt.Errorf("--concurrency must be at least 1")
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, e.g. 30s")
	}
	secrets := &inventory.Secrets{File: global.secrets}
	opts := bmc.Options{Timeout: f.timeout, Warn: cmd.ErrOrStderr()}
	destructive := op.Boot == nil && !op.Info && bmc.Destructive(op.Power)

	results := make([]bmc.Result, len(nodes))
	var jobs []bmc.Job
	var slots []int
	for i, n := range nodes {
		r := bmc.Result{Node: n.Name, BMC: bmc.URLFor(n), Action: op.Name(), Start: time.Now()}
		r.End = r.Start
		if destructive && (n.Protected || n.Maintenance) && !f.force {
			why := "protected (in use)"
			if !n.Protected {
				why = "in maintenance"
			}
			r.Result = "refused"
			r.Error = fmt.Sprintf("node %s is %s: %s needs --force", n.Name, why, op.Name())
			results[i] = r
			continue
		}
		t, err := bmc.TargetFor(inv, n, secrets)
		var be *bmc.Error
		if err != nil && f.dryRun && errors.As(err, &be) && be.Kind == bmc.KindSecret {
			// A dry run needs no password; say what the real run will need.
			r.Result = "dry-run"
			r.Outcome.Note = fmt.Sprintf("would %s through %s as user %s; the real run needs the password: %s",
				op.Name(), t.URL(), t.Login.Username, be.Msg)
			results[i] = r
			continue
		}
		if err != nil {
			r.Result, r.Error = "failed", err.Error()
			if errors.As(err, &be) {
				r.Kind = be.Kind
			}
			results[i] = r
			continue
		}
		if f.dryRun {
			r.Result = "dry-run"
			r.Outcome.Note = fmt.Sprintf("would %s through %s as user %s", op.Name(), t.URL(), t.Login.Username)
			results[i] = r
			continue
		}
		jobs = append(jobs, bmc.Job{Node: n.Name, BMC: t.URL(), Action: op.Name(),
			Run: func(ctx context.Context) (bmc.Outcome, error) { return bmc.Do(ctx, t, op, opts) }})
		slots = append(slots, i)
	}

	start := time.Now()
	var progress bmc.Progress
	stderr := cmd.ErrOrStderr()
	stopDraw := func() {}
	if bmcIsTTY(stderr) && len(jobs) > 0 {
		// Redrawn on every result and on a tick, so time moves while BMCs are slow.
		var done, failed atomic.Int64
		var mu sync.Mutex
		draw := func() {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "\r%s: %d/%d BMCs done, %d failed, %.1fs ", op.Name(), done.Load(), len(jobs), failed.Load(), time.Since(start).Seconds())
		}
		progress = func(d, _, f int) { done.Store(int64(d)); failed.Store(int64(f)); draw() }
		tick := time.NewTicker(250 * time.Millisecond)
		quit := make(chan struct{})
		finished := make(chan struct{})
		go func() {
			defer close(finished)
			for {
				select {
				case <-tick.C:
					draw()
				case <-quit:
					return
				}
			}
		}()
		stopDraw = func() {
			tick.Stop()
			close(quit)
			<-finished
			mu.Lock()
			fmt.Fprint(stderr, "\r\033[K")
			mu.Unlock()
		}
	}
	ctx, stop := bmcSignalContext()
	defer stop()
	for k, r := range bmc.Fanout(ctx, jobs, f.concurrency, progress) {
		results[slots[k]] = r
	}
	stopDraw()

	rep := bmcReport{Action: op.Name(), DryRun: f.dryRun, Nodes: len(results), Seconds: time.Since(start).Seconds(), Results: results}
	for i := range results {
		if results[i].Seconds == 0 && results[i].Duration > 0 {
			results[i].Seconds = results[i].Duration.Seconds()
		}
		if results[i].Result != "ok" && results[i].Result != "dry-run" {
			rep.Failed++
		}
	}
	err = output.Print(cmd.OutOrStdout(), global.output, rep, func(w io.Writer) error {
		return bmcTable(w, op, results)
	})
	if err != nil {
		return err
	}
	if rep.Failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%s: %d of %d nodes failed", op.Name(), rep.Failed, len(results))}
	}
	return nil
}

func bmcTable(w io.Writer, op bmc.Op, results []bmc.Result) error {
	t := output.Rows{Header: []string{"NODE", "BMC", "ACTION", "RESULT", "OBSERVED", "DURATION", "ERROR"}}
	if op.Info {
		t.Header = []string{"NODE", "BMC", "VENDOR", "MODEL", "SERIAL", "BMC FIRMWARE", "POWER", "RESULT", "DURATION", "ERROR"}
	}
	for _, r := range results {
		d := r.Duration.Round(time.Millisecond).String()
		if r.Result == "refused" || r.Result == "dry-run" || r.Duration == 0 {
			d = "-"
		}
		msg := r.Error
		if msg == "" {
			msg = r.Outcome.Note
		}
		if op.Info {
			in := r.Outcome.Info
			if in == nil {
				in = &bmc.Info{}
			}
			t.Add(r.Node, bmcDash(r.BMC), bmcDash(in.Vendor), bmcDash(in.Model), bmcDash(in.Serial), bmcDash(in.Firmware), bmcDash(in.Power), r.Result, d, msg)
			continue
		}
		seen := r.Outcome.Power
		if b := r.Outcome.Boot; b != nil {
			seen = "boot " + b.String()
		}
		t.Add(r.Node, bmcDash(r.BMC), r.Action, r.Result, bmcDash(seen), d, msg)
	}
	return t.Write(w)
}

func bmcDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// isTerminal reports whether w is a terminal, where a progress line may be redrawn.
func bmcIsTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// bmcSignalContext ends on Ctrl-C so a fan-out stops starting new BMCs and reports.
func bmcSignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}
