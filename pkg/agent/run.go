// Package agent runs a node's checks (GPU, storage, networks) against its expectations
// (pkg/expect) and collects their results (pkg/check) for the report the node agent sends
// to the racklift server.
package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/agent/storage"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Checker runs one family of checks against a node's expectations.
type Checker func(ctx context.Context, exp *expect.Expectations) []check.Result

// NetFunc checks a node's networks; the netcheck package provides it.
type NetFunc func(ctx context.Context, nets []expect.Network) []check.Result

// Options configure the standard checkers; zero values mean the real machine.
type Options struct {
	GPU     gpu.Options
	Storage storage.Options
	Net     NetFunc // nil: network checks are not run
}

// Checkers are the GPU, storage and network checkers, each skipped when the
// expectations ask nothing of it.
func Checkers(o Options) []Checker {
	cs := []Checker{
		func(ctx context.Context, e *expect.Expectations) []check.Result {
			if e.GPU == nil {
				return nil
			}
			return gpu.Check(ctx, e.GPU, o.GPU)
		},
		func(ctx context.Context, e *expect.Expectations) []check.Result {
			if len(e.Storage) == 0 {
				return nil
			}
			so := o.Storage
			if so.NetworkMTU == 0 {
				so.NetworkMTU = e.StorageMTU()
			}
			return storage.Check(ctx, e.Storage, so)
		},
	}
	if o.Net != nil {
		cs = append(cs, func(ctx context.Context, e *expect.Expectations) []check.Result {
			if len(e.Networks) == 0 {
				return nil
			}
			return o.Net(ctx, e.Networks)
		})
	}
	return cs
}

// Run runs the checkers in order and collects their results; a checker that panics
// yields one failed result instead of taking the agent down, and a cancelled context
// stops before the next checker.
func Run(ctx context.Context, exp *expect.Expectations, cs []Checker) []check.Result {
	var out []check.Result
	for i, c := range cs {
		if ctx.Err() != nil {
			break
		}
		out = append(out, runOne(ctx, exp, i, c)...)
	}
	return out
}

func runOne(ctx context.Context, exp *expect.Expectations, i int, c Checker) (rs []check.Result) {
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			rs = append(rs, check.Result{Name: fmt.Sprintf("agent.checker%d", i), Status: check.Fail,
				Message: fmt.Sprintf("internal error: %v (please report)", p), Duration: time.Since(start)})
		}
	}()
	return c(ctx, exp)
}
