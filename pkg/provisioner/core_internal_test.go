package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/state"
)

// countPower answers every power cycle at once and counts them per node.
type countPower struct {
	mu     sync.Mutex
	cycles map[string]int
}

func (p *countPower) PXECycle(_ context.Context, t lifecycle.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cycles == nil {
		p.cycles = map[string]int{}
	}
	p.cycles[t.Name]++
	return nil
}

func (p *countPower) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.cycles {
		n += c
	}
	return n
}

// logBuf is a slog handler's output, safe for the lifecycle's goroutines.
type logBuf struct{ testenv.SyncBuffer }

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// labInventory writes an inventory of the named nodes (BMCs nobody calls: the power is
// faked) and loads it.
func labInventory(t *testing.T, names ...string) *inventory.Inventory {
	t.Helper()
	site := lab.Site{Name: "lab"}
	for i, n := range names {
		site.Nodes = append(site.Nodes, lab.SiteNode{Name: n, Host: "127.0.0.1", Port: 9 + i})
	}
	dir := t.TempDir()
	if err := site.Write(dir); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// openCore opens a core on a fresh state dir with fake power and the inventory of names;
// it is closed at the test's end.
func openCore(t *testing.T, cfg Config, names ...string) *Core {
	t.Helper()
	if cfg.StateDir == "" {
		cfg.StateDir = t.TempDir()
	}
	if cfg.Power == nil {
		cfg.Power = &countPower{}
	}
	c, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if len(names) > 0 {
		if err := c.SetInventory(labInventory(t, names...)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// tick runs one lifecycle tick and waits for the BMC calls it started.
func tick(t *testing.T, c *Core) {
	t.Helper()
	if err := c.Machine.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Machine.Drain()
}

// TestOpenDefaults: a zero or negative tick, state lock wait, header timeout or shutdown
// grace takes its default; a set one stays. Mutants: the defaults' comparisons and
// values (core.go Open), e.g. a zero tick left at 0 (time.NewTicker panics in Run), or
// 10/time.Second (0) for the lock wait (state's 1 s: a restart overlapping the old
// serve's exit fails).
func TestOpenDefaults(t *testing.T) {
	t.Parallel()
	def := Config{Tick: time.Second, LockTimeout: 10 * time.Second, ReadHeaderTimeout: 10 * time.Second, ShutdownGrace: 2 * time.Second}
	set := Config{Tick: 5 * time.Millisecond, LockTimeout: 3 * time.Second, ReadHeaderTimeout: time.Minute, ShutdownGrace: 7 * time.Second}
	for _, tc := range []struct {
		name string
		in   Config
		want Config
	}{
		{name: "zero", want: def},
		{name: "negative", in: Config{Tick: -1, LockTimeout: -1, ReadHeaderTimeout: -1, ShutdownGrace: -1}, want: def},
		{name: "set", in: set, want: set},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := openCore(t, tc.in)
			got := Config{Tick: c.cfg.Tick, LockTimeout: c.cfg.LockTimeout, ReadHeaderTimeout: c.cfg.ReadHeaderTimeout, ShutdownGrace: c.cfg.ShutdownGrace}
			if got.Tick != tc.want.Tick || got.LockTimeout != tc.want.LockTimeout || got.ReadHeaderTimeout != tc.want.ReadHeaderTimeout || got.ShutdownGrace != tc.want.ShutdownGrace {
				t.Errorf("tick %v, lock %v, header %v, grace %v; want %v, %v, %v, %v", got.Tick, got.LockTimeout, got.ReadHeaderTimeout, got.ShutdownGrace,
					tc.want.Tick, tc.want.LockTimeout, tc.want.ReadHeaderTimeout, tc.want.ShutdownGrace)
			}
		})
	}
}

// TestStateLockHeldElsewhere: a state.db another serve holds fails Open once the lock
// wait ends (the deadline is the subject: only the outcome is checked).
func TestStateLockHeldElsewhere(t *testing.T) {
	t.Parallel()
	first := openCore(t, Config{})
	_, err := Open(Config{StateDir: first.cfg.StateDir, LockTimeout: 50 * time.Millisecond, Power: &countPower{}})
	if err == nil {
		t.Fatal("a second core opened a state dir another core holds")
	}
}

// TestLifecycleLogsToServeLog: the lifecycle logs to serve's log unless its own is set.
// Mutant core.go Open `lc.Log == nil` negated: the lifecycle's errors (a failing tick)
// went nowhere, and a log of its own was replaced by serve's.
func TestLifecycleLogsToServeLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		own     bool // the lifecycle has a log of its own
		inServe bool // the tick's error lands in serve's log
	}{
		{name: "serve's log", own: false, inServe: true},
		{name: "its own log", own: true, inServe: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var serveLog, ownLog logBuf
			cfg := Config{Log: serveLog.logger()}
			if tc.own {
				cfg.Lifecycle.Log = ownLog.logger()
			}
			c := openCore(t, cfg)
			c.Store.Close() // every tick fails from now on
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			c.Machine.Run(ctx, time.Hour) // one tick, then ctx has ended
			if got := strings.Contains(serveLog.String(), "lifecycle tick"); got != tc.inServe {
				t.Errorf("tick error in serve's log: %v, want %v (log %q)", got, tc.inServe, serveLog.String())
			}
			if got := strings.Contains(ownLog.String(), "lifecycle tick"); got != tc.own {
				t.Errorf("tick error in the lifecycle's own log: %v, want %v", got, tc.own)
			}
		})
	}
}

