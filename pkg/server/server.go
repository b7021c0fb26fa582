// Package server is `provision serve` and its composition root: from one Config it
// builds the whole serving process. It loads the inventory, builds the plan and runs
// DHCP, TFTP and HTTP boot from it on one interface or address, reloading the plan when
// inventory files change (a defective edit is rejected and the last good plan stays);
// with Config.Provision it opens the provisioning core (pkg/provisioner) on the same
// address and state, and wires it to the boot services: every inventory put in force,
// every boot event, and each boot script's agent credentials.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/tftp"
	"github.com/racklift/racklift/pkg/ui"
	"github.com/racklift/racklift/templates"
)

// HTTPIdleTimeout closes the boot HTTP server's idle keep-alive connections.
const HTTPIdleTimeout = 60 * time.Second

// Config is serve's configuration: everything `provision serve` takes from its command
// line. New builds the whole serving process from it (the boot services, and with
// Provision the provisioning core), so the command is flags → Config → Serve.
type Config struct {
	Inventory string
	Interface string // DHCP bound to it; TFTP and HTTP to its IPv4 address
	Listen    string // or: an IP address to bind everything to (DHCP then hears no broadcasts)
	HTTPPort  int    // default plan.DefaultHTTPPort
	TFTPPort  int    // default 69
	DHCPPort  int    // default 67 (4011 is added in proxy mode)
	PXEDir    string
	Artifacts string
	StateDir  string
	// AgentBinary is the node-agent served to installers; "": node-agent next to the
	// running executable, if there is one.
	AgentBinary string
	// Templates are the ipxe/, install/ and systemd/ templates; nil: the built-in ones.
	Templates fs.FS
	Log       *slog.Logger
	// TFTPWindow caps the RFC 7440 windowsize granted to TFTP clients that ask for one;
	// 0: tftp.DefaultWindow (16), 1: lock-step for every client.
	TFTPWindow uint
	// TFTPMax and TFTPMaxPerClient cap TFTP transfers in flight, in all and per client
	// address (0: tftp.DefaultMaxTransfers, tftp.DefaultMaxPerClient).
	TFTPMax          int
	TFTPMaxPerClient int
	// DHCPRelays are relay agents (giaddr) answered besides those the inventory names
	// (dhcp.relays), for the nodes of the network holding their address; a request
	// carrying any other giaddr is dropped.
	DHCPRelays []netip.Addr
	// NoDHCP leaves DHCP to another server whatever the network's mode says.
	NoDHCP bool
	// HTTPHeaderTimeout is how long the boot HTTP server waits for a request's header
	// (default 10s): a client that sends none cannot hold a connection.
	HTTPHeaderTimeout time.Duration
	// Provision, when set, runs the provisioning core (pkg/provisioner: state, lifecycle,
	// agent API, control API): it gets every inventory put in force and every boot
	// event, and gives boot scripts their agent credentials.
	Provision *Provision
}

// snapshot is one good inventory and its plan.
type snapshot struct {
	inv  *inventory.Inventory
	plan *plan.Plan
	byIP map[netip.Addr]*plan.NodePlan
}

// Server is the serving process: the boot services and, with Provision, the
// provisioning core.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ip     netip.Addr
	Events *events.Stream
	reg    *prometheus.Registry

	cur        atomic.Pointer[snapshot]
	learnedMu  sync.Mutex
	learned    map[netip.Addr]string // proxy mode: address → MAC
	discovered *dhcp.Discovered

	reloads *prometheus.CounterVec
	nodes   prometheus.Gauge
	ops     *opsMetrics // metrics.go

	httpAddr net.Addr
	ready    chan struct{}

	core *provisioner.Core
}

