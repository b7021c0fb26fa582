package bmc

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultConcurrency is how many BMCs a fan-out talks to at once.
const DefaultConcurrency = 64

// Result is one node's part of a fan-out.
type Result struct {
	Node     string        `json:"node"`
	BMC      string        `json:"bmc"`
	Action   string        `json:"action"`
	Result   string        `json:"result"` // ok, failed, refused, dry-run
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"seconds"`
	Outcome  Outcome       `json:"outcome"`
	Error    string        `json:"error,omitempty"`
	Kind     ErrorKind     `json:"kind,omitempty"`
}

// Job is one node's work in a fan-out.
type Job struct {
	Node   string
	BMC    string
	Action string
	Run    func(ctx context.Context) (Outcome, error)
}

// Progress is called after each job ends with the number done so far.
type Progress func(done, total, failed int)

// Fanout runs jobs with at most concurrency at a time and returns one result per job,
// in job order. Each job's own deadline bounds it; one slow job only takes its slot.
func Fanout(ctx context.Context, jobs []Job, concurrency int, progress Progress) []Result {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	results := make([]Result, len(jobs))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	var pmu sync.Mutex
	for i, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			now := time.Now()
			results[i] = Result{Node: j.Node, BMC: j.BMC, Action: j.Action, Result: "failed", Start: now, End: now,
				Error: "node " + j.Node + ": not started: " + ctx.Err().Error(), Kind: KindTimeout}
			failed.Add(1)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r := Result{Node: j.Node, BMC: j.BMC, Action: j.Action, Start: time.Now()}
			out, err := j.Run(ctx)
			r.End = time.Now()
			r.Duration = r.End.Sub(r.Start)
			r.Seconds = r.Duration.Seconds()
			r.Outcome = out
			r.Result = "ok"
			if err != nil {
				r.Result = "failed"
				r.Error = err.Error()
				var be *Error
				if errors.As(err, &be) {
					r.Kind = be.Kind
				}
				failed.Add(1)
			}
			results[i] = r
			n := done.Add(1)
			if progress != nil {
				pmu.Lock()
				progress(int(n), len(jobs), int(failed.Load()))
				pmu.Unlock()
			}
		}()
	}
	wg.Wait()
	return results
}