// TestSetInventoryRevokesEveryRemovedNode: every node removed from the inventory loses
// its unused bootstrap or its live certificate, whichever it has. Mutants (core.go
// SetInventory): `n.Token != nil` negated (a node with a bootstrap only kept it; one
// with a certificate only crashed serve), the Revoke error check negated (only the
// first removed node was revoked).
func TestSetInventoryRevokesEveryRemovedNode(t *testing.T) {
	t.Parallel()
	c := openCore(t, Config{}, "tok-only", "cert-only", "kept")
	now := time.Now()
	set := func(name string, fn func(n *state.Node)) {
		t.Helper()
		if _, err := c.Store.Update(name, func(n *state.Node) ([]state.Event, error) { fn(n); return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("tok-only", func(n *state.Node) {
		n.Token = &state.Token{Run: 1, MAC: "52:54:00:09:00:00", ExpiresAt: now.Add(time.Hour)}
	})
	set("cert-only", func(n *state.Node) { n.Identity = &state.Identity{Serial: "0a", Run: 1, NotAfter: now.Add(time.Hour)} })
	set("kept", func(n *state.Node) { n.Identity = &state.Identity{Serial: "0b", Run: 1, NotAfter: now.Add(time.Hour)} })

	if err := c.SetInventory(labInventory(t, "kept")); err != nil {
		t.Fatal(err)
	}
	get := func(name string) state.Node {
		t.Helper()
		n, err := c.Store.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := get("tok-only"); n.Token != nil {
		t.Errorf("tok-only, removed: its unused bootstrap was kept: %+v", n.Token)
	}
	if n := get("cert-only"); n.Identity == nil || n.Identity.RevokedAt.IsZero() {
		t.Errorf("cert-only, removed: its certificate was not revoked: %+v", n.Identity)
	}
	if n := get("kept"); n.Identity == nil || !n.Identity.RevokedAt.IsZero() {
		t.Errorf("kept, still in the inventory: its certificate was revoked: %+v", n.Identity)
	}
}

// TestUpWave: `up --wave N` sets how many nodes are power-cycled at once; no --wave
// (0) keeps serve's configured wave, and a dry run changes nothing. Mutants (core.go
// Up `req.Wave > 0`): made `>= 0` or negated, up without --wave cleared the configured
// wave (every node power-cycled at once) and --wave 2 was ignored. It also checks, at
// the core, the regression of issue 20 that lifecycle's
// TestWaveQueuedPoweringTimeoutStartsAtIssue covers: a queued node does not time out.
func TestUpWave(t *testing.T) {
	t.Parallel()
	names := []string{"w-0001", "w-0002", "w-0003"}
	for _, tc := range []struct {
		name       string
		configured int // serve's wave (Lifecycle.Wave)
		reqs       []api.UpRequest
		want       int // power cycles after one tick
	}{
		{name: "no --wave keeps serve's", configured: 1, reqs: []api.UpRequest{{Selectors: []string{"all"}}}, want: 1},
		{name: "--wave 2", configured: 1, reqs: []api.UpRequest{{Selectors: []string{"all"}, Wave: 2}}, want: 2},
		{name: "--wave 1 over no limit", configured: 0, reqs: []api.UpRequest{{Selectors: []string{"all"}, Wave: 1}}, want: 1},
		{name: "dry run's --wave changes nothing", configured: 1, reqs: []api.UpRequest{
			{Selectors: []string{"all"}, Wave: 3, DryRun: true}, {Selectors: []string{"all"}}}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			clock := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			power := &countPower{}
			cfg := Config{Power: power}
			cfg.Lifecycle.Wave, cfg.Lifecycle.Now = tc.configured, now
			c := openCore(t, cfg, names...)
			for _, req := range tc.reqs {
				if _, err := c.Up(context.Background(), req); err != nil {
					t.Fatal(err)
				}
			}
			tick(t, c)
			if got := power.total(); got != tc.want {
				t.Fatalf("%d power cycles after the first tick, want %d", got, tc.want)
			}
			mu.Lock()
			clock = clock.Add(lifecycle.DefaultTimeouts[lifecycle.Powering] + time.Minute)
			mu.Unlock()
			tick(t, c)
			for _, name := range names {
				n, err := c.Store.Get(name)
				if err != nil {
					t.Fatal(err)
				}
				if n.Attempt != 1 {
					t.Errorf("%s after waiting past the powering timeout: phase %s attempt %d (%s); a queued node must not time out", name, n.Phase, n.Attempt, n.Reason)
				}
			}
		})
	}
}

// failPower fails every power cycle, as a BMC refusing its credentials does.
type failPower struct{ countPower }

func (p *failPower) PXECycle(ctx context.Context, t lifecycle.Target) error {
	p.countPower.PXECycle(ctx, t)
	return errors.New("401 Unauthorized")
}

// TestNewRunStartsFresh: up on a node whose run failed starts the next run at attempt 1
// with no reason, through the core as `provision up` does. Regression of issue 20 (the
// new run kept the previous run's attempt counter and reason), also covered by
// lifecycle's TestNewRunStartsFresh.
func TestNewRunStartsFresh(t *testing.T) {
	t.Parallel()
	cfg := Config{Power: &failPower{}}
	cfg.Lifecycle.MaxAttempts = 2
	c := openCore(t, cfg, "f-0001")
	up := func() {
		t.Helper()
		if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"f-0001"}}); err != nil {
			t.Fatal(err)
		}
	}
	up()
	for n, _ := c.Store.Get("f-0001"); lifecycle.Phase(n.Phase) != lifecycle.Failed; n, _ = c.Store.Get("f-0001") {
		if n.Attempt > 2 {
			t.Fatalf("run 1 went past its 2 attempts: %+v", n)
		}
		tick(t, c)
	}
	up()
	n, err := c.Store.Get("f-0001")
	if err != nil {
		t.Fatal(err)
	}
	if n.Run != 2 || n.Attempt != 1 || n.Reason != "" {
		t.Errorf("run 2 starts at run %d attempt %d reason %q; want run 2, attempt 1, no reason", n.Run, n.Attempt, n.Reason)
	}
}

