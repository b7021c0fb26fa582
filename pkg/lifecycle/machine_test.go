package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// power is a fake BMC that counts power cycles per node, like a virtual BMC's counter.
type power struct {
	mu     sync.Mutex
	cycles map[string]int
	fail   map[string]error // node → error returned
	hang   map[string]bool  // node → never answers (ignores ctx)
	late   map[string]error // node → answered, result only at the deadline
}

func newPower() *power {
	return &power{cycles: map[string]int{}, fail: map[string]error{}, hang: map[string]bool{}, late: map[string]error{}}
}

func (p *power) PXECycle(ctx context.Context, t Target) error {
	p.mu.Lock()
	p.cycles[t.Name]++
	err, hang, late := p.fail[t.Name], p.hang[t.Name], p.late[t.Name]
	p.mu.Unlock()
	if hang {
		select {} // a hung BMC that ignores ctx
	}
	if late != nil {
		<-ctx.Done() // a BMC that answered and never acted: the result comes at the deadline
		return late
	}
	return err
}

func (p *power) count(node string) int { p.mu.Lock(); defer p.mu.Unlock(); return p.cycles[node] }

// minter records mints and stores a recognisable hash.
type minter struct {
	mu    sync.Mutex
	mints map[string]int
}

func (m *minter) Mint(n *state.Node, mac string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mints == nil {
		m.mints = map[string]int{}
	}
	m.mints[n.Name]++
	n.Token = &state.Token{Hash: []byte("h-" + n.Name), MAC: mac, Run: n.Run, Attempt: n.Attempt, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
	return nil
}

type rig struct {
	t     *testing.T
	dir   string
	store *state.Bolt
	clock *clock
	power *power
	mint  *minter
	m     *Machine
	cfg   Config
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, power: newPower(), mint: &minter{}, cfg: cfg}
	r.open()
	t.Cleanup(func() { r.store.Close() })
	return r
}

// open (re)opens the store and starts a fresh machine on it, as a restarted serve does.
func (r *rig) open() {
	r.t.Helper()
	s, err := state.Open(r.dir, state.Options{})
	if err != nil {
		r.t.Fatal(err)
	}
	r.store = s
	cfg := r.cfg
	cfg.Now = r.clock.Now
	r.m = New(s, r.power, r.mint, cfg)
}

// restart simulates serve being killed and started again.
func (r *rig) restart() {
	r.t.Helper()
	r.store.Close()
	r.open()
}

