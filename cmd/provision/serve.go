package main

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/config"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/server"
	"github.com/racklift/racklift/pkg/tftp"
)

// serveFlags are serve's own flags.
type serveFlags struct {
	iface, listen                  string
	httpPort, tftpPort             int
	pxeDir, artifacts              string
	agentBin, templates, logFormat string
	agentURL                       string
	configFile                     string
	noDHCP                         bool
	tftpWindow                     uint
	agentPort, wave, attempts      int
	tftpMax, tftpMaxPerClient      int
	dhcpRelays                     []string
	bmcTimeout                     time.Duration
	phaseTimeouts                  map[string]string
	store                          config.StoreFlags
}

func newServeCmd(g *globals) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve PXE boot for the inventory's nodes: DHCP, TFTP and HTTP/iPXE",
		Long: `serve answers DHCP (in the provisioning network's mode: reservation, proxy or off),
TFTP (the iPXE binaries in --pxe-dir, read-only) and HTTP (per-node iPXE scripts,
artifacts, install files, /metrics) for the nodes in the inventory, and nothing else:
a MAC not in the inventory gets no DHCP answer and is listed by 'provision discovered'.

It binds to the given interface (DHCP with SO_BINDTODEVICE, TFTP and HTTP on the
interface's IPv4 address) or address only. Editing the inventory while serve runs
applies the change; an edit that fails validation is logged with its file:line errors
and the last good inventory stays in force.`,
		Example: `  provision serve -i inventory/examples/site --interface eno1.100 --artifacts /srv/racklift
  provision serve -i inventory/examples/lab --listen 10.204.0.1 --pxe-dir pxe --artifacts artifacts
  curl http://10.10.0.2:8080/metrics`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, _, stop := cli.SignalContext(cmd.Context(), nil)
			defer stop()
			src, err := config.Serve(cmd.Flags(), f.configFile, cmd.Flags().Changed("config"), os.Getenv)
			if err != nil {
				return cli.Exitf(2, "error: %v", err)
			}
			cfg, err := f.config(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if len(src) > 0 {
				cfg.Log.Info("configuration", "from", src.String())
			}
			s, err := server.New(cfg)
			if err != nil {
				return err
			}
			return config.RunNotify(ctx, s.Run, func() { s.HTTPAddr() }, cli.SdNotify, cfg.Log)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.iface, "interface", "", "provisioning interface to serve on (DHCP bound to it, TFTP/HTTP on its IPv4 address)")
	fl.StringVar(&f.listen, "listen", "", "or: the IPv4 address to serve on (DHCP then only hears relayed/unicast requests)")
	fl.IntVar(&f.httpPort, "http-port", 8080, "HTTP port (iPXE scripts, artifacts, install files, /metrics)")
	fl.IntVar(&f.tftpPort, "tftp-port", 69, "TFTP port")
	fl.StringVar(&f.pxeDir, "pxe-dir", "pxe", "directory of iPXE binaries served over TFTP (make pxe fills it)")
	fl.StringVar(&f.artifacts, "artifacts", "artifacts", "directory of kernels, initrds and images served at /artifacts/")
	fl.IntVar(&f.agentPort, "agent-port", server.DefaultAgentPort, "agent API port (HTTPS with serve's CA) on the serve address")
	fl.StringVar(&f.agentURL, "agent-url", "", "the agent API's URL nodes are told (racklift.api=) when they reach it elsewhere than the serve address and --agent-port: a load balancer's in front of several instances, e.g. https://10.204.0.1:8443 (its host joins serve's certificate)")
	fl.IntVar(&f.attempts, "attempts", 3, "attempts per node and up run, each with one power cycle, before the node is failed")
	fl.DurationVar(&f.bmcTimeout, "bmc-timeout", 90*time.Second, "how long one BMC call may take before the attempt fails (a hung BMC)")
	fl.StringToStringVar(&f.phaseTimeouts, "phase-timeout", nil, "override a phase's timeout, e.g. booting=20m,validating=1h (defaults: powering 3m, pxe 5m, booting 10m, agent 5m, validating 30m, deploying 30m, rebooting 10m, installed 30m)")
	fl.IntVar(&f.wave, "wave", 0, "default for up: how many nodes may be power-cycled and not yet past pxe at once (0: unlimited)")
	fl.StringVar(&f.agentBin, "agent-bin", "", "node-agent binary served to installers (default: node-agent next to provision)")
	fl.StringVar(&f.templates, "templates", "", "templates directory (ipxe/, install/, systemd/) instead of the built-in ones")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json (json suits journald and log shippers)")
	fl.StringVar(&f.configFile, "config", config.ServeFile, "YAML file of serve's flags (flag: value); a missing default file is skipped. Every flag can also come from RACKLIFT_<FLAG>, e.g. RACKLIFT_HTTP_PORT: flag > env > file > default")
	fl.UintVar(&f.tftpWindow, "tftp-window", 16, "largest TFTP windowsize (RFC 7440) granted to a client that asks for one, as EDK2 UEFI firmware does (4); 1 answers every client in lock-step. Clients that do not ask (iPXE, BIOS PXE ROMs) always get lock-step")
	fl.BoolVar(&f.noDHCP, "no-dhcp", false, "answer no DHCP whatever the network's mode says")
	fl.StringSliceVar(&f.dhcpRelays, "dhcp-relay", nil, "IPv4 address of a DHCP relay agent (giaddr) whose requests are answered; repeat or comma-separate. Requests with any other giaddr are dropped")
	fl.IntVar(&f.tftpMax, "tftp-max", tftp.DefaultMaxTransfers, "most TFTP transfers in flight; a request past it gets a TFTP error")
	fl.IntVar(&f.tftpMaxPerClient, "tftp-max-per-client", tftp.DefaultMaxPerClient, "most TFTP transfers in flight from one client address")
	f.store.Register(fl, true)
	return cmd
}

