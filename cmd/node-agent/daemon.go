package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/agent/hw"
	"github.com/racklift/racklift/pkg/agent/metrics"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/netsetup"
)

type daemonFlags struct {
	checkFlags
	server, tokenFile, spool, metricsAddr, node string
	caFingerprint, stage                        string
	interval, deliverTimeout, storageEvery      time.Duration
	once, applyNetworks                         bool
}

func newDaemonCmd() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the checks on an interval, report to the server and serve /metrics",
		Long: `daemon runs every check on an interval, POSTs a JSON report (node, time, hardware
inventory, results) to SERVER/api/v1/nodes/NODE/report with the bearer token from
--token-file, and serves Prometheus metrics: GPU gauges under dcgm-exporter's names
and racklift_check_status{check=...} (0 pass, 1 warn, 2 fail).

Expectations come from SERVER/api/v1/nodes/NODE/expect (the last copy is kept in the
spool directory for when the server is down) or from --expect FILE.

Reports are written to --spool first and removed once the server accepted them: a
server that is down loses nothing, and reports arrive in order when it is back.

--once runs one cycle and waits until the report is delivered (the agent ramdisk uses
it); it exits 0 once delivered, 2 if --deliver-timeout passes first.`,
		Example: `  node-agent daemon --server http://10.10.0.2:8080 --token-file /etc/racklift/token
  node-agent daemon --expect /etc/racklift/expect.yaml --metrics-addr :9401 --interval 5m
  node-agent daemon --server http://10.10.0.2:8080 --token-file /run/racklift/token --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(&f) },
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "racklift server base URL, e.g. http://10.10.0.2:8080")
	fl.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token (mode 0600)")
	fl.StringVar(&f.spool, "spool", "/var/lib/racklift/spool", "directory keeping reports until the server accepts them")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":9401", "listen address for /metrics; empty: none")
	fl.StringVar(&f.node, "node", "", "this node's inventory name (default: the hostname)")
	fl.DurationVar(&f.interval, "interval", 10*time.Minute, "time between check runs")
	fl.DurationVar(&f.deliverTimeout, "deliver-timeout", 5*time.Minute, "with --once: how long to keep trying to deliver")
	fl.BoolVar(&f.once, "once", false, "run one cycle, deliver the report and exit")
	fl.DurationVar(&f.storageEvery, "storage-every", 24*time.Hour, "how often to measure storage throughput (it loads the disks); mount and NFS checks run every interval")
	fl.StringVar(&f.caFingerprint, "ca-fingerprint", "", "pin serve's CA for an https --server: sha256:<hex> (racklift.ca= on the kernel command line)")
	fl.BoolVar(&f.applyNetworks, "apply-networks", false, "set up the node's VLAN sub-interfaces, addresses and MTUs from the expectations before the first checks (the agent ramdisk uses it; like 'node-agent net apply')")
	fl.StringVar(&f.stage, "stage", "installed", "what the agent runs in, told to the server: installed or ramdisk")
	return cmd
}

// nodeName is --node, else the hostname, else (a ramdisk has none) the first NIC's MAC.
func nodeName(flag string) string {
	if flag != "" {
		return flag
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

func runDaemon(f *daemonFlags) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if f.server == "" && f.expect == "" {
		return errors.New("give --server URL --token-file FILE, or --expect FILE")
	}
	if f.interval <= 0 {
		return errors.New("--interval must be positive")
	}
	opts, err := f.options()
	if err != nil {
		return err
	}
	opts.Storage.AbsentOK = f.stage == "ramdisk"
	node := nodeName(f.node)
	var client *report.Client
	var sender *report.Sender
	if f.server != "" {
		if f.tokenFile == "" {
			return errors.New("--server needs --token-file FILE")
		}
		tok, err := report.ReadToken(f.tokenFile)
		if err != nil {
			return err
		}
		client, err = report.NewClient(f.server, tok, f.caFingerprint)
		if err != nil {
			return err
		}
		sender = &report.Sender{Client: client, Spool: &report.Spool{Dir: f.spool}, Log: log}
		log.Info("reporting to the server", "server", f.server, "node", node, "token_file", f.tokenFile, "spool", f.spool)
	}

	ctx, sig, stop := signalContext()
	defer stop()

	sampler, err := gpu.NewSampler(nil)
	if err != nil {
		log.Info("GPU metrics off", "reason", err.Error())
		sampler = nil
	} else {
		defer sampler.Close()
	}
	var spooled func() int
	if sender != nil {
		spooled = func() int { return len(sender.Spool.Pending()) }
	}
	m := metrics.New(node, sampler, spooled)
	opts.GPU.OnXID = m.XID
	if f.metricsAddr != "" && !f.once {
		ln, err := net.Listen("tcp", f.metricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", m.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		log.Info("serving metrics", "addr", ln.Addr().String())
	}
	if sender != nil && !f.once {
		go sender.Run(ctx)
	}
	if client != nil {
		hctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		if err := client.Hello(hctx, node, f.stage); err != nil {
			log.Warn("hello to the server failed (reports are spooled and retried)", "error", err.Error())
		}
		cancel()
	}

	var lastMeasured time.Time
	var lastThroughput []check.Result
	applied := false
	for {
		exp := expectations(ctx, f, client, node, log)
		if f.applyNetworks && !applied && len(exp.Networks) > 0 {
			applied = true
			applyNetworks(ctx, exp, netsetup.DefaultStatePath, log) // as 'node-agent net apply', so 'net down' undoes it
		}
		runOpts := opts
		measure := lastMeasured.IsZero() || time.Since(lastMeasured) >= f.storageEvery
		runOpts.Storage.NoThroughput = !measure
		rs := agent.Run(ctx, exp, agent.Checkers(runOpts))
		if measure {
			lastMeasured, lastThroughput = time.Now(), throughputResults(rs, time.Now())
		} else {
			rs = append(rs, lastThroughput...)
		}
		if s := sig(); s != nil {
			return cli.Interrupted(s, "node-agent: stopped by %v; storage test files removed", s)
		}
		m.Observe(rs)
		inv := hw.Collect(hw.Roots{})
		if sampler != nil {
			inv.GPUs = sampler.Inventory()
		}
		rep := check.NewReport(node, agent.Version, inv, rs)
		logSummary(log, rs)
		if sender != nil {
			if f.once {
				dctx, cancel := context.WithTimeout(ctx, f.deliverTimeout)
				err := sender.Deliver(dctx, rep)
				cancel()
				if err != nil {
					return &cli.ExitError{Code: 2, Msg: "node-agent: " + err.Error()}
				}
				log.Info("report delivered", "node", node, "failed", rep.Failed)
				return nil
			}
			if _, err := sender.Spool.Put(rep); err != nil {
				log.Error("cannot spool report", "error", err.Error())
			}
			sender.Kick()
		}
		if f.once {
			return verdict(os.Stderr, rs)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(f.interval):
		}
	}
}

// expectations come from --expect, else the server, else the copy the server gave last
// time; with none, the report still carries the hardware inventory.
func expectations(ctx context.Context, f *daemonFlags, c *report.Client, node string, log *slog.Logger) *expect.Expectations {
	if f.expect != "" {
		e, err := expect.Load(f.expect)
		if err == nil {
			e.Node = node
			return e
		}
		log.Error("cannot read expectations", "error", err.Error())
		return &expect.Expectations{Node: node}
	}
	cache := filepath.Join(f.spool, "expectations.cache") // not *.json: that is a report
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := c.Expectations(fctx, node)
	if err == nil {
		if b, jerr := jsonMarshal(e); jerr == nil {
			os.MkdirAll(f.spool, 0o700)
			atomicfile.WriteFile(cache, b, 0o600)
		}
		e.Node = node
		return e
	}
	if cached, cerr := expect.Load(cache); cerr == nil {
		log.Warn("server unreachable, using the expectations it gave last time", "error", err.Error(), "cache", cache)
		cached.Node = node
		return cached
	}
	log.Warn("no expectations (server unreachable, none cached): reporting hardware only", "error", err.Error())
	return &expect.Expectations{Node: node}
}

// throughputResults keeps a run's storage measurements, marked with when they were
// taken, to repeat them in reports until the next measurement.
func throughputResults(rs []check.Result, at time.Time) []check.Result {
	var out []check.Result
	for _, r := range rs {
		if strings.HasPrefix(r.Name, "storage.") && (strings.HasSuffix(r.Name, ".write") || strings.HasSuffix(r.Name, ".read") || strings.HasSuffix(r.Name, ".buffered_read")) {
			r.Observed += " (measured " + at.UTC().Format("2006-01-02 15:04Z") + ")"
			r.Duration = 0
			out = append(out, r)
		}
	}
	return out
}

func logSummary(log *slog.Logger, rs []check.Result) {
	var failed []string
	for _, r := range rs {
		if r.Status == check.Fail {
			failed = append(failed, r.Name+": "+r.Message)
		}
	}
	if len(failed) > 0 {
		log.Warn("checks failed", "count", len(failed), "of", len(rs), "failed", strings.Join(failed, " | "))
		return
	}
	log.Info("checks passed", "count", len(rs))
}

// applyNetworks makes the node's links match its networks (VLAN sub-interfaces, addresses,
// MTUs) so the network checks that follow test the switch, not a node nobody configured.
// A failure is logged; the checks then say which network is missing.
func applyNetworks(ctx context.Context, exp *expect.Expectations, statePath string, log *slog.Logger) {
	os.MkdirAll(filepath.Dir(statePath), 0o700)
	kind := netsetup.VLAN{}
	d, err := netsetup.FromNetworks(netsetup.NodeManaged(exp.Networks), kind)
	if err == nil {
		var r *netsetup.Report
		r, err = netsetup.Run(ctx, "apply", d, netsetup.Options{StatePath: statePath, Kind: kind}, false, netsetup.Verify{})
		if r != nil {
			for _, c := range r.Changes {
				log.Info("network set up", "op", c.Op, "what", c.What, "link", c.Link, "network", c.Network, "to", c.To)
			}
		}
	}
	if err != nil {
		log.Error("cannot set up the node's networks", "error", err.Error())
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