func (r *rig) node(name string) state.Node {
	r.t.Helper()
	n, err := r.store.Get(name)
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

func (r *rig) tick() {
	r.t.Helper()
	if err := r.m.Tick(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.m.Drain()
}

func (r *rig) handle(node string, k Kind) {
	r.t.Helper()
	if _, err := r.m.Handle(Event{Node: node, Kind: k}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) up(ts ...Target) []Decision {
	r.t.Helper()
	ds, err := r.m.Up(ts, UpOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	return ds
}

func tgt(name string) Target {
	return Target{Name: name, MAC: "52:54:00:00:00:01", BMC: "redfish https://127.0.0.1:8443 (" + name + "-bmc)"}
}

// put writes a node record directly, to start a test in a given phase.
func (r *rig) put(name string, phase Phase, issued bool) {
	r.t.Helper()
	r.m.SetTargets([]Target{tgt(name)})
	_, err := r.store.Update(name, func(n *state.Node) ([]state.Event, error) {
		n.Phase, n.Run, n.Attempt = string(phase), 1, 1
		n.EnteredAt = r.clock.Now()
		if issued {
			n.Power = state.PowerRecord{Run: 1, Attempt: 1, IssuedAt: r.clock.Now()}
		}
		return nil, nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func TestTransitions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from   Phase
		queued bool // in powering, power cycle not yet issued
		kind   Kind
		want   Phase
		mint   bool
	}{
		{Powering, false, PowerOK, PXE, true},
		{Powering, false, DHCPOffer, PXE, true}, // the node was faster than the BMC's answer
		{Powering, false, DHCPAck, PXE, true},
		{Powering, true, DHCPAck, Powering, false}, // queued: a running OS renewing its lease
		{Powering, true, ReportPass, Powering, false},
		{PXE, false, DHCPAck, PXE, false},
		{PXE, false, TFTPTransfer, PXE, false},
		{PXE, false, HTTPScript, PXE, false},
		{Powering, false, BootScript, PXE, true},
		{Powering, true, BootScript, Powering, false},
		{PXE, false, HTTPKernel, Booting, false},
		{PXE, false, HTTPInitrd, Booting, false},
		{PXE, false, AgentHello, Agent, false}, // missed events: forward skip
		{Booting, false, AgentHello, Agent, false},
		{Booting, false, DHCPOffer, Booting, false}, // never back
		{Agent, false, AgentExpect, Validating, false},
		{Agent, false, ReportPass, Ready, false},
		{Validating, false, ReportPass, Ready, false},
		{Validating, false, ReportFail, Failed, false},
		{Validating, false, HTTPKernel, Validating, false},
		{Ready, false, DHCPOffer, Ready, false},
		{Ready, false, ReportFail, Ready, false},
		{Failed, false, ReportPass, Failed, false},
		{Enrolled, false, DHCPAck, Enrolled, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/queued=%v/%s", tc.from, tc.queued, tc.kind), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			r.put("n1", tc.from, !tc.queued)
			before := r.node("n1")
			r.clock.Add(time.Second)
			got, err := r.m.Handle(Event{Node: "n1", Kind: tc.kind, Detail: "d"})
			if err != nil {
				t.Fatal(err)
			}
			n := r.node("n1")
			if got != tc.want || Phase(n.Phase) != tc.want {
				t.Fatalf("%s + %s = %s (stored %s), want %s", tc.from, tc.kind, got, n.Phase, tc.want)
			}
			if len(n.Recent) < 2 || n.Recent[1].Kind != string(tc.kind) || n.Recent[1].Detail != "d" {
				t.Errorf("event not recorded: %+v", n.Recent)
			}
			moved := tc.want != tc.from
			if moved && !n.EnteredAt.Equal(r.clock.Now()) || !moved && !n.EnteredAt.Equal(before.EnteredAt) {
				t.Errorf("entered_at = %v, moved=%v", n.EnteredAt, moved)
			}
			if minted := n.Token != nil; minted != tc.mint {
				t.Errorf("token minted = %v, want %v", minted, tc.mint)
			}
			if tc.want == Failed && tc.from != Failed && !strings.Contains(n.Reason, "validation failed: d") {
				t.Errorf("reason = %q", n.Reason)
			}
		})
	}
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	ds := r.up(tgt("n1"))
	if len(ds) != 1 || ds[0].Action != Start || ds[0].Phase != Powering {
		t.Fatalf("up = %+v", ds)
	}
	r.tick()
	if got := r.power.count("n1"); got != 1 {
		t.Fatalf("power cycles after first tick = %d, want 1", got)
	}
	n := r.node("n1")
	if Phase(n.Phase) != PXE || n.Token == nil || n.Token.MAC != "52:54:00:00:00:01" || n.Power.DoneAt.IsZero() {
		t.Fatalf("after BMC ok: %+v", n)
	}
	for _, k := range []Kind{DHCPOffer, DHCPAck, TFTPTransfer, HTTPScript, HTTPKernel, HTTPInitrd, AgentHello, AgentExpect} {
		r.handle("n1", k)
		r.tick()
	}
	if _, err := r.m.Report("n1", []byte(`{"results":[]}`), true, ""); err != nil {
		t.Fatal(err)
	}
	n = r.node("n1")
	if Phase(n.Phase) != Ready || string(n.Report) != `{"results":[]}` {
		t.Fatalf("after report: phase %s report %s", n.Phase, n.Report)
	}
	if got := r.power.count("n1"); got != 1 || r.mint.mints["n1"] != 1 {
		t.Errorf("power cycles = %d, mints = %d; want 1, 1", got, r.mint.mints["n1"])
	}
	// up again: ready nodes are left alone.
	if ds := r.up(tgt("n1")); ds[0].Action != Skip {
		t.Errorf("up on a ready node = %+v, want skip", ds[0])
	}
	r.tick()
	if r.power.count("n1") != 1 {
		t.Error("a ready node was power-cycled again")
	}
	ds, err := r.m.Up([]Target{tgt("n1")}, UpOptions{Reprovision: true})
	if err != nil || ds[0].Action != Start {
		t.Fatalf("up --reprovision = %+v, %v", ds, err)
	}
	r.tick()
	if n := r.node("n1"); n.Run != 2 || n.Attempt != 1 || r.power.count("n1") != 2 {
		t.Errorf("reprovision: run %d attempt %d cycles %d", n.Run, n.Attempt, r.power.count("n1"))
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	limits := map[Phase]time.Duration{Powering: time.Minute, PXE: 2 * time.Minute, Booting: 3 * time.Minute, Agent: 4 * time.Minute, Validating: 5 * time.Minute}
	for _, p := range []Phase{Powering, PXE, Booting, Agent, Validating} {
		for _, last := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/last=%v", p, last), func(t *testing.T) {
				t.Parallel()
				r := newRig(t, Config{Timeouts: limits, MaxAttempts: 2})
				r.put("n1", p, true)
				if last {
					r.store.Update("n1", func(n *state.Node) ([]state.Event, error) { n.Attempt = 2; n.Power.Attempt = 2; return nil, nil })
				}
				r.clock.Add(limits[p]) // exactly at the limit: still in time
				r.tick()
				if n := r.node("n1"); Phase(n.Phase) != p {
					t.Fatalf("at the limit: phase %s, want %s", n.Phase, p)
				}
				r.clock.Add(time.Second)
				if err := r.m.Tick(context.Background()); err != nil {
					t.Fatal(err)
				}
				r.m.Drain()
				n := r.node("n1")
				if !last {
					if Phase(n.Phase) != PXE || n.Attempt != 2 || !n.Power.IssuedFor(1, 2) {
						t.Fatalf("after timeout: phase %s attempt %d power %+v; want pxe after attempt 2's power cycle", n.Phase, n.Attempt, n.Power)
					}
					if r.power.count("n1") != 1 {
						t.Errorf("retry power cycles = %d, want 1", r.power.count("n1"))
					}
					return
				}
				if Phase(n.Phase) != Failed {
					t.Fatalf("timeout on the last attempt: phase %s, want failed", n.Phase)
				}
				for _, want := range []string{string(p), limits[p].String(), "attempt 2/2"} {
					if !strings.Contains(n.Reason, want) {
						t.Errorf("reason %q does not mention %q", n.Reason, want)
					}
				}
				if (p == Powering || p == PXE) && !strings.Contains(n.Reason, "n1-bmc") {
					t.Errorf("reason %q does not name the BMC", n.Reason)
				}
				if r.power.count("n1") != 0 {
					t.Error("a failed node was power-cycled")
				}
			})
		}
	}
}

func TestBMCErrorExhaustsRetries(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{MaxAttempts: 3})
	r.power.fail["n1"] = errors.New("401 Unauthorized")
	r.up(tgt("n1"))
	for range 5 {
		r.tick()
	}
	n := r.node("n1")
	if Phase(n.Phase) != Failed || r.power.count("n1") != 3 {
		t.Fatalf("phase %s after %d cycles, want failed after 3", n.Phase, r.power.count("n1"))
	}
	for _, want := range []string{"n1-bmc", "401 Unauthorized", "attempt 3/3"} {
		if !strings.Contains(n.Reason, want) {
			t.Errorf("reason %q does not mention %q", n.Reason, want)
		}
	}
}

func TestHungBMCFailsNamingIt(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{MaxAttempts: 2, BMCTimeout: 20 * time.Millisecond})
	r.power.hang["stuck"] = true
	r.up(tgt("stuck"), tgt("fine"))
	for range 3 {
		r.tick()
	}
	if n := r.node("stuck"); Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "stuck-bmc") || !strings.Contains(n.Reason, "no answer within 20ms") {
		t.Errorf("hung BMC: phase %s reason %q", n.Phase, n.Reason)
	}
	if n := r.node("fine"); Phase(n.Phase) != PXE {
		t.Errorf("the other node is %s, want pxe: a hung BMC held it up", n.Phase)
	}
}

