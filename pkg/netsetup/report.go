package netsetup

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Roles a node's OS does not configure itself: the PXE network comes up by DHCP at boot,
// BMC and out-of-band networks belong to the BMC.
var nodeUnmanaged = map[string]bool{"provisioning": true, "bmc": true, "oob": true}

// NodeManaged keeps the networks a node sets up itself (storage, compute, management...).
func NodeManaged(nets []expect.Network) []expect.Network {
	var out []expect.Network
	for _, n := range nets {
		if !nodeUnmanaged[n.Role] {
			out = append(out, n)
		}
	}
	return out
}

// Report is what `net plan|apply|down` prints.
type Report struct {
	Action  string         `json:"action"` // plan, apply, down
	DryRun  bool           `json:"dry_run,omitempty"`
	Changes []Change       `json:"changes"`
	Kept    []string       `json:"kept,omitempty"`
	Summary string         `json:"summary"`
	Applied bool           `json:"applied"`
	Checks  []check.Result `json:"checks,omitempty"`
}

// Prober probes networks once they are configured; netcheck.Options is the agent's.
type Prober interface {
	Run(ctx context.Context, nets []expect.Network) []check.Result
}

// Verify runs after apply: Enabled false, or no Probe, skips the network probes.
type Verify struct {
	Enabled bool
	Probe   Prober
}

// Run plans (action plan or apply) or plans the teardown (down), applies unless it is a
// plan or a dry run, then probes each configured network (gateway ARP, DF MTU probe,
// peers) so a VLAN the switch does not carry is named at once.
func Run(ctx context.Context, action string, d Desired, opt Options, dryRun bool, v Verify) (*Report, error) {
	var p *Plan
	var err error
	switch action {
	case "plan", "apply":
		p, err = opt.Plan(d)
	case "down":
		p, err = opt.Down()
	default:
		return nil, fmt.Errorf("unknown action %q", action)
	}
	if err != nil {
		return nil, err
	}
	r := &Report{Action: action, DryRun: dryRun, Changes: p.Changes, Kept: p.Kept, Summary: p.Summary()}
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	if action == "plan" || dryRun {
		return r, nil
	}
	if err := p.Apply(); err != nil {
		return r, err
	}
	r.Applied = true
	if action == "apply" && v.Enabled && v.Probe != nil && len(p.Desired.Networks) > 0 {
		r.Checks = v.Probe.Run(ctx, p.Desired.Networks)
	}
	return r, nil
}

// RunNetworks is `net plan|apply|down` of both CLIs (provision net for the host's
// networks, node-agent net for the node's): the links nets need, planned and made as Run
// does (down ignores nets). When the links are set up but a verification probe failed,
// the report comes with a *VerifyError naming the failed checks.
func RunNetworks(ctx context.Context, action string, nets []expect.Network, opt Options, dryRun bool, v Verify) (*Report, error) {
	var d Desired
	if action != "down" {
		var err error
		if d, err = FromNetworks(nets, opt.Kind); err != nil {
			return nil, err
		}
	}
	r, err := Run(ctx, action, d, opt, dryRun, v)
	if err != nil {
		return r, err
	}
	return r, r.Err()
}

// VerifyError is an apply whose links are set up while some network probes failed.
type VerifyError struct {
	Failed []string // check names
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("the links are set up, but %d network check(s) failed: %s", len(e.Failed), strings.Join(e.Failed, ", "))
}

// Err is a *VerifyError when a verification check failed, else nil.
func (r *Report) Err() error {
	if failed := r.Failed(); len(failed) > 0 {
		return &VerifyError{Failed: failed}
	}
	return nil
}

// WriteText prints the report for people: the diff, what was kept, the outcome, then the
// verification, failures first with their message.
func (r *Report) WriteText(w io.Writer) error {
	for _, c := range r.Changes {
		fmt.Fprintln(w, c.String())
	}
	for _, k := range r.Kept {
		fmt.Fprintln(w, "  kept: "+k)
	}
	switch {
	case len(r.Changes) == 0:
		fmt.Fprintln(w, r.Summary)
	case r.Action == "plan":
		fmt.Fprintf(w, "%s (run apply to make them)\n", r.Summary)
	case r.DryRun:
		fmt.Fprintf(w, "%s (dry run: nothing changed)\n", r.Summary)
	case r.Applied:
		fmt.Fprintf(w, "applied: %s\n", r.Summary)
	}
	if len(r.Checks) == 0 {
		return nil
	}
	fmt.Fprintln(w, "verification:")
	for _, c := range r.Checks {
		line := fmt.Sprintf("  %-4s %s", strings.ToUpper(string(c.Status)), c.Name)
		if c.Observed != "" {
			line += ": " + c.Observed
		}
		if c.Message != "" && c.Status != check.Pass {
			line += "\n       " + c.Message
		}
		fmt.Fprintln(w, line)
	}
	return nil
}

// Failed lists the names of failed verification checks.
func (r *Report) Failed() []string {
	var out []string
	for _, c := range r.Checks {
		if c.Status == check.Fail {
			out = append(out, c.Name)
		}
	}
	return out
}
