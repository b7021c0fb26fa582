package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/pkg/state"
)

// CoreConfig is what serve passes to OpenCore.
type CoreConfig struct {
	StateDir string
	// Hosts are serve's addresses (IPs or names) the agent API's certificate names.
	Hosts []string
	// AgentListen is host:port of the agent API (TLS); port 0 picks one. Empty: no
	// agent API.
	AgentListen string
	// ControlAPI is "" (the unix socket in StateDir) or http://127.0.0.1:PORT.
	ControlAPI string
	// Power drives the BMCs; nil uses pkg/bmc with Secrets and BMC.
	Power   lifecycle.Power
	Secrets *inventory.Secrets
	BMC     bmc.Options
	// Lifecycle tunes timeouts, attempts and the default wave.
	Lifecycle lifecycle.Config
	TokenTTL  time.Duration
	// Tick is how often timeouts and queued power cycles are looked at (default 1s).
	Tick time.Duration
	Log  *slog.Logger
}

// Core is serve's provisioning side: the state, the lifecycle machine, the PKI and agent
// tokens, and both APIs. serve feeds it the inventory (SetInventory, at start and on each
// reload) and the boot events (Follow), and asks it for each node's boot arguments.
type Core struct {
	Store   *state.Bolt
	PKI     *pki.PKI
	Tokens  *Tokens
	Machine *lifecycle.Machine

	cfg      CoreConfig
	log      *slog.Logger
	inv      atomic.Pointer[inventory.Inventory]
	agentLn  net.Listener
	ctlLn    net.Listener
	agentURL string
	ctlAddr  string
	ctlToken string
}

// OpenCore opens the state, loads or creates the CA and listens on both APIs.
func OpenCore(cfg CoreConfig) (*Core, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	c := &Core{cfg: cfg, log: cfg.Log}
	var err error
	if c.Store, err = state.Open(cfg.StateDir, state.Options{LockTimeout: 10 * time.Second}); err != nil {
		return nil, err
	}
	fail := func(err error) (*Core, error) {
		c.Close()
		return nil, err
	}
	if c.PKI, err = pki.LoadOrCreate(pki.Dir(cfg.StateDir), cfg.Hosts); err != nil {
		return fail(err)
	}
	c.Tokens = NewTokens(c.Store, cfg.TokenTTL)
	power := cfg.Power
	if power == nil {
		power = &BMCPower{Inventory: c.Inventory, Secrets: cfg.Secrets, Options: cfg.BMC}
	}
	lc := cfg.Lifecycle
	if lc.Log == nil {
		lc.Log = cfg.Log
	}
	c.Machine = lifecycle.New(c.Store, power, c.Tokens, lc)

	if cfg.AgentListen != "" {
		ln, err := net.Listen("tcp", cfg.AgentListen)
		if err != nil {
			return fail(fmt.Errorf("agent API: listen on %s: %w", cfg.AgentListen, err))
		}
		c.agentLn = tls.NewListener(ln, c.PKI.TLSConfig())
		host, _, _ := net.SplitHostPort(cfg.AgentListen)
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			if len(cfg.Hosts) == 0 {
				return fail(errors.New("agent API listens on every address: name the one nodes reach in Hosts"))
			}
			host = cfg.Hosts[0]
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		c.agentURL = "https://" + net.JoinHostPort(host, port)
	}
	if c.ctlToken, err = LoadOrCreateToken(cfg.StateDir); err != nil {
		return fail(err)
	}
	switch {
	case cfg.ControlAPI == "":
		c.ctlAddr = "unix://" + SocketPath(cfg.StateDir)
		c.ctlLn, err = ListenUnix(SocketPath(cfg.StateDir))
	case strings.HasPrefix(cfg.ControlAPI, "http://"):
		u, perr := url.Parse(cfg.ControlAPI)
		if perr != nil {
			return fail(fmt.Errorf("control API %q: %w", cfg.ControlAPI, perr))
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return fail(fmt.Errorf("control API %q: only a loopback address (127.0.0.1) or the unix socket", cfg.ControlAPI))
		}
		c.ctlLn, err = net.Listen("tcp", u.Host)
		if err == nil {
			c.ctlAddr = "http://" + c.ctlLn.Addr().String()
		}
	default:
		err = fmt.Errorf("control API %q: want http://127.0.0.1:PORT or empty for the unix socket", cfg.ControlAPI)
	}
	if err != nil {
		return fail(err)
	}
	return c, nil
}

// AgentURL is the agent API's base URL (racklift.api=), empty when none.
func (c *Core) AgentURL() string { return c.agentURL }

// ControlAddr is where the CLI reaches the control API (--api).
func (c *Core) ControlAddr() string { return c.ctlAddr }

// Inventory is the inventory in force.
func (c *Core) Inventory() *inventory.Inventory { return c.inv.Load() }

// SetInventory puts an inventory in force: its nodes are enrolled, locks and MACs
// updated, so a node added while serve runs can be brought up at once.
func (c *Core) SetInventory(inv *inventory.Inventory) error {
	c.inv.Store(inv)
	return c.Machine.SetTargets(TargetsFor(inv.Nodes))
}

// TargetsFor makes lifecycle targets of inventory nodes.
func TargetsFor(nodes []*inventory.Node) []lifecycle.Target {
	out := make([]lifecycle.Target, 0, len(nodes))
	for _, n := range nodes {
		t := lifecycle.Target{Name: n.Name, Protected: n.Protected, Maintenance: n.Maintenance, BMC: BMCName(n)}
		if ifc := n.PXEInterface(); ifc != nil {
			t.MAC = ifc.MAC
			if ifc.HW != nil {
				t.MAC = ifc.HW.String()
			}
		}
		out = append(out, t)
	}
	return out
}

