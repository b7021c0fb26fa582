package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// Run ticks every interval until ctx ends, then waits for BMC calls under way.
func (m *Machine) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	defer m.Drain()
	for {
		if err := m.Tick(ctx); err != nil {
			m.cfg.Log.Error("lifecycle tick", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Drain waits for the BMC calls Tick started.
func (m *Machine) Drain() { m.inflight.Wait() }

// Tick issues power cycles to queued nodes (within the wave) and expires phases that ran
// past their timeout. BMC calls run in the background; their results come back through
// the store.
func (m *Machine) Tick(ctx context.Context) error {
	nodes, err := m.store.List()
	if err != nil {
		return err
	}
	// Only the nodes listed past their phase's limit reach the store (a node that moved
	// on since the list is only later to expire; the next tick sees it).
	var due []string
	for _, n := range nodes {
		if _, over := m.overdue(&n); over {
			due = append(due, n.Name)
		}
	}
	errs := make([]error, len(due))
	forEach(len(due), func(i int) {
		if _, err := m.store.Update(due[i], func(n *state.Node) ([]state.Event, error) {
			return m.expire(n)
		}); err != nil && !leftAlone(err) {
			errs[i] = err
		}
	})
	// Again when a node expired above, so one retried gets its power cycle in this tick
	// (a list is a read of every node, each tick: on shared state a network round trip
	// per hundred nodes).
	if len(due) > 0 {
		if nodes, err = m.store.List(); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	queueOrder(nodes)
	limit := m.waveSize()
	inWave := 0
	for _, n := range nodes {
		if wave(n) {
			inWave++
		}
	}
	// The wave's free slots go to the queued nodes in queue order; the writes and BMC
	// calls then run side by side (a slot whose node another tick took stays free until
	// the next tick).
	var disk, start []string
	for _, n := range nodes {
		if rebootDue(n) {
			disk = append(disk, n.Name)
			continue
		}
		if !queued(n) || limit > 0 && inWave >= limit {
			continue
		}
		start = append(start, n.Name)
		inWave++
	}
	issueErrs := make([]error, len(disk)+len(start))
	forEach(len(issueErrs), func(i int) {
		if i < len(disk) {
			issueErrs[i] = m.issueDisk(ctx, disk[i])
			return
		}
		_, issueErrs[i] = m.issue(ctx, start[i-len(disk)])
	})
	return errors.Join(append(errs, issueErrs...)...)
}

// queued: in powering, waiting for its power cycle.
func queued(n state.Node) bool {
	return Phase(n.Phase) == Powering && !n.Power.IssuedFor(n.Run, n.Attempt)
}

// wave: power-cycled and not yet past pxe, so it loads the PXE services or the circuit.
func wave(n state.Node) bool {
	p := Phase(n.Phase)
	return p == PXE || (p == Powering && n.Power.IssuedFor(n.Run, n.Attempt))
}

// issue power-cycles one queued node. The intent "power cycle issued for run R attempt
// A" is committed (fsynced) BEFORE the BMC call: if serve dies during the call, the
// restarted machine sees the intent without a result and does not call again for that
// attempt; the powering timeout then starts the next attempt. Recording after the call
// instead would let a crash between call and record cycle the node twice. So each attempt
// power-cycles at most once.
func (m *Machine) issue(ctx context.Context, name string) (bool, error) {
	t, known := m.target(name)
	var run, attempt int
	_, err := m.store.Update(name, func(n *state.Node) ([]state.Event, error) {
		if !queued(*n) {
			return nil, errNoChange // another tick got here first
		}
		now := m.cfg.Now()
		if !known {
			return []state.Event{m.fail(n, fmt.Sprintf("node %s is no longer in the inventory: not power-cycling it", name), now)}, nil
		}
		if err := checkLock(t, n.Force); err != nil {
			return []state.Event{m.fail(n, err.Error(), now)}, nil
		}
		if m.power == nil {
			return nil, errNoChange
		}
		run, attempt = n.Run, n.Attempt
		n.Power = state.PowerRecord{Run: run, Attempt: attempt, IssuedAt: now}
		return []state.Event{{Kind: string(PowerIssued), Time: now, Detail: fmt.Sprintf("PXE boot + power cycle via BMC %s (attempt %d/%d)", t.BMC, attempt, m.cfg.MaxAttempts)}}, nil
	})
	if leftAlone(err) || err == nil && run == 0 {
		return false, nil // nothing to do, or the node moved to another instance since the list
	}
	if err != nil {
		return false, fmt.Errorf("record power intent for %s: %w", name, err)
	}
	m.inflight.Add(1)
	go func() {
		defer m.inflight.Done()
		err := m.call(ctx, func(ctx context.Context) error { return m.power.PXECycle(ctx, t) })
		if ctx.Err() != nil {
			return // serve is stopping: the outcome is unknown, leave the intent as is
		}
		m.powerDone(t, run, attempt, err)
	}()
	return true, nil
}

// call runs a BMC action with BMCTimeout, returning even if the BMC client ignores ctx.
func (m *Machine) call(ctx context.Context, action func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, m.cfg.BMCTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- action(cctx) }()
	select {
	case err := <-done:
		if err != nil && cctx.Err() == context.DeadlineExceeded && !bmcAnswered(err) {
			return fmt.Errorf("no answer within %s", m.cfg.BMCTimeout)
		}
		return err
	case <-cctx.Done():
		// A BMC that answered and did not act reports at the deadline: give its
		// answer a moment to arrive rather than calling the BMC silent.
		grace := min(m.cfg.BMCTimeout/10, 2*time.Second)
		select {
		case err := <-done:
			if err == nil || bmcAnswered(err) {
				return err
			}
		case <-time.After(grace):
		}
		return fmt.Errorf("no answer within %s", m.cfg.BMCTimeout)
	}
}

// bmcAnswered reports whether a power error says the BMC answered (refused, or accepted
// and did not act), so the reason repeats what it said instead of calling it silent.
func bmcAnswered(err error) bool {
	var a interface{ Answered() bool }
	return errors.As(err, &a) && a.Answered()
}

// powerDone records a BMC result. A result for an attempt the node has moved past (it
// timed out, or DHCP showed it booting first) is logged and changes nothing else.
func (m *Machine) powerDone(t Target, run, attempt int, callErr error) {
	_, err := m.update(t.Name, func(n *state.Node, now time.Time) []state.Event {
		if n.Power.IssuedFor(run, attempt) {
			n.Power.DoneAt = now
			if callErr != nil {
				n.Power.Err = callErr.Error()
			}
		}
		current := Phase(n.Phase) == Powering && n.Run == run && n.Attempt == attempt
		if callErr == nil {
			ev := Event{Node: t.Name, Kind: PowerOK, Time: now, Detail: "BMC " + t.BMC}
			if !current {
				return []state.Event{{Kind: string(PowerOK), Time: now, Detail: ev.Detail + fmt.Sprintf(" (late, for attempt %d)", attempt)}}
			}
			return m.apply(n, ev, now)
		}
		reason := fmt.Sprintf("BMC %s of node %s failed the power cycle: %v", t.BMC, t.Name, callErr)
		if !bmcAnswered(callErr) {
			reason += ": check the BMC answers at that address and its credentials"
		}
		evs := []state.Event{{Kind: string(PowerFailed), Time: now, Detail: reason}}
		if current {
			evs = append(evs, m.retryOrFail(n, reason, now))
		}
		return evs
	})
	if err != nil {
		m.cfg.Log.Error("record BMC result", "node", t.Name, "err", err)
	}
}

// expire times out a phase that ran too long: the next attempt, or failed.
func (m *Machine) expire(n *state.Node) ([]state.Event, error) {
	limit, over := m.overdue(n)
	if !over {
		return nil, errNoChange
	}
	cur, now := Phase(n.Phase), m.cfg.Now()
	t, _ := m.target(n.Name)
	reason := timeoutReason(cur, t, limit, n)
	next := m.retryOrFail
	if order[cur] >= order[Deploying] {
		// No retry: it would power-cycle the node into the ramdisk over its disk.
		next = func(n *state.Node, reason string, now time.Time) state.Event { return m.fail(n, reason, now) }
	}
	return []state.Event{
		{Kind: string(TimedOut), Time: now, Detail: reason},
		next(n, reason, now),
	}, nil
}

// overdue: n is in an active phase (not queued for its power cycle) for longer than
// that phase's limit, which it returns.
func (m *Machine) overdue(n *state.Node) (time.Duration, bool) {
	cur := Phase(n.Phase)
	limit := m.cfg.Timeouts[cur]
	if !cur.Active() || queued(*n) || limit <= 0 {
		return limit, false
	}
	since := n.EnteredAt
	if cur == Powering {
		since = n.Power.IssuedAt
	}
	if since.Before(m.started) {
		since = m.started // resumed after a restart: a full timeout from now
	}
	return limit, m.cfg.Now().Sub(since) > limit
}

// timeoutReason says what did not happen and where to look.
func timeoutReason(p Phase, t Target, limit time.Duration, n *state.Node) string {
	last := "none"
	if len(n.Recent) > 0 {
		e := n.Recent[len(n.Recent)-1]
		last = e.Kind
		if e.Detail != "" {
			last += " (" + e.Detail + ")"
		}
	}
	bmc := t.BMC
	if bmc == "" {
		bmc = "(unknown)"
	}
	switch p {
	case Powering:
		return fmt.Sprintf("%s: BMC %s did not confirm the power cycle within %s: check the BMC answers and its credentials", p, bmc, limit)
	case PXE:
		return fmt.Sprintf("%s: no network boot within %s after the power cycle via BMC %s (last event: %s): check the node boots from the network on MAC %s, the switch port's PXE VLAN, and that serve's DHCP listens on that network", p, limit, bmc, last, t.MAC)
	case Booting:
		return fmt.Sprintf("%s: kernel and initrd were fetched but the agent did not say hello within %s (last event: %s): check the node's console for a kernel panic or a missing driver, and that the node reaches serve's agent API", p, limit, last)
	case Agent:
		return fmt.Sprintf("%s: the agent said hello but did not fetch its expectations within %s (last event: %s): check the agent's log on the node", p, limit, last)
	case Validating:
		return fmt.Sprintf("%s: the agent did not report within %s (last event: %s): a check may hang; check the agent's log on the node", p, limit, last)
	case Deploying, Rebooting, Installed:
		return deployTimeoutReason(p, t, limit, last)
	}
	return fmt.Sprintf("%s timed out after %s (last event: %s)", p, limit, last)
}