// TestJudge: without an inventory serve judges nothing; with one, what a node's
// interface heard is judged against its cabling. Mutant core.go Judge `inv == nil`
// negated: no judgement with an inventory, a crash without.
func TestJudge(t *testing.T) {
	t.Parallel()
	rep := &check.Report{LLDP: []check.LLDP{{Interface: "ens3", Heard: false, WaitSeconds: 5}}}
	bare := openCore(t, Config{})
	if got := bare.Judge("j-0001", rep); got != nil {
		t.Errorf("judged without an inventory: %+v", got)
	}
	c := openCore(t, Config{}, "j-0001")
	if got := c.Judge("j-0001", rep); len(got) != 1 || got[0].Name != "lldp.ens3.cabling" {
		t.Errorf("judgement of ens3 = %+v, want lldp.ens3.cabling", got)
	}
}

// TestRunEndsWhenAnAPIStopsServing: an API whose listener fails while serve runs ends
// Run with the error, naming the API. Mutants (core.go Run): the Serve error check or
// the ctx check negated: the failure was dropped and serve ran on without that API.
// Under them Run never returns: the guard (a minute, well past the failure's
// microseconds) fails the test before gremlins' timeout.
func TestRunEndsWhenAnAPIStopsServing(t *testing.T) {
	t.Parallel()
	c := openCore(t, Config{BackupEvery: -1})
	c.ctlLn.Close() // Serve's Accept fails at once
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "control API") {
			t.Errorf("Run = %v, want the control API's error", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run went on serving after the control API's listener failed")
	}
}

