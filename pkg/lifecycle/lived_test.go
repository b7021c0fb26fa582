package lifecycle

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// Tests for mutants gremlins left alive in machine.go (docs/dev/testing.md).

// TestSetTargetsEnrollsEveryNewNode: an inventory with several new nodes enrolls all
// of them, not the first only.
func TestSetTargetsEnrollsEveryNewNode(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	if err := r.m.SetTargets([]Target{tgt("a"), tgt("b"), tgt("c")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if n := r.node(name); Phase(n.Phase) != Enrolled {
			t.Errorf("%s: phase %q, want enrolled", name, n.Phase)
		}
	}
}

// TestNewFillsDefaults: a zero Config gets a logger (a machine logs a failed tick or an
// unrecorded BMC result), 3 attempts, a 90s BMC timeout and every phase's timeout.
func TestNewFillsDefaults(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	m := New(r.store, nil, nil, Config{})
	if m.cfg.Log == nil || m.cfg.Now == nil || m.cfg.MaxAttempts != 3 || m.cfg.BMCTimeout.Seconds() != 90 {
		t.Fatalf("defaults: log %v now %v attempts %d bmc %v", m.cfg.Log != nil, m.cfg.Now != nil, m.cfg.MaxAttempts, m.cfg.BMCTimeout)
	}
	m.cfg.Log.Error("a logger that works") // must not panic
	for p, d := range DefaultTimeouts {
		if m.cfg.Timeouts[p] != d {
			t.Errorf("timeout %s = %v, want the default %v", p, m.cfg.Timeouts[p], d)
		}
	}
}

// failMinter cannot mint: the node must fail entering pxe.
type failMinter struct{}

func (failMinter) Mint(*state.Node, string, time.Time) error { return errors.New("no entropy") }

// TestTransitionEvents: reaching ready logs lifecycle.ready, a transition that fails
// (the token cannot be minted) logs lifecycle.failed, and other transitions log neither.
func TestTransitionEvents(t *testing.T) {
	t.Parallel()
	kinds := func(r *rig, name string) string {
		evs, err := r.store.Events(state.Query{Node: name})
		if err != nil {
			t.Fatal(err)
		}
		var ks []string
		for _, e := range evs {
			ks = append(ks, e.Kind)
		}
		return strings.Join(ks, " ")
	}
	r := newRig(t, Config{})
	r.up(tgt("ok"))
	r.tick() // powering → pxe
	if k := kinds(r, "ok"); strings.Contains(k, string(NodeFailed)) || strings.Contains(k, string(NodeReady)) {
		t.Errorf("events to pxe: %s", k)
	}
	for _, k := range []Kind{HTTPKernel, AgentHello, AgentExpect} {
		r.handle("ok", k)
	}
	if _, err := r.m.Report("ok", []byte(`{}`), true, ""); err != nil {
		t.Fatal(err)
	}
	if k := kinds(r, "ok"); !strings.HasSuffix(k, string(NodeReady)) || strings.Contains(k, string(NodeFailed)) {
		t.Errorf("events to ready: %s; want lifecycle.ready last, no lifecycle.failed", k)
	}

	bad := newRig(t, Config{})
	bad.m = New(bad.store, bad.power, failMinter{}, Config{Now: bad.clock.Now})
	bad.up(tgt("n"))
	bad.tick()
	n := bad.node("n")
	if Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "could not mint the agent token for n: no entropy") {
		t.Fatalf("mint failure: phase %s reason %q", n.Phase, n.Reason)
	}
	if k := kinds(bad, "n"); !strings.HasSuffix(k, string(NodeFailed)) || strings.Contains(k, string(NodeReady)) {
		t.Errorf("events of a failed transition: %s; want lifecycle.failed last", k)
	}
}

// TestZeroTimeoutNeverExpires: a phase whose timeout is set to 0 waits as long as it
// takes (a node that boots a slow installer), the other phases keep theirs.
func TestZeroTimeoutNeverExpires(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Timeouts: map[Phase]time.Duration{PXE: 0, Booting: time.Minute}})
	r.put("n", PXE, true)
	r.clock.Add(24 * time.Hour)
	r.tick()
	if n := r.node("n"); Phase(n.Phase) != PXE || n.Attempt != 1 {
		t.Fatalf("pxe with timeout 0 after a day: %s attempt %d; want pxe, attempt 1", n.Phase, n.Attempt)
	}
	r.handle("n", HTTPKernel) // booting: its own minute applies
	r.clock.Add(time.Minute + time.Second)
	r.tick()
	if n := r.node("n"); n.Attempt != 2 {
		t.Errorf("booting past its minute: attempt %d, want 2", n.Attempt)
	}
}

// TestTimeoutReasonNamesTheLastEvent: a timeout's reason names the node's last event
// (with its detail when it has one), or none.
func TestTimeoutReasonNamesTheLastEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		recent []state.Event
		want   string
	}{
		{recent: nil, want: "(last event: none)"},
		{recent: []state.Event{{Kind: "dhcp.offer", Detail: "old"}, {Kind: "tftp.transfer", Detail: "undionly.kpxe"}}, want: "(last event: tftp.transfer (undionly.kpxe))"},
		{recent: []state.Event{{Kind: "dhcp.ack"}}, want: "(last event: dhcp.ack)"},
	} {
		got := timeoutReason(PXE, tgt("n"), time.Minute, &state.Node{Recent: tc.recent})
		if !strings.Contains(got, tc.want) {
			t.Errorf("recent %v: %q; want it to contain %q", tc.recent, got, tc.want)
		}
	}
}
