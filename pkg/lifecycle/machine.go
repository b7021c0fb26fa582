package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// Power is the BMC side: the bmc package's client satisfies it through a small adapter.
type Power interface {
	// PXECycle sets a one-time network boot and power-cycles the node (powering it on if
	// it is off). It must honour ctx.
	PXECycle(ctx context.Context, t Target) error
}

// Minter gives a node its credential when it enters pxe: it sets n.Token (hash only) and
// keeps the plaintext for the node's boot script. provisioner.Credentials satisfies it
// (the one-time bootstrap secret).
type Minter interface {
	Mint(n *state.Node, mac string, now time.Time) error
}

// DefaultTimeouts bound each phase. Powering counts from the BMC call, not from queueing.
var DefaultTimeouts = map[Phase]time.Duration{
	Powering:   3 * time.Minute,
	PXE:        5 * time.Minute,
	Booting:    10 * time.Minute,
	Agent:      5 * time.Minute,
	Validating: 30 * time.Minute,
	Deploying:  30 * time.Minute, // a 10 GB image at 10 MB/s, with its checks
	Rebooting:  10 * time.Minute, // firmware, the installed kernel and its agent's hello
	Installed:  30 * time.Minute, // the installed system's checks, as validating
}

// Config tunes a Machine; zero values take the defaults.
type Config struct {
	Timeouts    map[Phase]time.Duration // per phase; missing phases use DefaultTimeouts
	MaxAttempts int                     // attempts per run, each with one power cycle; default 3
	Wave        int                     // nodes powering or in pxe at once; 0: no limit
	BMCTimeout  time.Duration           // one BMC call; default 90s
	Now         func() time.Time
	Log         *slog.Logger
}

// Machine is the lifecycle state machine over a state.Store.
type Machine struct {
	store   state.Store
	power   Power
	mint    Minter
	cfg     Config
	started time.Time // phase clocks restart here: time serve was down does not count

	mu      sync.Mutex
	targets map[string]Target
	wave    int

	inflight sync.WaitGroup
}

// New makes a machine. power may be nil for a machine that only records (tests, status);
// mint may be nil when no agent tokens are wanted.
func New(store state.Store, power Power, mint Minter, cfg Config) *Machine {
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.BMCTimeout <= 0 {
		cfg.BMCTimeout = 90 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	t := map[Phase]time.Duration{}
	for p, d := range DefaultTimeouts {
		t[p] = d
	}
	for p, d := range cfg.Timeouts {
		t[p] = d
	}
	cfg.Timeouts = t
	return &Machine{store: store, power: power, mint: mint, cfg: cfg, started: cfg.Now(), wave: cfg.Wave}
}

// SetWave changes how many nodes may be power-cycled and not yet past pxe at once (0: no
// limit); `up --wave` sets it.
func (m *Machine) SetWave(n int) {
	m.mu.Lock()
	m.wave = max(n, 0)
	m.mu.Unlock()
}

func (m *Machine) waveSize() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.wave
}

// SetTargets replaces the nodes the machine knows (at start and on every inventory
// reload) and enrolls new ones, so a node added to the inventory can be brought up
// without restarting serve.
func (m *Machine) SetTargets(ts []Target) error {
	byName := make(map[string]Target, len(ts))
	for _, t := range ts {
		byName[t.Name] = t
	}
	m.mu.Lock()
	m.targets = byName
	m.mu.Unlock()
	errs := make([]error, len(ts))
	forEach(len(ts), func(i int) {
		t := ts[i]
		_, err := m.store.Update(t.Name, func(n *state.Node) ([]state.Event, error) {
			if n.Phase != "" {
				return nil, errNoChange
			}
			now := m.cfg.Now()
			m.enter(n, Enrolled, now)
			return []state.Event{{Kind: "enrolled", Time: now, Detail: "node " + t.Name + " in the inventory"}}, nil
		})
		if err != nil && !errors.Is(err, errNoChange) {
			errs[i] = err
		}
	})
	return errors.Join(errs...)
}

func (m *Machine) target(name string) (Target, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.targets[name]
	return t, ok
}

// errNoChange aborts an Update that has nothing to write.
var errNoChange = errors.New("no change")

// ErrDrivenElsewhere is what a Store or Power returns for a node another serve instance
// drives (shared state): this machine's tick leaves the node to it, without an error.
var ErrDrivenElsewhere = errors.New("another serve instance drives the node")

