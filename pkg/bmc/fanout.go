package bmc

import (
	"context"
	"errors"
	"slices"
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
	// Refusal is the BMC's own answer where it refused (kind refused, auth, ...).
	Refusal *Refusal `json:"refusal,omitempty"`
	// NotApplied is what the BMC accepted and did not do (kind not-applied, in-transition).
	NotApplied *NotApplied `json:"not_applied,omitempty"`
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

// Fanout runs jobs with at most concurrency talking to BMCs at a time and returns one
// result per job, in job order. Each job's own deadline bounds it. A job that stalls
// (running more than twice the median of the jobs done so far, at least a
// second) gives its slot to the next job while it waits out its deadline: a dead BMC
// then costs the others nothing. At most concurrency jobs can be stalled at once, so
// no more than twice concurrency connections are ever open.
func Fanout(ctx context.Context, jobs []Job, concurrency int, progress Progress) []Result {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency
	}
	results := make([]Result, len(jobs))
	sem := make(chan struct{}, concurrency)
	stalled := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	var done, failed atomic.Int64
	var pmu sync.Mutex
	med := &median{}
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
			var release sync.Once
			free := func() { release.Do(func() { <-sem }) }
			stop := make(chan struct{})
			go watchStall(med, stop, stalled, free)
			r := Result{Node: j.Node, BMC: j.BMC, Action: j.Action, Start: time.Now()}
			out, err := j.Run(ctx)
			close(stop)
			free()
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
					r.Kind, r.Refusal, r.NotApplied = be.Kind, be.Refusal, be.NotApplied
				}
				failed.Add(1)
			} else {
				med.add(r.Duration)
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

// watchStall frees the job's slot once it runs past the stall threshold, if fewer
// than the limit are stalled; the stalled mark is dropped when the job ends.
func watchStall(med *median, stop <-chan struct{}, stalled chan struct{}, free func()) {
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		limit, ok := med.stallAfter()
		if !ok || time.Since(start) < limit {
			continue
		}
		select {
		case stalled <- struct{}{}:
			free()
			<-stop
			<-stalled
			return
		default: // too many stalled already: keep the slot
		}
	}
}

// median tracks the durations of successful jobs.
type median struct {
	mu sync.Mutex
	d  []time.Duration
}

func (m *median) add(d time.Duration) {
	m.mu.Lock()
	m.d = append(m.d, d)
	m.mu.Unlock()
}

// stallAfter is twice the median successful duration, at least a second; ok is
// false until five jobs have succeeded.
func (m *median) stallAfter() (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.d) < 5 {
		return 0, false
	}
	// Good enough: a sample of the latest durations keeps this cheap on big fan-outs.
	s := m.d
	if len(s) > 101 {
		s = s[len(s)-101:]
	}
	c := slices.Clone(s)
	slices.Sort(c)
	// Twice, not more: a hung BMC holds a slot until then, and healthy operations
	// rarely take twice the median (p99 ≈ 1.5× in bench-bmc, task monitors included).
	return max(time.Second, 2*c[len(c)/2]), true
}
