package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// ReportClient is what the daemon needs of the server's agent API (report.Client).
type ReportClient interface {
	// Hello tells the server the agent is up; stage is "ramdisk" or "installed".
	Hello(ctx context.Context, node, stage string) error
	// Expectations fetches the node's expectations.
	Expectations(ctx context.Context, node string) (*expect.Expectations, error)
	// Post sends one report body.
	Post(ctx context.Context, node string, body []byte) error
}

// CheckRunner runs one cycle's checks and collects the hardware inventory (Local on the
// node itself).
type CheckRunner interface {
	// Run runs the checks the expectations ask for; throughput false skips the storage
	// throughput measurements (they load the disks), not the mount checks.
	Run(ctx context.Context, exp *expect.Expectations, throughput bool) []check.Result
	Hardware() *check.Hardware
}

// Deployer puts the node's OS image on its disk (deploy.Deployer in the ramdisk). Its
// result is the report's deploy section, with Error set when it failed.
type Deployer interface {
	Deploy(ctx context.Context, node string, exp *expect.Expectations) (*check.DeployResult, error)
}

// Daemon runs the checks on an interval and reports each run to the server: reports
// go to the spool first and are removed once the server accepted them, so a server
// that is down loses nothing and gets them in order when it is back.
type Daemon struct {
	Node   string
	Stage  string       // told to the server in hello: installed or ramdisk
	Client ReportClient // nil: no server (the expectations come from ExpectFile)
	// Spool keeps reports until the server accepts them, and the last expectations the
	// server gave (for when it is down). Required with Client.
	Spool *report.Spool
	// ExpectFile, when set, gives the expectations instead of the server.
	ExpectFile string
	Checks     CheckRunner
	// Interval is the time between cycles; StorageEvery how often throughput is
	// measured (later reports repeat the last measurement, marked with its time).
	Interval, StorageEvery time.Duration
	// Once runs one cycle; with a Client it waits up to DeliverTimeout for the report
	// to be delivered.
	Once           bool
	DeliverTimeout time.Duration
	// SetUpNetworks, when set, makes the node's links match its networks before the
	// first checks that have networks to check (ApplyNetworks).
	SetUpNetworks func(ctx context.Context, exp *expect.Expectations)
	// Deploy, when set, deploys the expectations' image once, after a cycle whose checks
	// all passed (the ramdisk); the report carries its result.
	Deploy Deployer
	// LLDP, when set, listens on the expected interfaces while the checks run; what they
	// heard goes into the report (Report.LLDP) for the server to compare with the cabling.
	LLDP func(ctx context.Context, exp *expect.Expectations) []check.LLDP
	// Observe gets each cycle's results (the metrics); nil: none.
	Observe func([]check.Result)
	Log     *slog.Logger
}

// NotDeliveredError is Once's report not delivered within DeliverTimeout; it stays in
// the spool.
type NotDeliveredError struct{ Err error }

func (e *NotDeliveredError) Error() string { return e.Err.Error() }
func (e *NotDeliveredError) Unwrap() error { return e.Err }