// config is serve's configuration from its flags and the global ones.
func (f *serveFlags) config(g *globals, stderr io.Writer) (server.Config, error) {
	var relays []netip.Addr
	for _, r := range f.dhcpRelays {
		a, err := netip.ParseAddr(strings.TrimSpace(r))
		if err != nil || !a.Is4() {
			return server.Config{}, fmt.Errorf("--dhcp-relay %q: not an IPv4 address", r)
		}
		relays = append(relays, a)
	}
	level, err := config.LogLevel(g.logLevel)
	if err != nil {
		return server.Config{}, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	switch f.logFormat {
	case "text":
		h = slog.NewTextHandler(stderr, opts)
	case "json":
		h = slog.NewJSONHandler(stderr, opts)
	default:
		return server.Config{}, fmt.Errorf("--log-format %q: want text or json", f.logFormat)
	}
	etcd, err := f.store.Etcd()
	if err != nil {
		return server.Config{}, err
	}
	var shared *provisioner.Shared
	if etcd != nil {
		shared = &provisioner.Shared{Etcd: *etcd, Instance: f.store.Instance, Lease: f.store.Lease}
	}
	var tfs fs.FS // nil: the built-in templates
	if f.templates != "" {
		tfs = os.DirFS(f.templates)
	}
	return server.Config{
		Inventory: g.inventory, Interface: f.iface, Listen: f.listen,
		HTTPPort: f.httpPort, TFTPPort: f.tftpPort,
		PXEDir: f.pxeDir, Artifacts: f.artifacts, StateDir: g.stateDir,
		AgentBinary: f.agentBin, Templates: tfs, Log: slog.New(h), NoDHCP: f.noDHCP, TFTPWindow: f.tftpWindow,
		TFTPMax: f.tftpMax, TFTPMaxPerClient: f.tftpMaxPerClient, DHCPRelays: relays,
		Provision: &server.Provision{
			ControlAPI: g.api, AgentPort: f.agentPort, AgentURL: f.agentURL, SecretsFile: g.secrets,
			Wave: f.wave, Attempts: f.attempts, BMCTimeout: f.bmcTimeout, PhaseTimeouts: f.phaseTimeouts,
			Shared: shared,
		},
	}, nil
}