// answeredErr is a BMC error that says the BMC answered (as *bmc.Error's Answered does).
type answeredErr string

func (e answeredErr) Error() string  { return string(e) }
func (e answeredErr) Answered() bool { return true }

// A BMC that accepted the cycle and never acted is reported with what it said at the
// deadline, never as "no answer", and without the hint to check that it answers.
func TestAcceptedNotAppliedIsNotNoAnswer(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{MaxAttempts: 1, BMCTimeout: 20 * time.Millisecond})
	r.power.late["lazy"] = answeredErr("the BMC accepted power cycle and still reports On")
	r.up(tgt("lazy"))
	for range 3 {
		r.tick()
	}
	n := r.node("lazy")
	if Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "still reports On") {
		t.Fatalf("phase %s reason %q: want failed with the BMC's answer", n.Phase, n.Reason)
	}
	for _, never := range []string{"no answer", "check the BMC answers"} {
		if strings.Contains(n.Reason, never) {
			t.Errorf("reason %q says %q of a BMC that answered", n.Reason, never)
		}
	}
}

func TestLocks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		protected   bool
		maintenance bool
		force       bool
		want        Action
	}{
		{"protected", true, false, false, Refused},
		{"maintenance", false, true, false, Refused},
		{"protected-forced", true, false, true, Start},
		{"maintenance-forced", false, true, true, Start},
		{"unlocked", false, false, false, Start},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			tg := tgt("n1")
			tg.Protected, tg.Maintenance = tc.protected, tc.maintenance
			if err := r.m.SetTargets([]Target{tg}); err != nil {
				t.Fatal(err)
			}
			before := r.node("n1")
			ds, err := r.m.Up([]Target{tg}, UpOptions{Force: tc.force})
			if err != nil {
				t.Fatal(err)
			}
			if ds[0].Action != tc.want {
				t.Fatalf("up = %+v, want %s", ds[0], tc.want)
			}
			r.tick()
			n := r.node("n1")
			if tc.want == Refused {
				if !strings.Contains(ds[0].Detail, "--force") || !strings.Contains(ds[0].Detail, "n1") {
					t.Errorf("refusal %q does not name the node and --force", ds[0].Detail)
				}
				if n.Phase != before.Phase || len(n.Recent) != len(before.Recent) || r.power.count("n1") != 0 {
					t.Errorf("refused up changed the node: %+v, cycles %d", n, r.power.count("n1"))
				}
				return
			}
			if r.power.count("n1") != 1 || Phase(n.Phase) != PXE {
				t.Errorf("started node: phase %s cycles %d", n.Phase, r.power.count("n1"))
			}
		})
	}
}