// leftAlone reports whether a tick's write did nothing for a reason that is no error:
// nothing to change, or the node is another instance's.
func leftAlone(err error) bool {
	return errors.Is(err, errNoChange) || errors.Is(err, ErrDrivenElsewhere)
}

// Action is what Up decided for one node.
type Action string

const (
	Start   Action = "start"   // a new run: the node will be power-cycled
	Resume  Action = "resume"  // a run is already under way: nothing new is done
	Skip    Action = "skip"    // already ready
	Refused Action = "refused" // locked and not forced
)

// Decision is Up's answer for one node.
type Decision struct {
	Node   string `json:"node"`
	Action Action `json:"action"`
	Phase  Phase  `json:"phase"`
	Detail string `json:"detail,omitempty"`
}

// UpOptions are `provision up`'s flags.
type UpOptions struct {
	Force       bool // power-cycle protected and maintenance nodes
	Reprovision bool // start ready nodes again
	DryRun      bool // decide, change nothing
	// OnStart, when set, runs in the write that starts a node's new run and returns the
	// events of what it changed with it (serve revokes the previous run's credentials
	// there: one write, so no moment has the new run and the old certificate valid).
	OnStart func(n *state.Node, now time.Time) []state.Event
}

// Up starts a run for each target (or leaves a run under way alone, so running up twice,
// or after a restart, power-cycles nothing extra). Nodes enter powering and wait there
// for a wave slot; Tick issues the power cycles.
func (m *Machine) Up(ts []Target, o UpOptions) ([]Decision, error) {
	m.mu.Lock()
	if m.targets == nil {
		m.targets = map[string]Target{}
	}
	for _, t := range ts {
		m.targets[t.Name] = t
	}
	m.mu.Unlock()
	ds := make([]Decision, len(ts))
	errs := make([]error, len(ts))
	forEach(len(ts), func(i int) {
		t := ts[i]
		var d Decision
		fn := func(n *state.Node) ([]state.Event, error) {
			d = decide(n, t, o)
			if d.Action != Start || o.DryRun {
				return nil, errNoChange
			}
			now := m.cfg.Now()
			n.Run++
			n.Attempt = 1
			n.Force = o.Force
			n.Reprovision = o.Reprovision
			n.Reason = ""
			m.enter(n, Powering, now)
			d.Phase = Powering
			evs := []state.Event{{Kind: string(UpStarted), Time: now, Detail: fmt.Sprintf("run %d, attempt 1/%d", n.Run, m.cfg.MaxAttempts)}}
			if o.OnStart != nil {
				evs = append(evs, o.OnStart(n, now)...)
			}
			return evs, nil
		}
		if _, err := m.store.Update(t.Name, fn); err != nil && !errors.Is(err, errNoChange) {
			errs[i] = fmt.Errorf("up %s: %w", t.Name, err)
			return
		}
		ds[i] = d
	})
	// The decisions of the nodes written, in the order asked; the others' errors.
	var out []Decision
	for i, d := range ds {
		if errs[i] == nil {
			out = append(out, d)
		}
	}
	return out, errors.Join(errs...)
}

func decide(n *state.Node, t Target, o UpOptions) Decision {
	cur := Phase(n.Phase)
	if cur == "" {
		cur = Enrolled
	}
	d := Decision{Node: t.Name, Phase: cur}
	switch {
	case cur.Active():
		d.Action, d.Detail = Resume, fmt.Sprintf("already under way (run %d, attempt %d)", n.Run, n.Attempt)
	case cur == Ready && !o.Reprovision:
		d.Action, d.Detail = Skip, "already ready: add --reprovision to provision it again"
	default:
		if err := checkLock(t, o.Force); err != nil {
			d.Action, d.Detail = Refused, err.Error()
		} else {
			d.Action, d.Detail = Start, "will be power-cycled into PXE"
		}
	}
	return d
}

// enter moves n to phase p. Crossing into pxe mints the agent token in the same write.
func (m *Machine) enter(n *state.Node, p Phase, now time.Time) {
	from := Phase(n.Phase)
	n.Phase = string(p)
	n.EnteredAt, n.UpdatedAt = now, now
	if p == Failed || order[from] >= order[PXE] || order[p] < order[PXE] || m.mint == nil {
		return
	}
	t, _ := m.target(n.Name)
	if err := m.mint.Mint(n, t.MAC, now); err != nil {
		n.Phase = string(Failed)
		n.Reason = fmt.Sprintf("could not mint the agent token for %s: %v", n.Name, err)
	}
}

