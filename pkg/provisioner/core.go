package provisioner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/cabling"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/pkg/state"
)

// Config is what the core is opened with (pkg/server builds it from serve's config).
type Config struct {
	StateDir string
	// Hosts are serve's addresses (IPs or names) the agent API's certificate names.
	Hosts []string
	// AgentListen is host:port of the agent API (TLS); port 0 picks one. Empty: no
	// agent API.
	AgentListen string
	// AgentURL is the agent API's URL nodes are told (racklift.api=) when it is not
	// AgentListen's address: a load balancer's in front of several instances. Its host
	// joins Hosts in the certificate.
	AgentURL string
	// ControlAPI is "" (the unix socket in StateDir) or http://127.0.0.1:PORT.
	ControlAPI string
	// Power drives the BMCs; nil uses pkg/bmc with Secrets and BMC.
	Power   lifecycle.Power
	Secrets *inventory.Secrets
	BMC     bmc.Options
	// Lifecycle tunes timeouts, attempts and the default wave.
	Lifecycle lifecycle.Config
	// TokenTTL is how long a bootstrap secret waits for its exchange (default
	// DefaultBootstrapTTL); CertValidity how long a node's certificate is good
	// (default pki.ClientValidity).
	TokenTTL     time.Duration
	CertValidity time.Duration
	// Tick is how often timeouts and queued power cycles are looked at (default 1s).
	Tick time.Duration
	// LockTimeout is how long Open waits for another process's lock on state.db (default
	// 10s: a restart overlapping the old serve's exit).
	LockTimeout time.Duration
	// ReadHeaderTimeout is how long both APIs wait for a request's header (default 10s);
	// ShutdownGrace how long Run lets requests under way finish once ctx ends (default 2s).
	ReadHeaderTimeout time.Duration
	ShutdownGrace     time.Duration
	// BackupEvery and BackupKeep are the rolling backup of the state in StateDir/backups:
	// one at start, then every BackupEvery, the newest BackupKeep kept (defaults
	// state.DefaultBackupEvery, state.DefaultBackupKeep; BackupEvery < 0: none).
	BackupEvery time.Duration
	BackupKeep  int
	// Shared puts the state on etcd, shared with other serve instances (shared.go); nil:
	// state.db in StateDir, this instance alone.
	Shared *Shared
	Log    *slog.Logger
}

// Core is serve's provisioning side: the state, the lifecycle machine, the PKI and the
// nodes' credentials, and the listeners of both APIs. serve feeds it the inventory (SetInventory, at
// start and on each reload) and the boot events (Follow), and asks it for each node's
// boot arguments (BootArgs).
type Core struct {
	Store   state.Store
	PKI     *pki.PKI
	Tokens  *Credentials
	Machine *lifecycle.Machine

	cluster *cluster.Member // nil: this instance alone (bbolt)

	cfg      Config
	log      *slog.Logger
	inv      atomic.Pointer[inventory.Inventory]
	agentLn  net.Listener
	ctlLn    net.Listener
	agentURL string
	ctlAddr  string
	ctlToken string
}

// Open opens the state, loads or creates the CA and listens on both APIs.
func Open(cfg Config) (*Core, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 10 * time.Second
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = 10 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 2 * time.Second
	}
	if cfg.AgentURL != "" { // checked before anything is opened
		u, host, err := parseAgentURL(cfg.AgentURL)
		if err != nil {
			return nil, err
		}
		cfg.AgentURL = u
		if !slices.Contains(cfg.Hosts, host) { // the certificate names it too
			cfg.Hosts = append(slices.Clip(cfg.Hosts), host)
		}
	}
	c := &Core{cfg: cfg, log: cfg.Log}
	var err error
	machineStore, power := state.Store(nil), cfg.Power
	fail := func(err error) (*Core, error) {
		c.Close()
		return nil, err
	}
	if cfg.Shared != nil {
		if machineStore, err = c.openShared(*cfg.Shared); err != nil {
			return fail(err)
		}
	} else {
		// Check: a damaged state.db is named at start rather than found by a handler later.
		if c.Store, err = state.Open(cfg.StateDir, state.Options{LockTimeout: cfg.LockTimeout, Check: true}); err != nil {
			return nil, err
		}
		machineStore = c.Store
	}
	if c.PKI, err = pki.LoadOrCreate(pki.Dir(cfg.StateDir), cfg.Hosts); err != nil {
		return fail(err)
	}
	c.Tokens = NewCredentials(c.Store, c.PKI, cfg.TokenTTL, cfg.CertValidity)
	if power == nil {
		power = &BMCPower{Inventory: c.Inventory, Secrets: cfg.Secrets, Options: cfg.BMC}
	}
	if c.cluster != nil {
		power = c.cluster.Power(power) // a BMC call only for a node this instance holds
	}
	lc := cfg.Lifecycle
	if lc.Log == nil {
		lc.Log = cfg.Log
	}
	c.Machine = lifecycle.New(machineStore, power, c.Tokens, lc)

	if c.agentLn, c.agentURL, err = listenAgent(cfg, c.PKI); err != nil {
		return fail(err)
	}
	if c.ctlToken, err = LoadOrCreateToken(cfg.StateDir); err != nil {
		return fail(err)
	}
	if c.ctlLn, c.ctlAddr, err = listenControl(cfg); err != nil {
		return fail(err)
	}
	return c, nil
}

