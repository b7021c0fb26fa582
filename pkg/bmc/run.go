package bmc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/nodelock"
	"github.com/racklift/racklift/pkg/output"
)

// Request is one operation on the BMCs of many nodes, as `provision power`, `boot` and
// `bmc info` ask for it.
type Request struct {
	Op          Op
	Concurrency int           // BMCs talked to at once; DefaultConcurrency when 0
	Timeout     time.Duration // deadline per BMC, retries included; DefaultTimeout when 0
	DryRun      bool          // say what would be done to which node and BMC, talk to none
	Force       bool          // act on protected and maintenance nodes too
	Secrets     *inventory.Secrets
	Warn        io.Writer // the one-time insecure TLS warning (nil: stderr)
	Progress    io.Writer // a terminal to redraw a progress line on; nil: none
}

// Report is a fan-out's outcome, one result per node in the order asked: what
// -o json|yaml prints.
type Report struct {
	Action  string   `json:"action"`
	DryRun  bool     `json:"dry_run,omitempty"`
	Nodes   int      `json:"nodes"`
	Failed  int      `json:"failed"`
	Seconds float64  `json:"seconds"`
	Results []Result `json:"results"`

	op Op
}

// Run carries out req on the nodes' BMCs. A node whose action the lock policy refuses
// (nodelock.Check: protected or maintenance, without Force) is never contacted; a
// dry run resolves every target and says what it would do. Ctx ending stops new BMCs
// from being started; the report still has a row for every node.
func Run(ctx context.Context, inv *inventory.Inventory, nodes []*inventory.Node, req Request) *Report {
	op := req.Op
	opts := Options{Timeout: req.Timeout, Warn: req.Warn}
	results := make([]Result, len(nodes))
	var jobs []Job
	var slots []int
	for i, n := range nodes {
		r := Result{Node: n.Name, BMC: URLFor(n), Action: op.Name(), Start: time.Now()}
		r.End = r.Start
		if op.interrupts() {
			lock := nodelock.Node{Name: n.Name, Protected: n.Protected, Maintenance: n.Maintenance}
			if err := nodelock.Check(lock, op.Name(), req.Force); err != nil {
				r.Result, r.Error = "refused", err.Error()
				results[i] = r
				continue
			}
		}
		t, err := TargetFor(inv, n, req.Secrets)
		var be *Error
		if err != nil && req.DryRun && errors.As(err, &be) && be.Kind == KindSecret {
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
		if req.DryRun {
			r.Result = "dry-run"
			r.Outcome.Note = fmt.Sprintf("would %s through %s as user %s", op.Name(), t.URL(), t.Login.Username)
			results[i] = r
			continue
		}
		jobs = append(jobs, Job{Node: n.Name, BMC: t.URL(), Action: op.Name(),
			Run: func(ctx context.Context) (Outcome, error) { return Do(ctx, t, op, opts) }})
		slots = append(slots, i)
	}

	start := time.Now()
	var progress Progress
	stopDraw := func() {}
	if req.Progress != nil && len(jobs) > 0 {
		progress, stopDraw = progressLine(req.Progress, op.Name(), len(jobs), start)
	}
	for k, r := range Fanout(ctx, jobs, req.Concurrency, progress) {
		results[slots[k]] = r
	}
	stopDraw()

	rep := &Report{Action: op.Name(), DryRun: req.DryRun, Nodes: len(results), Seconds: time.Since(start).Seconds(), Results: results, op: op}
	for i := range results {
		if results[i].Result != "ok" && results[i].Result != "dry-run" {
			rep.Failed++
		}
	}
	return rep
}

// interrupts reports whether the operation can interrupt a running node: the ones the
// lock policy guards.
func (op Op) interrupts() bool {
	if op.Boot != nil {
		// A network or firmware-setup boot takes the node away from its OS at its next
		// start (an install, or a halt in setup); the local disk is harmless.
		return op.Boot.Device == BootPXE || op.Boot.Device == BootBIOS
	}
	return !op.Info && Destructive(op.Power)
}

// Err is nil when every node succeeded (or would, in a dry run), else it counts the
// failed and refused ones.
func (r *Report) Err() error {
	if r.Failed == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d of %d nodes failed", r.Action, r.Failed, len(r.Results))
}

// WriteTable prints one row per node: the result, what the BMC showed afterwards (or its
// identity, for bmc info), how long it took and the error.
func (r *Report) WriteTable(w io.Writer) error {
	info := r.op.Info
	t := output.Rows{Header: []string{"NODE", "BMC", "ACTION", "RESULT", "KIND", "OBSERVED", "DURATION", "ERROR"}}
	if info {
		t.Header = []string{"NODE", "BMC", "VENDOR", "MODEL", "SERIAL", "BIOS", "BMC FIRMWARE", "POWER", "HEALTH", "RESULT", "KIND", "DURATION", "ERROR"}
	}
	for _, res := range r.Results {
		d := res.Duration.Round(time.Millisecond).String()
		if res.Duration == 0 { // refused, a dry run, or failed before any BMC was asked
			d = "-"
		}
		msg := res.Error
		if msg == "" {
			msg = res.Outcome.Note
		}
		if info {
			in := res.Outcome.Info
			if in == nil {
				in = &Info{}
			}
			t.Add(res.Node, dash(res.BMC), dash(in.Vendor), dash(in.Model), dash(in.Serial), dash(in.BIOS), dash(in.Firmware), dash(in.Power), dash(in.Health), res.Result, dash(string(res.Kind)), d, msg)
			continue
		}
		seen := res.Outcome.Power
		if b := res.Outcome.Boot; b != nil {
			seen = "boot " + b.String()
		}
		t.Add(res.Node, dash(res.BMC), res.Action, res.Result, dash(string(res.Kind)), dash(seen), d, msg)
	}
	return t.Write(w)
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
