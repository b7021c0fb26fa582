package agent

import (
	"context"

	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/agent/hw"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Local is the CheckRunner of the machine the agent runs on: the standard checkers
// (Checkers) and the hardware inventory from /sys, /proc and NVML.
type Local struct {
	Options Options
	Sampler *gpu.Sampler // the GPUs of the hardware inventory; nil: none
}

// Run implements CheckRunner.
func (l *Local) Run(ctx context.Context, exp *expect.Expectations, throughput bool) []check.Result {
	o := l.Options
	o.Storage.NoThroughput = !throughput
	return Run(ctx, exp, Checkers(o))
}

// Hardware implements CheckRunner.
func (l *Local) Hardware() *check.Hardware {
	inv := hw.Collect(hw.Roots{})
	if l.Sampler != nil {
		inv.GPUs = l.Sampler.Inventory()
	}
	return inv
}