// TestBackupAtStart: serve writes a backup as it starts (with the default interval when
// none is set; none with a negative one), logs it as written, and keeps the newest
// BackupKeep backups (default state.DefaultBackupKeep). Mutants (core.go backups):
// `every < 0` made `<= 0` (no backups by default), `keep <= 0` made `< 0` (a zero keep
// left every backup but one) or negated (a set keep replaced by the default), the
// backup's error check negated (a written backup logged as failed).
func TestBackupAtStart(t *testing.T) {
	t.Parallel()
	old := state.DefaultBackupKeep + 6 // backups already there, older than serve's start
	for _, tc := range []struct {
		name      string
		every     time.Duration
		keep      int
		wantFiles int
	}{
		{name: "default interval and keep", every: 0, keep: 0, wantFiles: state.DefaultBackupKeep},
		{name: "set interval and keep", every: time.Hour, keep: 3, wantFiles: 3},
		{name: "none", every: -1, keep: 3, wantFiles: old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var log logBuf
			c := openCore(t, Config{BackupEvery: tc.every, BackupKeep: tc.keep, Log: log.logger()})
			bdir := state.BackupDir(c.cfg.StateDir)
			if err := os.MkdirAll(bdir, 0o700); err != nil {
				t.Fatal(err)
			}
			for i := range old {
				name := fmt.Sprintf("state-20200101T0000%02dZ.db", i)
				if err := os.WriteFile(filepath.Join(bdir, name), []byte("old"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // Run starts everything, then returns: the first backup is written before
			if err := c.Run(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := state.Backups(c.cfg.StateDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantFiles {
				t.Errorf("%d backups kept, want %d", len(got), tc.wantFiles)
			}
			wrote := tc.every >= 0
			if wrote && (len(got) == 0 || strings.Contains(got[len(got)-1], "state-2020")) {
				t.Errorf("no new backup among %v", got)
			}
			if l := log.String(); strings.Contains(l, "state backup failed") || strings.Contains(l, "msg=\"state backup\"") != wrote {
				t.Errorf("log of the backup (written: %v):\n%s", wrote, l)
			}
		})
	}
}

// TestCloseReleases: Close closes the agent API's and the control API's listeners and
// the state, and a failed Open releases what it had opened. Mutants (core.go Close):
// each nil check negated (a listener or the state left open, or a crash on the one
// not opened).
func TestCloseReleases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		agent bool
	}{
		{name: "with the agent API", agent: true},
		{name: "without", agent: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{StateDir: t.TempDir(), Hosts: []string{"127.0.0.1"}, Power: &countPower{}}
			if tc.agent {
				cfg.AgentListen = "127.0.0.1:0"
			}
			c, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				for _, ln := range []net.Listener{c.agentLn, c.ctlLn} {
					if ln != nil {
						ln.Close()
					}
				}
				c.Store.Close()
			})
			var agentAddr string
			if c.agentLn != nil {
				agentAddr = c.agentLn.Addr().String()
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if agentAddr != "" {
				if conn, err := net.Dial("tcp", agentAddr); err == nil {
					conn.Close()
					t.Error("the agent API still accepts connections after Close")
				}
			}
			if conn, err := net.Dial("unix", api.SocketPath(cfg.StateDir)); err == nil {
				conn.Close()
				t.Error("the control socket still accepts connections after Close")
			}
			if _, err := c.Store.List(); err == nil {
				t.Error("the state is still open after Close")
			}
		})
	}
	t.Run("failed open", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if _, err := Open(Config{StateDir: dir, ControlAPI: "http://10.1.2.3:1", Power: &countPower{}}); err == nil {
			t.Fatal("Open with a control API on a non-loopback address succeeded")
		}
		// The state must be closed: a second Open would wait for the first's lock.
		c, err := Open(Config{StateDir: dir, LockTimeout: 50 * time.Millisecond, Power: &countPower{}})
		if err != nil {
			t.Fatalf("Open after a failed Open: %v", err)
		}
		c.Close()
	})
}

