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
	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/lldp"
	"github.com/racklift/racklift/pkg/agent/metrics"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/pki"
)

// DaemonConfig is `node-agent daemon`'s configuration, as its flags give it;
// RunDaemon builds the daemon on the real machine from it.
type DaemonConfig struct {
	Server        string // the agent API's base URL; "": the identity's, else no server (ExpectFile)
	CAFingerprint string // pins serve's CA for an https Server (racklift.ca=); "": the identity's
	// IdentityDir holds the node's certificate, key and agent.yaml (identity.LoadBundle;
	// /etc/racklift on an installed system). Without one there, BootstrapFile's one-time
	// secret is exchanged for it and it is written there.
	IdentityDir   string
	BootstrapFile string
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
	// LLDPWait is how long each cycle listens for LLDP on the expected interfaces (the
	// report's LLDP part); 0: not at all.
	LLDPWait time.Duration
	// DeployFiles gives the identity hand-off's files (node certificate, key, CA pin)
	// for the installed system when the ramdisk deploys an image; nil: none.
	DeployFiles func(ctx context.Context) ([]deploy.File, error)
	Log         *slog.Logger
}

// RunDaemon runs `node-agent daemon`: it loads the node's identity (or exchanges its
// bootstrap for one), connects to the server with it (renewing it in time),
// serves the metrics (GPU gauges from NVML when it loads, and the check statuses) and
// runs the Daemon with the machine's checks. Its result is Daemon.Run's.
func RunDaemon(ctx context.Context, cfg DaemonConfig) ([]check.Result, error) {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var bundle identity.Bundle
	var idErr error
	if cfg.IdentityDir != "" {
		bundle, idErr = identity.LoadBundle(cfg.IdentityDir)
		if idErr == nil {
			cfg.Server = cmpOr(cfg.Server, bundle.APIURL)
			cfg.CAFingerprint = cmpOr(cfg.CAFingerprint, bundle.CAPin)
			cfg.Node = cmpOr(cfg.Node, bundle.Node)
		} else if !errors.Is(idErr, identity.ErrNone) {
			return nil, idErr
		}
	}
	if cfg.Server == "" && cfg.ExpectFile == "" {
		return nil, fmt.Errorf("give --server URL with --bootstrap-file FILE, an identity in --identity-dir (%s), or --expect FILE", cfg.IdentityDir)
	}
	if cfg.Interval <= 0 {
		return nil, errors.New("--interval must be positive")
	}
	opts := cfg.Checks
	opts.Storage.AbsentOK = cfg.Stage == "ramdisk"
	d := &Daemon{Node: NodeName(cfg.Node), Stage: cfg.Stage, ExpectFile: cfg.ExpectFile,
		Interval: cfg.Interval, StorageEvery: cfg.StorageEvery, Once: cfg.Once, DeliverTimeout: cfg.DeliverTimeout, Log: log}
	if cfg.Server != "" {
		client, err := report.NewClient(cfg.Server, cfg.CAFingerprint)
		if err != nil {
			return nil, err
		}
		client.Agent = Version
		switch {
		case idErr == nil:
			if err := client.SetIdentity(bundle.CertPEM, bundle.KeyPEM); err != nil {
				return nil, err
			}
		case cfg.BootstrapFile != "":
			if bundle, err = exchange(ctx, client, d.Node, cfg.BootstrapFile, cfg.IdentityDir); err != nil {
				return nil, err
			}
			log.Info("bootstrap exchanged for the node's certificate", "node", d.Node, "identity_dir", cfg.IdentityDir)
		default:
			return nil, fmt.Errorf("--server needs the node's identity: %v, or --bootstrap-file FILE to get one", idErr)
		}
		d.Client, d.Spool = client, &report.Spool{Dir: cfg.Spool}
		if cfg.Stage == "ramdisk" {
			// The ramdisk deploys the profile's image after its checks pass, fetching it
			// with the pinned transport (no overall timeout: images are large), and hands
			// the node's identity to the installed system.
			var hc *http.Client
			if client.HTTP != nil {
				hc = &http.Client{Transport: client.HTTP.Transport}
			}
			files := cfg.DeployFiles
			if files == nil {
				files = identityFiles(bundle)
			}
			cmdline, _ := os.ReadFile("/proc/cmdline")
			d.Deploy = &deploy.Deployer{Client: hc, Files: files, Mounts: deploy.ParseMounts(string(cmdline)), Log: log}
		}
		log.Info("reporting to the server", "server", cfg.Server, "node", d.Node, "spool", cfg.Spool)
		if !cfg.Once {
			go renewLoop(ctx, client, bundle, cfg.IdentityDir, log)
		}
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
	if wait := cfg.LLDPWait; wait > 0 {
		d.LLDP = func(ctx context.Context, exp *expect.Expectations) []check.LLDP {
			return lldp.ListenAll(ctx, lldp.Interfaces(exp), wait)
		}
	}
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

// exchange trades the bootstrap in file (0600, removed once used: it works only once
// anyway) for the node's certificate, kept in dir.
func exchange(ctx context.Context, c *report.Client, node, file, dir string) (identity.Bundle, error) {
	secret, err := readSecret(file)
	if err != nil {
		return identity.Bundle{}, err
	}
	var b identity.Bundle
	for {
		if b, err = c.Exchange(ctx, node, secret); err == nil {
			break
		}
		var se *report.StatusError
		if errors.As(err, &se) || errors.Is(err, report.ErrPlainHTTP) || ctx.Err() != nil {
			return b, fmt.Errorf("bootstrap exchange: %w", err)
		}
		// serve unreachable: try again, as reports are.
		select {
		case <-ctx.Done():
			return b, ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
	os.Remove(file)
	if dir != "" {
		if err := b.WriteDir(dir); err != nil {
			return b, err
		}
	}
	return b, nil
}

// readSecret reads a secret file, refusing one others can read; errors never hold it.
func readSecret(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("bootstrap file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("bootstrap file %s is readable by others (mode %o): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("bootstrap file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("bootstrap file %s is empty", path)
	}
	return t, nil
}

// renewLoop renews the certificate two thirds into its validity (pki.RenewAt) and
// writes the new one to dir; a failed renewal is tried again while the old one lasts.
func renewLoop(ctx context.Context, c *report.Client, b identity.Bundle, dir string, log *slog.Logger) {
	for {
		cert, err := b.Certificate()
		if err != nil {
			log.Error("node certificate unreadable: not renewed", "err", err)
			return
		}
		wait := time.Until(pki.RenewAt(cert))
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(max(wait, 0)):
			}
			nb, err := c.Renew(ctx, b.Node)
			if err == nil {
				b = nb
				break
			}
			wait = max(time.Until(cert.NotAfter)/10, time.Minute)
			log.Warn("renewing the node certificate failed; trying again", "in", wait.Round(time.Second), "expires", cert.NotAfter, "err", err)
		}
		if dir != "" {
			if err := b.WriteDir(dir); err != nil {
				log.Error("renewed certificate not saved", "dir", dir, "err", err)
			}
		}
		log.Info("node certificate renewed", "identity_dir", dir)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

// identityFiles hands the node's identity (certificate, key, agent API URL, CA pin) to
// the installed system, so its daemon authenticates from its first start.
func identityFiles(b identity.Bundle) func(context.Context) ([]deploy.File, error) {
	return func(context.Context) ([]deploy.File, error) { return b.Files(), nil }
}