// Run runs cycles until ctx ends (nil), or one cycle with Once, returning that cycle's
// results. A context ended while the checks run returns its error and reports nothing
// (the results are partial).
func (d *Daemon) Run(ctx context.Context) ([]check.Result, error) {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Interval <= 0 {
		return nil, fmt.Errorf("daemon interval %v: must be positive", d.Interval)
	}
	var sender *report.Sender
	if d.Client != nil {
		if d.Spool == nil {
			return nil, fmt.Errorf("node %s: a daemon that reports needs a spool", d.Node)
		}
		sender = &report.Sender{Client: d.Client, Spool: d.Spool, Log: d.Log}
		if !d.Once {
			go sender.Run(ctx)
		}
		hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := d.Client.Hello(hctx, d.Node, d.Stage); err != nil {
			d.Log.Warn("hello to the server failed (reports are spooled and retried)", "error", err.Error())
		}
		cancel()
	}

	var lastMeasured time.Time
	var lastThroughput []check.Result
	networksSetUp := false
	deployed := false
	at := whereRunning(d.Stage)
	for {
		exp := d.expectations(ctx)
		if d.SetUpNetworks != nil && !networksSetUp && len(exp.Networks) > 0 {
			networksSetUp = true
			d.SetUpNetworks(ctx, exp)
		}
		measure := lastMeasured.IsZero() || time.Since(lastMeasured) >= d.StorageEvery
		var heard chan []check.LLDP
		if d.LLDP != nil {
			heard = make(chan []check.LLDP, 1) // buffered: an early return leaves no goroutine behind
			go func() { heard <- d.LLDP(ctx, exp) }()
		}
		rs := d.Checks.Run(ctx, exp, measure)
		if measure {
			lastMeasured, lastThroughput = time.Now(), throughputResults(rs, time.Now())
		} else {
			rs = append(rs, lastThroughput...)
		}
		if err := ctx.Err(); err != nil {
			return rs, err
		}
		if d.Observe != nil {
			d.Observe(rs)
		}
		rep := check.NewReport(d.Node, Version, d.Checks.Hardware(), rs)
		if heard != nil {
			rep.LLDP = <-heard
		}
		at.stamp(rep)
		logSummary(d.Log, rs)
		if d.Deploy != nil && exp.Deploy != nil && !deployed {
			deployed = true
			rep.Deploy = d.deploy(ctx, exp, rep)
			if err := ctx.Err(); err != nil {
				return rs, err
			}
		}
		if sender != nil {
			if d.Once {
				dctx, cancel := context.WithTimeout(ctx, d.DeliverTimeout)
				err := sender.Deliver(dctx, rep)
				cancel()
				if err != nil {
					return rs, &NotDeliveredError{err}
				}
				d.Log.Info("report delivered", "node", d.Node, "failed", rep.Failed)
				return rs, nil
			}
			if _, err := sender.Spool.Put(rep); err != nil {
				d.Log.Error("cannot spool report", "error", err.Error())
			}
			sender.Kick()
		}
		if d.Once {
			return rs, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(d.Interval):
		}
	}
}

// deploy runs the Deployer when the cycle's checks passed: an OS is never put on a node
// that failed its validation.
func (d *Daemon) deploy(ctx context.Context, exp *expect.Expectations, rep *check.Report) *check.DeployResult {
	if rep.Failed {
		d.Log.Warn("image not deployed: checks failed", "image", exp.Deploy.Image)
		return &check.DeployResult{Image: exp.Deploy.Image, Error: "not deployed: the node failed its checks"}
	}
	res, err := d.Deploy.Deploy(ctx, d.Node, exp)
	if res == nil {
		res = &check.DeployResult{Image: exp.Deploy.Image}
	}
	if err != nil && res.Error == "" {
		res.Error = err.Error()
	}
	return res
}

// throughputResults keeps a run's storage measurements, marked with when they were
// taken, to repeat them in reports until the next measurement.
func throughputResults(rs []check.Result, at time.Time) []check.Result {
	var out []check.Result
	for _, r := range rs {
		if strings.HasPrefix(r.Name, "storage.") && (strings.HasSuffix(r.Name, ".write") || strings.HasSuffix(r.Name, ".read") || strings.HasSuffix(r.Name, ".buffered_read")) {
			r.Observed += " (measured " + at.UTC().Format("2006-01-02 15:04Z") + ")"
			r.Duration = 0
			out = append(out, r)
		}
	}
	return out
}

func logSummary(log *slog.Logger, rs []check.Result) {
	var failed []string
	for _, r := range rs {
		if r.Status == check.Fail {
			failed = append(failed, r.Name+": "+r.Message)
		}
	}
	if len(failed) > 0 {
		log.Warn("checks failed", "count", len(failed), "of", len(rs), "failed", strings.Join(failed, " | "))
		return
	}
	log.Info("checks passed", "count", len(rs))
}
