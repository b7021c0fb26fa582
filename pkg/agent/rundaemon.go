package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/agent/deploy"
	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/agent/hw"
	"github.com/racklift/racklift/pkg/agent/metrics"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/check"
)

// DaemonConfig is `node-agent daemon`'s configuration, as its flags give it;
// RunDaemon builds the daemon on the real machine from it.
type DaemonConfig struct {
	Server        string // the agent API's base URL; "": no server (ExpectFile)
	TokenFile     string // the bearer token (mode 0600); required with Server
	CAFingerprint string // pins serve's CA for an https Server (racklift.ca=)
	Spool         string // directory of reports waiting for the server
	ExpectFile    string // expectations from this file instead of the server
	Node          string // "": NodeName's default
	Stage         string // installed or ramdisk
	MetricsAddr   string // /metrics listen address; "": none (never with Once)
	// Interval, StorageEvery, Once and DeliverTimeout as Daemon's.
	Interval, StorageEvery, DeliverTimeout time.Duration
	Once                                   bool
	// ApplyNetworks sets up the node's networks before the first checks
	// (ApplyNetworks into NetStatePath).
	ApplyNetworks bool
	NetStatePath  string
	Checks        Options
	// DeployFiles gives the identity hand-off's files (node certificate, key, CA pin)
	// for the installed system when the ramdisk deploys an image; nil: none.
	DeployFiles func(ctx context.Context) ([]deploy.File, error)
	Log         *slog.Logger
}

// RunDaemon runs `node-agent daemon`: it reads the token, connects to the server,
// serves the metrics (GPU gauges from NVML when it loads, and the check statuses) and
// runs the Daemon with the machine's checks. Its result is Daemon.Run's.
func RunDaemon(ctx context.Context, cfg DaemonConfig) ([]check.Result, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Server == "" && cfg.ExpectFile == "" {
		return nil, errors.New("give --server URL --token-file FILE, or --expect FILE")
	}
	if cfg.Interval <= 0 {
		return nil, errors.New("--interval must be positive")
	}
	opts := cfg.Checks
	opts.Storage.AbsentOK = cfg.Stage == "ramdisk"
	d := &Daemon{Node: NodeName(cfg.Node), Stage: cfg.Stage, ExpectFile: cfg.ExpectFile,
		Interval: cfg.Interval, StorageEvery: cfg.StorageEvery, Once: cfg.Once, DeliverTimeout: cfg.DeliverTimeout, Log: log}
	if cfg.Server != "" {
		if cfg.TokenFile == "" {
			return nil, errors.New("--server needs --token-file FILE")
		}
		tok, err := report.ReadToken(cfg.TokenFile)
		if err != nil {
			return nil, err
		}
		client, err := report.NewClient(cfg.Server, tok, cfg.CAFingerprint)
		if err != nil {
			return nil, err
		}
		client.Agent = Version
		d.Client, d.Spool = client, &report.Spool{Dir: cfg.Spool}
		if cfg.Stage == "ramdisk" {
			// The ramdisk deploys the profile's image after its checks pass, fetching it
			// with the pinned transport (no overall timeout: images are large).
			var hc *http.Client
			if client.HTTP != nil {
				hc = &http.Client{Transport: client.HTTP.Transport}
			}
			d.Deploy = &deploy.Deployer{Client: hc, Files: cfg.DeployFiles, Log: log}
		}
		log.Info("reporting to the server", "server", cfg.Server, "node", d.Node, "token_file", cfg.TokenFile, "spool", cfg.Spool)
	}

	sampler, err := gpu.NewSampler(nil)
	if err != nil {
		log.Info("GPU metrics off", "reason", err.Error())
		sampler = nil
	} else {
		defer sampler.Close()
	}
	var spooled func() int
	if d.Spool != nil {
		spooled = func() int { return len(d.Spool.Pending()) }
	}
	m := metrics.New(d.Node, sampler, spooled)
	opts.GPU.OnXID = m.XID
	d.Observe = m.Observe
	d.Checks = &Local{Options: opts, Sampler: sampler}
	if cfg.MetricsAddr != "" && !cfg.Once {
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	if cfg.ApplyNetworks {
		d.SetUpNetworks = ApplyNetworks(cfg.NetStatePath, log)
	}
	return d.Run(ctx)
}

// NodeName is name, else the hostname, else (a ramdisk has none) the first NIC's MAC.
func NodeName(name string) string {
	if name != "" {
		return name
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "(none)" && h != "localhost" {
		return h
	}
	for _, n := range hw.Collect(hw.Roots{}).NICs {
		if n.MAC != "" {
			return strings.ReplaceAll(n.MAC, ":", "-")
		}
	}
	return "unknown"
}