// New loads the inventory (a defect is a startup error) and prepares the services.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPPort == 0 {
		cfg.HTTPPort = plan.DefaultHTTPPort
	}
	if cfg.TFTPPort == 0 {
		cfg.TFTPPort = 69
	}
	if cfg.DHCPPort == 0 {
		cfg.DHCPPort = dhcp.PortDHCP
	}
	if cfg.HTTPHeaderTimeout <= 0 {
		cfg.HTTPHeaderTimeout = 10 * time.Second
	}
	if cfg.Templates == nil {
		cfg.Templates = templates.FS
	}
	if cfg.AgentBinary == "" {
		cfg.AgentBinary = agentNextToExecutable()
	}
	// The lifecycle's tuning is checked first, as the flags that give it are.
	var lc lifecycle.Config
	if cfg.Provision != nil {
		var err error
		if lc, err = cfg.Provision.lifecycle(); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, log: cfg.Log, reg: prometheus.NewRegistry(), learned: map[netip.Addr]string{}, ready: make(chan struct{})}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.Events = events.New(cfg.Log, s.reg)
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "racklift_inventory_reloads_total", Help: "Inventory reloads by result (applied or rejected).",
	}, []string{"result"})
	s.nodes = prometheus.NewGauge(prometheus.GaugeOpts{Name: "racklift_serve_nodes", Help: "Nodes in the plan in force."})
	s.reg.MustRegister(s.reloads, s.nodes)
	s.ops = newOpsMetrics(s.reg)

	ip, err := bindAddr(cfg)
	if err != nil {
		return nil, err
	}
	s.ip = ip
	snap, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur.Store(snap)
	s.nodes.Set(float64(len(snap.plan.Nodes)))
	if cfg.Provision != nil {
		cc := cfg.coreConfig(ip, lc)
		cc.BMC.Observe = s.ops.observeBMC
		if cc.Shared != nil {
			sh := *cc.Shared
			if nw := s.network(); nw != nil {
				sh.Networks = []string{nw.Network} // the one network this serve answers DHCP on
			}
			cc.Shared = &sh
		}
		if s.core, err = provisioner.Open(cc); err != nil {
			return nil, err
		}
		s.ops.store = s.core.Store.List
		// Run closes the core; a failure from here on must close it (its lock on
		// state.db, its listeners) before returning.
		defer func() {
			if err != nil {
				s.core.Close()
				s.core = nil
			}
		}()
		if err = s.core.SetInventory(snap.inv); err != nil {
			return nil, err
		}
	}
	if s.discovered, err = dhcp.OpenDiscovered(cfg.StateDir); err != nil {
		return nil, err
	}
	return s, nil
}

// Serve builds the serving process from cfg and runs it until ctx ends: the one call
// behind `provision serve`.
func Serve(ctx context.Context, cfg Config) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// agentNextToExecutable is node-agent beside the running binary (bin/provision,
// bin/node-agent), or "" when there is none.
func agentNextToExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(exe), "node-agent")
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	return p
}

// bindAddr is the one address serve listens on.
func bindAddr(cfg Config) (netip.Addr, error) {
	switch {
	case cfg.Interface != "" && cfg.Listen != "":
		return netip.Addr{}, errors.New("give --interface or --listen, not both")
	case cfg.Listen != "":
		a, err := netip.ParseAddr(cfg.Listen)
		if err != nil || !a.Is4() {
			return netip.Addr{}, fmt.Errorf("--listen %q: want an IPv4 address of this host", cfg.Listen)
		}
		return a, nil
	case cfg.Interface != "":
		ifc, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("interface %s: %w (see `ip link`; on a VLAN use the sub-interface, e.g. eno1.100)", cfg.Interface, err)
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
				return p.Addr(), nil
			}
		}
		return netip.Addr{}, fmt.Errorf("interface %s has no IPv4 address: give it the network's server address (e.g. ip addr add 10.10.0.2/22 dev %s)", cfg.Interface, cfg.Interface)
	}
	return netip.Addr{}, errors.New("give --interface IFACE (the provisioning network) or --listen ADDR")
}

func (s *Server) load() (*snapshot, error) {
	inv, err := inventory.Load(s.cfg.Inventory)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(inv, plan.Options{HTTPPort: s.cfg.HTTPPort})
	if err != nil {
		return nil, err
	}
	snap := &snapshot{inv: inv, plan: p, byIP: map[netip.Addr]*plan.NodePlan{}}
	for _, np := range p.Nodes {
		if np.Reservation.IP.IsValid() {
			snap.byIP[np.Reservation.IP] = np
		}
	}
	return snap, nil
}

// Current is the plan in force.
func (s *Server) Current() *plan.Plan { return s.cur.Load().plan }