// TestListenAgentURL: the URL nodes are told names the address the agent API listens
// on, or, when it listens on every address, serve's first host. Mutants (listen.go
// listenAgent `host == ""`, `ip != nil` negated): a specific address was replaced by
// the host name, or 0.0.0.0 was told to the nodes.
func TestListenAgentURL(t *testing.T) {
	t.Parallel()
	ca, err := pki.LoadOrCreate(t.TempDir(), []string{"serve.lab", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, listen string
		hosts        []string
		wantHost     string // "" when listenAgent must fail
	}{
		{name: "loopback address", listen: "127.0.0.1:0", hosts: []string{"serve.lab"}, wantHost: "127.0.0.1"},
		{name: "every address (0.0.0.0)", listen: "0.0.0.0:0", hosts: []string{"serve.lab"}, wantHost: "serve.lab"},
		{name: "every address (no host)", listen: ":0", hosts: []string{"serve.lab"}, wantHost: "serve.lab"},
		{name: "every address, no hosts", listen: "0.0.0.0:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, url, err := listenAgent(Config{AgentListen: tc.listen, Hosts: tc.hosts}, ca)
			if ln != nil {
				t.Cleanup(func() { ln.Close() })
			}
			if tc.wantHost == "" {
				if err == nil {
					t.Errorf("listenAgent(%s) with no hosts = %s, want an error", tc.listen, url)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			if want := "https://" + net.JoinHostPort(tc.wantHost, port); url != want {
				t.Errorf("listenAgent(%s) URL %s, want %s", tc.listen, url, want)
			}
		})
	}
}

// TestBlankTokenFileReplaced: an api.token holding only whitespace (a truncated write)
// is replaced by a fresh token. Mutant listen.go LoadOrCreateToken `len(...) > 0` made
// `>= 0`: the empty token was used, and the control API admitted an empty bearer.
func TestBlankTokenFileReplaced(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := api.TokenPath(dir)
	if err := os.WriteFile(p, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := LoadOrCreateToken(dir)
	if err != nil {
		t.Fatal(err)
	}
	if tok == "" {
		t.Fatal("a blank api.token gave an empty control token")
	}
	if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) != tok {
		t.Errorf("api.token holds %q, want the new token", b)
	}
}

// TestBootEventDetail: an event's address is appended to its detail only when it has
// one. Mutant boot.go BootEvent `e.IP != ""` negated.
func TestBootEventDetail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   events.Event
		want string
	}{
		{name: "with an address", in: events.Event{Node: "n1", Kind: events.HTTPScript, Detail: "boot.ipxe", IP: "10.209.0.2"}, want: "boot.ipxe from 10.209.0.2"},
		{name: "without", in: events.Event{Node: "n1", Kind: events.HTTPScript, Detail: "boot.ipxe"}, want: "boot.ipxe"},
		{name: "failed, with an address", in: events.Event{Node: "n1", Kind: events.HTTPScript, Detail: "boot.ipxe", IP: "10.209.0.2", Err: "reset"}, want: "boot.ipxe from 10.209.0.2: reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := BootEvent(tc.in)
			if !ok || got.Detail != tc.want {
				t.Errorf("BootEvent detail %q (%v), want %q", got.Detail, ok, tc.want)
			}
		})
	}
}

// TestHandleLogsOnlyFailures: a boot event the lifecycle records is not logged as an
// error; one it cannot record is. Mutant boot.go Handle's error check negated.
func TestHandleLogsOnlyFailures(t *testing.T) {
	t.Parallel()
	var log logBuf
	c := openCore(t, Config{Log: log.logger()}, "h-0001")
	c.Handle(events.Event{Node: "h-0001", Kind: events.HTTPScript, Detail: "boot.ipxe"})
	if strings.Contains(log.String(), "recording boot event") {
		t.Fatalf("a recorded boot event was logged as failed: %s", log.String())
	}
	c.Store.Close() // the next write fails
	c.Handle(events.Event{Node: "h-0001", Kind: events.HTTPScript, Detail: "boot.ipxe"})
	if !strings.Contains(log.String(), "recording boot event") {
		t.Errorf("a boot event that could not be recorded was not logged: %q", log.String())
	}
}

