package lifecycle

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// gatePower counts the cycle, says it started, then answers only once gate is closed.
type gatePower struct {
	p       *power
	gate    chan struct{}
	started chan struct{}
}

func (g gatePower) PXECycle(ctx context.Context, t Target) error {
	g.p.PXECycle(ctx, t)
	select {
	case g.started <- struct{}{}:
	default: // a later attempt's call: nobody waits for it
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// TestWaveQueuedPoweringTimeoutStartsAtIssue: in a wave, a node queued for its power
// cycle does not time out while it waits, and its powering timeout runs from the BMC
// call, not from when it entered powering. Regression (issue 20): the timeout counted
// from EnteredAt, so a node that waited for a slot longer than the powering timeout
// was retried the moment its own call went out.
func TestWaveQueuedPoweringTimeoutStartsAtIssue(t *testing.T) {
	t.Parallel()
	limits := map[Phase]time.Duration{Powering: time.Minute, PXE: time.Hour}
	r := newRig(t, Config{Wave: 1, Timeouts: limits, MaxAttempts: 3, BMCTimeout: time.Minute})
	r.up(tgt("n0"), tgt("n1"))
	r.tick() // n0 cycled and in pxe; n1 waits for the slot
	if n := r.node("n1"); !queued(n) || r.power.count("n1") != 0 {
		t.Fatalf("n1 = %+v, %d cycles; want queued", n, r.power.count("n1"))
	}
	r.clock.Add(5 * time.Minute) // n1 has waited five powering timeouts
	r.tick()
	if n := r.node("n1"); !queued(n) || n.Attempt != 1 {
		t.Fatalf("queued n1 after 5m: phase %s attempt %d queued %v; a queued node must not time out", n.Phase, n.Attempt, queued(n))
	}
	// n0 leaves pxe: n1's call goes out and does not answer yet.
	r.handle("n0", HTTPKernel)
	gate, started := make(chan struct{}), make(chan struct{}, 1)
	r.m.power = gatePower{r.power, gate, started}
	if err := r.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.m.Drain() })
	defer close(gate)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("n1's BMC call never started")
	}
	if r.power.count("n1") != 1 {
		t.Fatalf("n1 was not power-cycled once its slot freed: %d cycles", r.power.count("n1"))
	}
	r.clock.Add(limits[Powering]) // exactly the limit since the call: still in time
	if err := r.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.node("n1"); Phase(n.Phase) != Powering || n.Attempt != 1 {
		t.Fatalf("n1 one powering timeout after its call: phase %s attempt %d; want powering, attempt 1", n.Phase, n.Attempt)
	}
	r.clock.Add(time.Second) // now it has run out
	if err := r.m.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := r.node("n1"); n.Attempt != 2 || !strings.Contains(n.Reason+r.lastDetail("n1"), "did not confirm the power cycle within 1m0s") {
		t.Errorf("n1 past the powering timeout: attempt %d (%q); want attempt 2 after the powering timeout", n.Attempt, r.lastDetail("n1"))
	}
}

// lastDetail is the details of a node's recent events, joined.
func (r *rig) lastDetail(name string) string {
	var b strings.Builder
	for _, e := range r.node(name).Recent {
		b.WriteString(e.Detail + "\n")
	}
	return b.String()
}

// TestNewRunStartsFresh: up on a failed node starts run 2 at attempt 1 with no reason.
// Regression (issue 20): the new run kept the previous run's attempt counter (so it
// had fewer retries, or none) and its failure reason (shown on a node in progress).
func TestNewRunStartsFresh(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{MaxAttempts: 2})
	r.power.fail["n1"] = errors.New("401 Unauthorized")
	r.up(tgt("n1"))
	r.tick()
	r.tick()
	n := r.node("n1")
	if Phase(n.Phase) != Failed || n.Attempt != 2 || !strings.Contains(n.Reason, "401 Unauthorized") {
		t.Fatalf("first run: phase %s attempt %d reason %q; want failed at attempt 2 naming the 401", n.Phase, n.Attempt, n.Reason)
	}
	r.power.mu.Lock()
	delete(r.power.fail, "n1") // the operator fixed the credentials
	r.power.mu.Unlock()
	if ds := r.up(tgt("n1")); ds[0].Action != Start {
		t.Fatalf("up on a failed node = %+v, want start", ds[0])
	}
	n = r.node("n1")
	if Phase(n.Phase) != Powering || n.Run != 2 || n.Attempt != 1 || n.Reason != "" {
		t.Fatalf("new run: phase %s run %d attempt %d reason %q; want powering, run 2, attempt 1, no reason", n.Phase, n.Run, n.Attempt, n.Reason)
	}
	r.tick()
	if n := r.node("n1"); Phase(n.Phase) != PXE || !n.Power.IssuedFor(2, 1) || r.power.count("n1") != 3 {
		t.Errorf("new run after its tick: phase %s power %+v cycles %d; want pxe, issued for run 2 attempt 1, 3 cycles", n.Phase, n.Power, r.power.count("n1"))
	}
}