// BMCName is how reasons name a node's BMC: https://host:port or ipmi://host:port.
func BMCName(n *inventory.Node) string {
	if u := bmc.URLFor(n); u != "" {
		return u
	}
	return "(no BMC address)"
}

// BootArgs are the kernel arguments for node's network boot, asked for by MAC: its agent
// token, the CA fingerprint to pin and the agent API. None for a node no `up` is
// provisioning (it boots its profile without a token); an error means the node must not
// network-boot now (serve the local-disk script and say why).
func (c *Core) BootArgs(node, mac string) ([]string, error) {
	if c.agentURL == "" {
		return nil, errors.New("serve runs no agent API")
	}
	// The script request itself shows the node is network-booting: record it first, so a
	// node whose BMC has not answered yet (or whose DHCP event is still queued) enters pxe
	// and gets its token now rather than the local-disk script.
	if _, err := c.Machine.Handle(lifecycle.Event{Node: node, Kind: lifecycle.BootScript, Detail: "boot script for MAC " + mac}); err != nil {
		return nil, err
	}
	tok, err := c.Tokens.ForBoot(node, mac)
	if errors.Is(err, ErrNoToken) {
		// Network-booted by hand, not by `up`: it boots its profile as before, but its
		// agent gets no token, so its reports are refused until `provision up NODE`.
		c.log.Info("node network-boots without provision up: its boot script carries no agent token", "node", node, "mac", mac)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return pki.KernelArgs(tok, c.PKI.Fingerprint(), c.agentURL), nil
}

// BootEvent maps a boot-service event onto the lifecycle's. A failed transfer, the
// local-disk script, or an event without a node is recorded but moves nothing.
func BootEvent(e events.Event) (lifecycle.Event, bool) {
	if e.Node == "" {
		return lifecycle.Event{}, false
	}
	k := string(e.Kind)
	switch {
	case e.Kind == events.HTTPArtifact:
		k = string(lifecycle.HTTPKernel) // kernel or initrd: the node is loading its OS
	case e.Kind == events.HTTPScript && e.Detail == "local":
		k = "http.script.local"
	}
	detail := e.Detail
	if e.IP != "" {
		detail = strings.TrimSpace(detail + " from " + e.IP)
	}
	if e.Err != "" {
		k += ".error"
		detail += ": " + e.Err
	}
	return lifecycle.Event{Node: e.Node, Kind: lifecycle.Kind(k), Time: e.Time, Detail: detail}, true
}

// Handle feeds one boot event to the lifecycle.
func (c *Core) Handle(e events.Event) {
	le, ok := BootEvent(e)
	if !ok {
		return
	}
	if _, err := c.Machine.Handle(le); err != nil {
		c.log.Error("recording boot event", "node", e.Node, "kind", e.Kind, "err", err)
	}
}

// followBuffer is large so a burst (a rack DHCPing at once) is not dropped by the stream.
const followBuffer = 65536

// Follow feeds the stream's events to the lifecycle until ctx ends.
func (c *Core) Follow(ctx context.Context, s *events.Stream) {
	for e := range s.Subscribe(ctx, followBuffer) {
		c.Handle(e)
	}
}

// Up brings up the nodes the selectors name in the inventory in force.
func (c *Core) Up(_ context.Context, req UpRequest) (UpResponse, error) {
	inv := c.Inventory()
	if inv == nil {
		return UpResponse{}, errors.New("serve has no inventory loaded yet")
	}
	if len(req.Selectors) == 0 {
		return UpResponse{}, errors.New("name the nodes to bring up: names, globs, rack=, role=, k=v labels, or all")
	}
	nodes, err := inv.SelectAny(req.Selectors)
	if err != nil {
		return UpResponse{}, err
	}
	if len(nodes) == 0 {
		return UpResponse{}, fmt.Errorf("%s selects no node of the inventory", strings.Join(req.Selectors, " "))
	}
	seq, err := c.Store.LastSeq()
	if err != nil {
		return UpResponse{}, err
	}
	if req.Wave > 0 && !req.DryRun {
		c.Machine.SetWave(req.Wave)
	}
	ds, err := c.Machine.Up(TargetsFor(nodes), lifecycle.UpOptions{Force: req.Force, Reprovision: req.Reprovision, DryRun: req.DryRun})
	return UpResponse{Decisions: ds, LastSeq: seq}, err
}

// Expect is a node's expectations, derived from the inventory in force
// (plan.ExpectationsFor).
func (c *Core) Expect(node string) (*expect.Expectations, error) {
	inv := c.Inventory()
	if inv == nil {
		return nil, errors.New("serve has no inventory loaded yet")
	}
	return plan.ExpectationsFor(inv, node)
}

// Run serves both APIs and runs the lifecycle until ctx ends.
func (c *Core) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	serve := func(name string, ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
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
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
	}
	if c.agentLn != nil {
		serve("agent API", c.agentLn, AgentHandler(AgentConfig{Tokens: c.Tokens, Lifecycle: c.Machine, Expect: c.Expect, Log: c.log}))
	}
	serve("control API", c.ctlLn, ControlHandler(ControlConfig{Store: c.Store, Token: c.ctlToken, Up: c.Up}))
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.Machine.Run(ctx, c.cfg.Tick)
	}()
	c.log.Info("provisioning core", "state", c.Store.Path(), "agent_api", c.agentURL, "control_api", c.ctlAddr, "ca", c.PKI.Fingerprint())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	wg.Wait()
	return err
}

// Close releases the listeners and the state (after Run has returned).
func (c *Core) Close() error {
	if c.agentLn != nil {
		c.agentLn.Close()
	}
	if c.ctlLn != nil {
		c.ctlLn.Close()
	}
	if c.Store != nil {
		return c.Store.Close()
	}
	return nil
}