// ByMAC is the node plan of a MAC in the plan in force.
func (s *Server) ByMAC(mac net.HardwareAddr) *plan.NodePlan { return s.cur.Load().plan.ByMAC(mac) }

// NodeByIP names the node using ip: its reservation, or what proxy mode learned.
func (s *Server) NodeByIP(ip netip.Addr) (string, string, bool) {
	snap := s.cur.Load()
	if np := snap.byIP[ip]; np != nil {
		return np.Node, np.Reservation.MACString, true
	}
	s.learnedMu.Lock()
	mac := s.learned[ip]
	s.learnedMu.Unlock()
	if mac != "" {
		if hw, err := net.ParseMAC(mac); err == nil {
			if np := snap.plan.ByMAC(hw); np != nil {
				return np.Node, mac, true
			}
		}
	}
	return "", "", false
}

// Learn records the address a proxy-mode node asked the site's DHCP server for.
func (s *Server) Learn(mac net.HardwareAddr, ip netip.Addr) {
	s.learnedMu.Lock()
	defer s.learnedMu.Unlock()
	if len(s.learned) > 65536 {
		clear(s.learned)
	}
	s.learned[ip] = mac.String()
}

// network is the inventory network this server's address belongs to (its server
// address, or failing that the one whose prefix holds it).
func (s *Server) network() *plan.HostInterface {
	p := s.Current()
	for i, h := range p.Host {
		if h.Address.Addr() == s.ip {
			return &p.Host[i]
		}
	}
	for i, h := range p.Host {
		if h.Address.Masked().Contains(s.ip) {
			return &p.Host[i]
		}
	}
	return nil
}

// mode is the DHCP mode of the served network.
func (s *Server) mode(network string) string {
	if nw := s.cur.Load().inv.Network(network); nw != nil && nw.DHCP != nil {
		return nw.DHCP.Mode
	}
	return dhcp.ModeOff
}