func TestLockedMidRunIsNotPowerCycled(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Wave: 1})
	r.up(tgt("a"), tgt("b"))
	r.tick() // a is cycled; b waits for the wave
	locked := tgt("b")
	locked.Protected = true
	r.m.SetTargets([]Target{tgt("a"), locked})
	r.handle("a", HTTPKernel) // a leaves the wave
	r.tick()
	n := r.node("b")
	if r.power.count("b") != 0 || Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "protected") {
		t.Errorf("b became protected while queued: phase %s reason %q cycles %d", n.Phase, n.Reason, r.power.count("b"))
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	ds, err := r.m.Up([]Target{tgt("n1")}, UpOptions{DryRun: true})
	if err != nil || ds[0].Action != Start {
		t.Fatalf("dry run = %+v, %v", ds, err)
	}
	r.tick()
	if _, err := r.store.Get("n1"); !errors.Is(err, state.ErrNotFound) || r.power.count("n1") != 0 {
		t.Errorf("dry run wrote state or power-cycled: %v, %d", err, r.power.count("n1"))
	}
}

func TestWave(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Wave: 2})
	var ts []Target
	for i := range 5 {
		ts = append(ts, tgt(fmt.Sprintf("n%d", i)))
	}
	r.up(ts...)
	total := func() int {
		s := 0
		for _, tg := range ts {
			s += r.power.count(tg.Name)
		}
		return s
	}
	r.tick()
	r.tick()
	if total() != 2 {
		t.Fatalf("first wave cycled %d nodes, want 2", total())
	}
	r.handle("n0", HTTPKernel) // n0 booting: a slot frees
	r.tick()
	if total() != 3 || r.power.count("n2") != 1 {
		t.Fatalf("after one node left pxe: %d cycled (n2: %d), want 3 with n2", total(), r.power.count("n2"))
	}
}

func TestStalePowerResults(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.put("n1", Powering, true)
	r.handle("n1", DHCPAck) // faster than the BMC's answer
	r.m.powerDone(tgt("n1"), 1, 1, nil)
	n := r.node("n1")
	if Phase(n.Phase) != PXE || n.EnteredAt != r.clock.Now() || n.Power.DoneAt.IsZero() {
		t.Errorf("late BMC ok: %+v", n)
	}
	r.m.powerDone(tgt("n1"), 1, 1, errors.New("late failure"))
	if n := r.node("n1"); Phase(n.Phase) != PXE || n.Attempt != 1 {
		t.Errorf("a late BMC failure moved a booting node: phase %s attempt %d", n.Phase, n.Attempt)
	}
}