// Handle records a boot-service or agent event and moves the node forward if it shows
// progress. Events never move a node back; events for a node that is not in a run, or is
// queued for its power cycle (a running OS renewing its lease), are only recorded.
func (m *Machine) Handle(ev Event) (Phase, error) {
	if ev.Kind == HTTPFetch {
		// Every kernel and initrd download starts one: only the node's own image can
		// move it, so the others never reach the store.
		if t, ok := m.target(ev.Node); !ok || t.Deploy == nil || !fetches(ev.Detail, t.Deploy.URL) {
			return "", nil
		}
	}
	return m.update(ev.Node, func(n *state.Node, now time.Time) []state.Event {
		return m.apply(n, ev, now)
	})
}

// Report stores the agent's report and moves the node to ready, or to failed with reason
// (the failed checks in plain words), in one write.
func (m *Machine) Report(node string, raw []byte, pass bool, reason string) (Phase, error) {
	return m.update(node, func(n *state.Node, now time.Time) []state.Event {
		if t, _ := m.target(node); t.Deploy != nil {
			return m.deployReport(n, t, raw, pass, reason, now)
		}
		n.Report, n.ReportAt = append([]byte(nil), raw...), now
		ev := Event{Node: node, Kind: ReportPass, Time: now, Detail: reason}
		if !pass {
			ev.Kind = ReportFail
		}
		return m.apply(n, ev, now)
	})
}

func (m *Machine) update(node string, fn func(n *state.Node, now time.Time) []state.Event) (Phase, error) {
	if node == "" {
		return "", errors.New("lifecycle: event without a node")
	}
	var phase Phase
	_, err := m.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		now := m.cfg.Now()
		if n.Phase == "" {
			n.Phase = string(Enrolled)
		}
		evs := fn(n, now)
		phase = Phase(n.Phase)
		return evs, nil
	})
	return phase, err
}

func (m *Machine) apply(n *state.Node, ev Event, now time.Time) []state.Event {
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	evs := []state.Event{{Kind: string(ev.Kind), Time: t, Detail: ev.Detail}}
	cur := Phase(n.Phase)
	if ev.Kind == HTTPFetch {
		if e, ok := m.deployEvent(n, ev, now); ok && cur.Active() {
			return append(evs, e)
		}
		return nil
	}
	if !cur.Active() || (cur == Powering && !n.Power.IssuedFor(n.Run, n.Attempt)) {
		return evs
	}
	if ev.Kind == ReportFail {
		return append(evs, m.fail(n, "validation failed: "+ev.Detail, now))
	}
	if e, ok := m.deployEvent(n, ev, now); ok {
		return append(evs, e)
	}
	to := target[ev.Kind]
	if to == "" || order[to] <= order[cur] {
		return evs
	}
	m.enter(n, to, now)
	if Phase(n.Phase) == Failed {
		return append(evs, state.Event{Kind: string(NodeFailed), Time: now, Detail: n.Reason})
	}
	if to == Ready {
		evs = append(evs, state.Event{Kind: string(NodeReady), Time: now, Detail: fmt.Sprintf("run %d, attempt %d", n.Run, n.Attempt)})
	}
	return evs
}

func (m *Machine) fail(n *state.Node, reason string, now time.Time) state.Event {
	m.enter(n, Failed, now)
	n.Reason = reason
	return state.Event{Kind: string(NodeFailed), Time: now, Detail: reason}
}

// retryOrFail starts the next attempt (a fresh power cycle) or, with the attempts spent,
// fails the node with reason.
func (m *Machine) retryOrFail(n *state.Node, reason string, now time.Time) state.Event {
	if n.Attempt < m.cfg.MaxAttempts {
		n.Attempt++
		m.enter(n, Powering, now)
		return state.Event{Kind: string(Retried), Time: now, Detail: fmt.Sprintf("attempt %d/%d after: %s", n.Attempt, m.cfg.MaxAttempts, reason)}
	}
	return m.fail(n, fmt.Sprintf("%s (attempt %d/%d, no retries left)", reason, n.Attempt, m.cfg.MaxAttempts), now)
}

// queueOrder sorts nodes for wave slots: longest waiting first, then by name.
func queueOrder(ns []state.Node) {
	sort.SliceStable(ns, func(i, j int) bool {
		if !ns[i].EnteredAt.Equal(ns[j].EnteredAt) {
			return ns[i].EnteredAt.Before(ns[j].EnteredAt)
		}
		return ns[i].Name < ns[j].Name
	})
}