// HTTPAddr is where HTTP listens once Run has started it.
func (s *Server) HTTPAddr() net.Addr {
	<-s.ready
	return s.httpAddr
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sv := newServices(ctx)

	// The provisioning core first, so it hears every boot event; it is stopped and
	// closed last, after the boot services (its store must outlive their events).
	if s.core != nil {
		var cwg sync.WaitGroup
		cwg.Add(3)
		go func() {
			defer cwg.Done()
			s.core.Follow(ctx, s.Events)
		}()
		follow := s.ops.followTransitions(s.core.Store)
		go func() {
			defer cwg.Done()
			follow(ctx)
		}()
		go func() {
			defer cwg.Done()
			sv.report("provisioning core", s.core.Run(ctx))
		}()
		defer func() {
			cancel()
			cwg.Wait()
			s.core.Close()
		}()
	}

	nw := s.network()
	netName := ""
	if nw != nil {
		netName = nw.Network
	} else {
		s.log.Warn("the listen address is on no network of the inventory: DHCP answers only the relayed networks that name it as server", "address", s.ip.String())
	}

	// TFTP
	ts, err := tftp.New(tftp.Config{Root: s.cfg.PXEDir, Events: s.Events, Nodes: s, Window: s.cfg.TFTPWindow,
		MaxTransfers: s.cfg.TFTPMax, MaxPerClient: s.cfg.TFTPMaxPerClient})
	if err != nil {
		return err
	}
	tconn, err := tftp.Listen(netip.AddrPortFrom(s.ip, uint16(s.cfg.TFTPPort)).String())
	if err != nil {
		return fmt.Errorf("tftp: listen on %s port %d: %w (is tftpd-hpa or dnsmasq running there?)", s.ip, s.cfg.TFTPPort, err)
	}
	sv.start("tftp", func() error { return ts.Serve(tconn) })
	defer ts.Shutdown()

	// HTTP
	hb, err := httpboot.New(httpboot.Config{
		Plans: s, Templates: s.cfg.Templates, Artifacts: s.cfg.Artifacts, PXEDir: s.cfg.PXEDir,
		AgentBinary: s.cfg.AgentBinary, State: s.nodeState(), Events: s.Events, Nodes: s, Log: s.log,
		BootArgs: s.bootArgs(),
	})
	if err != nil {
		return err
	}
	defer hb.Close()
	mux := hb.Mux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/events", s.apiEvents)
	mux.HandleFunc("GET /api/discovered", s.apiDiscovered)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	if s.core != nil {
		// The dashboard: the inventory in force and the core's state, for clients on this
		// host or holding the control token (pkg/ui).
		mux.Handle(ui.Prefix, ui.Handler(ui.Config{Inventory: s.core.Inventory, Store: s.core.Store, Token: s.core.ControlToken(), Log: s.log}))
	}
	ln, err := net.Listen("tcp4", netip.AddrPortFrom(s.ip, uint16(s.cfg.HTTPPort)).String())
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	s.httpAddr = ln.Addr()
	// IdleTimeout: a keep-alive connection nobody uses is closed, so idle clients cannot
	// hold sockets and goroutines for ever.
	hs := &http.Server{Handler: hb, ReadHeaderTimeout: s.cfg.HTTPHeaderTimeout, IdleTimeout: HTTPIdleTimeout}
	sv.start("http", func() error {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	defer hs.Close()

	// DHCP: the served network's, and the relayed networks' whose relays forward here.
	mode, relayed := s.dhcpMode(netName)
	if s.cfg.NoDHCP {
		mode = dhcp.ModeOff
	}
	h := &dhcp.Handler{Nodes: s, Events: s.Events, Discovered: s.discovered, Learner: s, Network: netName, ServerIP: s.ip,
		Networks: s, Cabling: s, Relays: s.cfg.DHCPRelays, Log: s.log}
	ports := map[string][]int{dhcp.ModeReservation: {s.cfg.DHCPPort}, dhcp.ModeProxy: {s.cfg.DHCPPort, dhcp.PortPXE}}[mode]
	listenDHCP := func(serve func(string, func() error)) ([]*dhcp.Server, error) {
		var out []*dhcp.Server
		for _, port := range ports {
			var ip net.IP
			if s.cfg.Interface == "" {
				ip = net.IP(s.ip.AsSlice())
			}
			ds, err := dhcp.Listen(s.cfg.Interface, ip, port, h, s.log)
			if err != nil {
				for _, d := range out {
					d.Close()
				}
				return nil, err
			}
			serve("dhcp", ds.Serve)
			out = append(out, ds)
		}
		return out, nil
	}
	if s.core != nil && s.core.Instance() != "" && len(ports) > 0 {
		// Shared state: DHCP listens only while this instance is elected for the network;
		// the others stand by.
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.electedDHCP(ctx, netName, listenDHCP)
		}()
		defer func() { cancel(); <-done }()
	} else {
		dss, err := listenDHCP(sv.start)
		if err != nil {
			return err
		}
		for _, ds := range dss {
			defer ds.Close()
		}
	}
	defer s.discovered.Flush()

	// Hot reload
	w, err := s.watch(ctx)
	if err != nil {
		return err
	}
	defer w.Close()

	s.log.Info("serving", "address", s.ip.String(), "interface", s.cfg.Interface, "network", netName, "dhcp", mode, "relayed", relayed,
		"http", s.httpAddr.String(), "tftp_root", s.cfg.PXEDir, "nodes", len(s.Current().Nodes))
	close(s.ready)
	select {
	case <-ctx.Done():
		return nil
	case err := <-sv.failed():
		return err
	}
}

func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	evs := s.Events.Recent(r.URL.Query().Get("node"))
	if since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64); err == nil {
		i := 0
		for i < len(evs) && evs[i].Seq <= since {
			i++
		}
		evs = evs[i:]
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(evs)
}

func (s *Server) apiDiscovered(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s.discovered.List())
}

// IP is the address serve listens on.
func (s *Server) IP() netip.Addr { return s.ip }

func (s *Server) bootArgs() func(node, mac string, reserved netip.Addr) ([]string, error) {
	if s.core == nil {
		return nil
	}
	return s.core.BootArgs
}

// nodeState is the core's record of installs and forced runs; none without a core.
func (s *Server) nodeState() httpboot.NodeState {
	if s.core == nil {
		return nil
	}
	return s.core
}