// TestBootstrapReusedOnlyFromItsAddress: the boot script asked again from the address
// the bootstrap is bound to gets the same secret; from another address, a fresh one
// bound to it. Mutant credentials.go ForBoot `n.Token.BoundIP == bound` negated: every
// repeated boot script minted a new secret, so a node whose iPXE fetched its script
// twice booted with one already replaced.
func TestBootstrapReusedOnlyFromItsAddress(t *testing.T) {
	t.Parallel()
	power := &countPower{}
	c := openCore(t, Config{Power: power}, "b-0001")
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"b-0001"}}); err != nil {
		t.Fatal(err)
	}
	tick(t, c) // power cycled: pxe, with its bootstrap
	mac := "52:54:00:09:00:00"
	a, b := netip.MustParseAddr("10.209.0.2"), netip.MustParseAddr("10.209.0.3")
	forBoot := func(addr netip.Addr) string {
		t.Helper()
		s, err := c.Tokens.ForBoot("b-0001", mac, addr)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := forBoot(a)
	if again := forBoot(a); again != first {
		t.Error("the boot script asked again from the bound address got a new secret")
	}
	other := forBoot(b)
	if other == first {
		t.Error("the boot script asked from another address got the secret bound to the first")
	}
	if n, _ := c.Store.Get("b-0001"); n.Token == nil || n.Token.BoundIP != b.String() {
		t.Errorf("bootstrap bound to %+v, want %s", n.Token, b)
	}
}

// TestTargetsForMAC: a node's target carries its PXE interface's MAC as parsed (the
// canonical form the boot requests' MACs are compared in), or as written when it was
// not parsed, and none without a PXE interface. Mutant targets.go `ifc.HW != nil`
// negated: the MAC as written ("52:54:00:AB:00:01" never matched a request's
// lower-case one), a crash on an unparsed one.
func TestTargetsForMAC(t *testing.T) {
	t.Parallel()
	hw, err := net.ParseMAC("52:54:00:AB:00:01")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ifcs []*inventory.Interface
		want string
	}{
		{name: "parsed", ifcs: []*inventory.Interface{{Name: "ens3", MAC: "52:54:00:AB:00:01", HW: hw, PXE: true}}, want: "52:54:00:ab:00:01"},
		{name: "not parsed", ifcs: []*inventory.Interface{{Name: "ens3", MAC: "52:54:00:ab:00:02", PXE: true}}, want: "52:54:00:ab:00:02"},
		{name: "no PXE interface", ifcs: []*inventory.Interface{{Name: "ens4", MAC: "52:54:00:ab:00:03", HW: hw}}, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := TargetsFor([]*inventory.Node{{Name: "m-0001", Interfaces: tc.ifcs}})
			if len(ts) != 1 || ts[0].MAC != tc.want {
				t.Errorf("targets %+v, want one with MAC %q", ts, tc.want)
			}
		})
	}
}

// TestListenControlAddresses: the control API listens on a loopback http:// address or
// the unix socket, and refuses any other address or a URL that does not parse.
// Mutants (listen.go listenControl): the parse error check and `ip == nil` negated (a
// good loopback address refused).
func TestListenControlAddresses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		api string
		ok  bool
	}{
		{api: "http://127.0.0.1:0", ok: true},
		{api: "http://10.1.2.3:1"},
		{api: "http://serve.lab:1"},
		{api: "http://127.0.0.1:bad port"},
		{api: "tcp://127.0.0.1:1"},
	} {
		t.Run(tc.api, func(t *testing.T) {
			t.Parallel()
			ln, addr, err := listenControl(Config{ControlAPI: tc.api, StateDir: t.TempDir()})
			if ln != nil {
				ln.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("listenControl(%s) = %q, %v; want ok %v", tc.api, addr, err, tc.ok)
			}
			if tc.ok && !strings.HasPrefix(addr, "http://127.0.0.1:") {
				t.Errorf("control address %q, want http://127.0.0.1:PORT", addr)
			}
		})
	}
}
