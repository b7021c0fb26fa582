package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// FencedStore is what Owned needs of the shared state: the etcd store's fenced write.
type FencedStore interface {
	state.Store
	UpdateFenced(name string, fences []state.Fenced, fn func(n *state.Node) ([]state.Event, error)) ([]state.Event, error)
}

// Owned is the state as this instance's lifecycle machine sees it: List returns only the
// nodes this instance holds (so its ticks time out and power-cycle only those), a write
// of a held node commits only while the lock keeps its revision, and a write that would
// record a new power action for a node this instance does not hold is refused. Writes of
// other nodes (DHCP and agent events, which any instance may receive) go through as is.
func (m *Member) Owned(s FencedStore) state.Store { return &owned{FencedStore: s, m: m} }

type owned struct {
	FencedStore
	m *Member
}

// manyGetter reads only the named nodes (state.Etcd).
type manyGetter interface {
	GetMany(names []string) ([]state.Node, error)
}

func (o *owned) List() ([]state.Node, error) {
	if g, ok := o.FencedStore.(manyGetter); ok {
		ns, err := g.GetMany(o.m.Held())
		if err != nil {
			return nil, err
		}
		out := ns[:0]
		for _, n := range ns {
			if _, ok := o.m.Holds(n.Name); ok {
				out = append(out, n)
			}
		}
		return out, nil
	}
	all, err := o.FencedStore.List()
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, n := range all {
		if _, ok := o.m.Holds(n.Name); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

func (o *owned) Update(name string, fn func(n *state.Node) ([]state.Event, error)) ([]state.Event, error) {
	if f, ok := o.m.Holds(name); ok {
		evs, err := o.FencedStore.UpdateFenced(name, []state.Fenced{f}, fn)
		if !errors.Is(err, state.ErrFenced) {
			return evs, err
		}
		// The node moved to another instance since this one last looked: forget it, and
		// write as any instance may (events, up), never a power intent.
		o.m.forget(name, f.Rev)
	}
	return o.FencedStore.Update(name, func(n *state.Node) ([]state.Event, error) {
		before := powerIntents(n)
		evs, err := fn(n)
		if err != nil {
			return nil, err
		}
		if powerIntents(n) != before {
			return nil, fmt.Errorf("node %s: not recording a power action: %w", name, ErrNotHolder)
		}
		return evs, nil
	})
}

// powerIntents are the records a power action is announced by before its BMC call.
func powerIntents(n *state.Node) string {
	s := fmt.Sprint(n.Power.Run, n.Power.Attempt, n.Power.IssuedAt.UnixNano())
	if n.Deployed != nil {
		s += fmt.Sprint("/", n.Deployed.Reboot.Run, n.Deployed.Reboot.Attempt, n.Deployed.Reboot.IssuedAt.UnixNano())
	}
	return s
}

// Power is BMC power that calls a node's BMC only after reading its lock back as this
// instance's: an instance paused after recording the intent and resumed after losing the
// node makes no call.
func (m *Member) Power(p lifecycle.Power) lifecycle.Power {
	if dp, ok := p.(lifecycle.DiskPower); ok {
		return &fencedDiskPower{fencedPower{p: p, m: m}, dp}
	}
	return &fencedPower{p: p, m: m}
}

type fencedPower struct {
	p lifecycle.Power
	m *Member
}

func (f *fencedPower) PXECycle(ctx context.Context, t lifecycle.Target) error {
	if err := f.m.Confirm(ctx, t.Name); err != nil {
		return err
	}
	return f.p.PXECycle(ctx, t)
}

type fencedDiskPower struct {
	fencedPower
	dp lifecycle.DiskPower
}

func (f *fencedDiskPower) DiskCycle(ctx context.Context, t lifecycle.Target) error {
	if err := f.m.Confirm(ctx, t.Name); err != nil {
		return err
	}
	return f.dp.DiskCycle(ctx, t)
}