// TestRestartDuringBMCCall: serve dies after recording the intent and (maybe) calling the
// BMC. The restarted machine must not call again for that attempt.
func TestRestartDuringBMCCall(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Timeouts: map[Phase]time.Duration{Powering: time.Minute}})
	r.up(tgt("n1"))
	// The first serve: the BMC call starts, then serve is killed before the result is written.
	ctx, cancel := context.WithCancel(context.Background())
	block, started := make(chan struct{}), make(chan struct{})
	r.m.power = blockingPower{r.power, block, started}
	if err := r.m.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	// Kill only once the BMC call is under way: cancelling first let the call goroutine
	// see a dead context and never reach the BMC (the flake: 0 cycles, about 3 runs in 10).
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the BMC call never started")
	}
	cancel()
	close(block)
	r.m.Drain()
	if n := r.node("n1"); !n.Power.IssuedFor(1, 1) || !n.Power.DoneAt.IsZero() {
		t.Fatalf("intent before the kill = %+v, want issued without result", n.Power)
	}
	r.restart()
	r.m.SetTargets([]Target{tgt("n1")})
	for range 3 {
		r.tick()
	}
	if got := r.power.count("n1"); got != 1 {
		t.Fatalf("after restart: %d power cycles for attempt 1, want 1 (the one before the kill)", got)
	}
	// Up again after the restart: resume, not a new run.
	if ds := r.up(tgt("n1")); ds[0].Action != Resume {
		t.Errorf("up after restart = %+v, want resume", ds[0])
	}
	// The node never booted: the powering timeout starts attempt 2 with its own cycle.
	r.clock.Add(time.Minute + time.Second)
	r.tick()
	r.tick()
	if n := r.node("n1"); n.Attempt != 2 || r.power.count("n1") != 2 || Phase(n.Phase) != PXE {
		t.Errorf("after powering timeout: attempt %d phase %s cycles %d; want attempt 2, pxe, 2", n.Attempt, n.Phase, r.power.count("n1"))
	}
}

// blockingPower counts the cycle, says it started, then blocks until block is closed.
type blockingPower struct {
	p       *power
	block   chan struct{}
	started chan struct{}
}

func (b blockingPower) PXECycle(ctx context.Context, t Target) error {
	b.p.PXECycle(ctx, t)
	close(b.started)
	<-b.block
	return nil
}

// TestRestartMidBoot: serve is killed while nodes boot; after the restart they finish
// with no extra power cycle, and time serve was down does not count against the phase.
func TestRestartMidBoot(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{Timeouts: map[Phase]time.Duration{PXE: time.Minute}})
	r.up(tgt("a"), tgt("b"))
	r.tick()
	r.handle("a", HTTPKernel)
	r.restart()
	r.clock.Add(5 * time.Minute) // serve was down longer than the pxe timeout
	r.m = New(r.store, r.power, r.mint, Config{Now: r.clock.Now, Timeouts: map[Phase]time.Duration{PXE: time.Minute}})
	r.m.SetTargets([]Target{tgt("a"), tgt("b")})
	r.tick()
	if n := r.node("b"); Phase(n.Phase) != PXE || n.Attempt != 1 {
		t.Fatalf("b after restart: %s attempt %d; want pxe attempt 1 (full timeout from the restart)", n.Phase, n.Attempt)
	}
	for _, name := range []string{"a", "b"} {
		for _, k := range []Kind{HTTPKernel, AgentHello, AgentExpect} {
			r.handle(name, k)
		}
		if _, err := r.m.Report(name, []byte(`{}`), true, ""); err != nil {
			t.Fatal(err)
		}
		r.tick()
		if n := r.node(name); Phase(n.Phase) != Ready || r.power.count(name) != 1 {
			t.Errorf("%s: phase %s, %d power cycles; want ready, 1", name, n.Phase, r.power.count(name))
		}
	}
	// But the timeout does apply from the restart on.
	r.put("c", PXE, true)
	r.clock.Add(time.Minute + time.Second)
	r.tick()
	if n := r.node("c"); n.Attempt != 2 {
		t.Errorf("c after restart + timeout: attempt %d, want 2", n.Attempt)
	}
}

func TestSetTargetsEnrollsNewNodes(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.m.SetTargets([]Target{tgt("a")})
	r.up(tgt("a"))
	r.m.SetTargets([]Target{tgt("a"), tgt("new")}) // inventory reload
	if n := r.node("new"); Phase(n.Phase) != Enrolled {
		t.Errorf("new node: %s, want enrolled", n.Phase)
	}
	if n := r.node("a"); Phase(n.Phase) != Powering {
		t.Errorf("reload changed a running node: %s", n.Phase)
	}
	r.m.SetTargets([]Target{tgt("new")}) // a removed before its power cycle
	r.tick()
	if n := r.node("a"); Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "no longer in the inventory") || r.power.count("a") != 0 {
		t.Errorf("removed node: phase %s reason %q cycles %d", n.Phase, n.Reason, r.power.count("a"))
	}
}
