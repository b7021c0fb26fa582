package bmc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A stalled job gives its slot away but keeps its own deadline; active jobs never
// exceed the concurrency. With one slot, the stalled job waits for all the others:
// only if it gave up its slot can they run before its deadline.
func TestFanoutStalledJobGivesUpItsSlot(t *testing.T) {
	t.Parallel()
	const n, conc, hung = 30, 1, 10 // ten quick successes first: the median the stall rule needs
	var active, peak, others atomic.Int64
	allOthersDone := make(chan struct{})
	jobs := make([]Job, n)
	for i := range jobs {
		jobs[i] = Job{Node: "n", Run: func(ctx context.Context) (Outcome, error) {
			if i == hung {
				select {
				case <-allOthersDone:
					return Outcome{Note: "others finished first"}, nil
				case <-time.After(30 * time.Second):
					return Outcome{}, &Error{Node: "n", Msg: "no answer before the deadline", Kind: KindTimeout}
				}
			}
			a := active.Add(1)
			for p := peak.Load(); a > p && !peak.CompareAndSwap(p, a); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			active.Add(-1)
			if others.Add(1) == n-1 {
				close(allOthersDone)
			}
			return Outcome{}, nil
		}}
	}
	res := Fanout(context.Background(), jobs, conc, nil)
	if h := res[hung]; h.Result != "ok" || h.Outcome.Note != "others finished first" {
		t.Fatalf("the stalled job kept its slot: %+v", h)
	}
	for i, r := range res {
		// With one slot, a job can start before the stalled one ends only in the slot it gave up.
		if i != hung && (r.Result != "ok" || !r.Start.Before(res[hung].End)) {
			t.Errorf("job %d: %s, started after the stalled one ended", i, r.Result)
		}
	}
	if p := peak.Load(); p > conc {
		t.Errorf("%d healthy jobs ran at once, concurrency is %d", p, conc)
	}
}

func TestFanoutCancelledStartsNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ran atomic.Int64
	jobs := []Job{{Node: "a", Run: func(context.Context) (Outcome, error) { ran.Add(1); return Outcome{}, nil }}}
	res := Fanout(ctx, jobs, 1, nil)
	if res[0].Result != "failed" || ran.Load() != 0 {
		t.Errorf("cancelled fan-out: %+v, ran %d", res[0], ran.Load())
	}
}