// AgentURL is the agent API's base URL (racklift.api=), empty when none.
func (c *Core) AgentURL() string { return c.agentURL }

// ControlAddr is where the CLI reaches the control API (--api).
func (c *Core) ControlAddr() string { return c.ctlAddr }

// ControlToken is the control API's bearer token (api.token in the state dir), for the
// other handlers that admit the operator by it (the dashboard, pkg/ui).
func (c *Core) ControlToken() string { return c.ctlToken }

// Inventory is the inventory in force.
func (c *Core) Inventory() *inventory.Inventory { return c.inv.Load() }

// SetInventory puts an inventory in force: its nodes are enrolled, locks and MACs
// updated, so a node added while serve runs can be brought up at once; a node no longer
// in it has its credentials revoked.
func (c *Core) SetInventory(inv *inventory.Inventory) error {
	c.inv.Store(inv)
	if err := c.Machine.SetTargets(c.deployTargets(inv, inv.Nodes)); err != nil {
		return err
	}
	all, err := c.Store.List()
	if err != nil {
		return err
	}
	for _, n := range all {
		if inv.Node(n.Name) == nil && (n.Token != nil && n.Token.UsedAt.IsZero() || n.Identity != nil && n.Identity.RevokedAt.IsZero()) {
			if err := c.Tokens.Revoke(n.Name, "the node was removed from the inventory"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Revoke revokes node's credentials (`provision node revoke NODE`): its agents are
// refused until `provision up --reprovision NODE` gives it new ones.
func (c *Core) Revoke(_ context.Context, node string) error {
	if _, err := c.Store.Get(node); err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	return c.Tokens.Revoke(node, "revoked by the operator (provision node revoke)")
}

// Installed reports whether node is installed (httpboot: it boots its local disk).
func (c *Core) Installed(node string) bool {
	n, err := c.Store.Get(node)
	return err == nil && (n.Installed || lifecycle.BootsLocal(n))
}

// ForcedRun reports whether a run started with --force is under way for node: the one
// case in which a protected or maintenance node is answered with its network boot.
func (c *Core) ForcedRun(node string) bool {
	n, err := c.Store.Get(node)
	return err == nil && n.Force && lifecycle.Phase(n.Phase).Active()
}

// SetInstalled records that node's OS is on its disk (the agent API's installed call,
// made with the node's certificate).
func (c *Core) SetInstalled(node string) error {
	_, err := c.Store.Update(node, func(n *state.Node) ([]state.Event, error) {
		if n.Phase == "" {
			return nil, fmt.Errorf("node %s: %w", node, state.ErrNotFound)
		}
		now := time.Now()
		n.Installed, n.InstalledAt = true, now
		return []state.Event{{Kind: "node.installed", Time: now, Detail: "the node's OS is on its disk: it boots its local disk until `provision up --reprovision " + node + "`"}}, nil
	})
	return err
}

// Up brings up the nodes the selectors name in the inventory in force.
func (c *Core) Up(_ context.Context, req api.UpRequest) (api.UpResponse, error) {
	inv := c.Inventory()
	if inv == nil {
		return api.UpResponse{}, errors.New("serve has no inventory loaded yet")
	}
	if len(req.Selectors) == 0 {
		return api.UpResponse{}, errors.New("name the nodes to bring up: names, globs, rack=, role=, k=v labels, or all")
	}
	nodes, err := inv.SelectAny(req.Selectors)
	if err != nil {
		return api.UpResponse{}, err
	}
	if len(nodes) == 0 {
		return api.UpResponse{}, fmt.Errorf("%s selects no node of the inventory", strings.Join(req.Selectors, " "))
	}
	seq, err := c.Store.LastSeq()
	if err != nil {
		return api.UpResponse{}, err
	}
	if req.Wave > 0 && !req.DryRun {
		c.Machine.SetWave(req.Wave)
	}
	// A new run: the previous run's certificate is refused from now on (its run no
	// longer matches), and it is marked revoked; the node network-boots again.
	onStart := func(n *state.Node, now time.Time) []state.Event {
		evs := revokeBefore(n, n.Run, fmt.Sprintf("run %d started (provision up)", n.Run), now)
		if n.Installed {
			n.Installed, n.InstalledAt = false, time.Time{}
			evs = append(evs, state.Event{Kind: "node.installed.cleared", Time: now, Detail: fmt.Sprintf("run %d: the node network-boots again", n.Run)})
		}
		return evs
	}
	ds, err := c.Machine.Up(c.deployTargets(inv, nodes), lifecycle.UpOptions{Force: req.Force, Reprovision: req.Reprovision, DryRun: req.DryRun, OnStart: onStart})
	return api.UpResponse{Decisions: ds, LastSeq: seq}, err
}

// Expect is a node's expectations, derived from the inventory in force
// (plan.ExpectationsFor), with this run's deploy (expectDeploy).
func (c *Core) Expect(node string) (*expect.Expectations, error) {
	inv := c.Inventory()
	if inv == nil {
		return nil, errors.New("serve has no inventory loaded yet")
	}
	e, err := plan.ExpectationsFor(inv, node)
	if err != nil {
		return nil, err
	}
	return e, c.expectDeploy(e)
}

// Judge is serve's own checks of a node's report: what its interfaces heard over LLDP
// against the cabling of the inventory in force.
func (c *Core) Judge(node string, rep *check.Report) []check.Result {
	inv := c.Inventory()
	if inv == nil {
		return nil
	}
	return cabling.Check(inv, node, rep.LLDP)
}

// Run serves both APIs and runs the lifecycle until ctx ends.
func (c *Core) Run(ctx context.Context) error {
	// An API whose Serve fails ends the rest too, so Run returns its error instead of
	// waiting, without that API, for a ctx nobody cancels.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	serve := func(name string, ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: c.cfg.ReadHeaderTimeout, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
		go func() {
			defer wg.Done()
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), c.cfg.ShutdownGrace)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}
	if c.agentLn != nil {
		serve("agent API", c.agentLn, api.AgentHandler(api.AgentConfig{Tokens: c.Tokens, Lifecycle: c.Machine, Expect: c.Expect,
			Installed: c.SetInstalled, Judge: c.Judge, CAPEM: c.PKI.CAPEM(), Log: c.log}))
	}
	serve("control API", c.ctlLn, api.ControlHandler(api.ControlConfig{Store: c.Store, Token: c.ctlToken, Up: c.Up, Revoke: c.Revoke}))
	wg.Add(2)
	go func() {
		defer wg.Done()
		c.Machine.Run(ctx, c.cfg.Tick)
	}()
	go func() {
		defer wg.Done()
		c.backups(ctx)
	}()
	c.runShared(ctx, &wg)
	c.log.Info("provisioning core", "state", where(c.Store), "agent_api", c.agentURL, "control_api", c.ctlAddr, "ca", c.PKI.Fingerprint())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel()
	wg.Wait()
	return err
}

// backups writes the rolling backup at start and every BackupEvery until ctx ends. A
// failed backup is logged and tried again at the next tick: it must not stop serve.
func (c *Core) backups(ctx context.Context) {
	every, keep := c.cfg.BackupEvery, c.cfg.BackupKeep
	if every < 0 {
		return
	}
	if every == 0 {
		every = state.DefaultBackupEvery
	}
	if keep <= 0 {
		keep = state.DefaultBackupKeep
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if path, err := state.RollBackupOf(c.Store, c.cfg.StateDir, keep, time.Now()); err != nil {
			c.log.Error("state backup failed", "dir", state.BackupDir(c.cfg.StateDir), "err", err)
		} else {
			c.log.Info("state backup", "path", path, "keep", keep)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close releases the listeners and the state (after Run has returned).
func (c *Core) Close() error {
	if c.agentLn != nil {
		c.agentLn.Close()
	}
	if c.ctlLn != nil {
		c.ctlLn.Close()
	}
	if c.cluster != nil {
		c.cluster.Close()
	}
	if c.Store != nil {
		return c.Store.Close()
	}
	return nil
}
