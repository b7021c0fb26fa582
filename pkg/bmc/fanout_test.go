package bmc

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A stalled job gives its slot away but keeps its own deadline; active jobs never
// exceed the concurrency.
func TestFanoutStalledJobGivesUpItsSlot(t *testing.T) {
	t.Parallel()
	const n, conc = 200, 2 // 199 × 30 ms on one slot would outlast the 5 s deadline
	var active, peak atomic.Int64
	jobs := make([]Job, n)
	for i := range jobs {
		hung := i == 3
		jobs[i] = Job{Node: "n", Run: func(ctx context.Context) (Outcome, error) {
			if hung {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				<-ctx.Done()
				return Outcome{}, &Error{Node: "n", Msg: "no answer before the deadline", Kind: KindTimeout}
			}
			a := active.Add(1)
			for {
				p := peak.Load()
				if a <= p || peak.CompareAndSwap(p, a) {
					break
				}
			}
			time.Sleep(30 * time.Millisecond)
			active.Add(-1)
			return Outcome{}, nil
		}}
	}
	res := Fanout(context.Background(), jobs, conc, nil)
	h := res[3]
	if h.Result != "failed" || h.Kind != KindTimeout || h.Duration < 5*time.Second {
		t.Fatalf("hung job: %+v", h)
	}
	for i, r := range res {
		if i == 3 {
			continue
		}
		if r.Result != "ok" || r.End.After(h.End) {
			t.Errorf("job %d: %s, ended %v after the hung one", i, r.Result, r.End.Sub(h.End))
		}
	}
	// The hung job is not "active" here, so at most conc healthy ones ran at once.
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
