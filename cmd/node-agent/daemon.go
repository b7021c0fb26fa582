package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent"
	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/lldp"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/netsetup"
)

type daemonFlags struct {
	checkFlags
	server, bootstrapFile, identityDir, spool string
	metricsAddr, node                         string
	caFingerprint, stage                      string
	interval, deliverTimeout, storageEvery    time.Duration
	once, applyNetworks                       bool
	lldpWait                                  time.Duration
}

func newDaemonCmd() *cobra.Command {
	var f daemonFlags
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the checks on an interval, report to the server and serve /metrics",
		Long: `daemon runs every check on an interval, POSTs a JSON report (node, time, hardware
inventory, results) to SERVER/api/v1/nodes/NODE/report over mutual TLS with the node's
client certificate, and serves Prometheus metrics: GPU gauges under dcgm-exporter's
names and racklift_check_status{check=...} (0 pass, 1 warn, 2 fail).

The node's identity (node.crt, node.key, agent.yaml with the agent API's URL and the CA
pin) is read from --identity-dir (default /etc/racklift, or $RACKLIFT_IDENTITY_DIR),
where the install wrote it. Without one there, --bootstrap-file's one-time secret (the
ramdisk's racklift.bootstrap=) is exchanged for it and it is written there. The
certificate is renewed two thirds into its validity. No credential is ever sent over
plain http://.

Expectations come from SERVER/api/v1/nodes/NODE/expect (the last copy is kept in the
spool directory for when the server is down) or from --expect FILE.

Reports are written to --spool first and removed once the server accepted them: a
server that is down loses nothing, and reports arrive in order when it is back.

--once runs one cycle and waits until the report is delivered (the agent ramdisk uses
it); it exits 0 once delivered, 2 if --deliver-timeout passes first.`,
		Example: `  node-agent daemon
  node-agent daemon --expect /etc/racklift/expect.yaml --metrics-addr :9401 --interval 5m
  node-agent daemon --server https://10.10.0.2:8443 --ca-fingerprint sha256:... \
      --bootstrap-file /run/racklift/bootstrap --identity-dir /run/racklift/identity --once`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDaemon(cmd, &f) },
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.server, "server", "", "serve's agent API, e.g. https://10.10.0.2:8443 (default: the identity's)")
	fl.StringVar(&f.bootstrapFile, "bootstrap-file", "", "file holding the one-time bootstrap secret (mode 0600), exchanged for the node's certificate when --identity-dir has none")
	fl.StringVar(&f.identityDir, "identity-dir", identityDirDefault(), "directory of the node's certificate, key and agent.yaml ($"+identity.EnvDir+")")
	fl.StringVar(&f.spool, "spool", "/var/lib/racklift/spool", "directory keeping reports until the server accepts them")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":9401", "listen address for /metrics; empty: none")
	fl.StringVar(&f.node, "node", "", "this node's inventory name (default: the hostname)")
	fl.DurationVar(&f.interval, "interval", 10*time.Minute, "time between check runs")
	fl.DurationVar(&f.deliverTimeout, "deliver-timeout", 5*time.Minute, "with --once: how long to keep trying to deliver")
	fl.BoolVar(&f.once, "once", false, "run one cycle, deliver the report and exit")
	fl.DurationVar(&f.storageEvery, "storage-every", 24*time.Hour, "how often to measure storage throughput (it loads the disks); mount and NFS checks run every interval")
	fl.StringVar(&f.caFingerprint, "ca-fingerprint", "", "pin serve's CA: sha256:<hex> (racklift.ca= on the kernel command line; default: the identity's)")
	fl.BoolVar(&f.applyNetworks, "apply-networks", false, "set up the node's VLAN sub-interfaces, addresses and MTUs from the expectations before the first checks (the agent ramdisk uses it; like 'node-agent net apply')")
	fl.DurationVar(&f.lldpWait, "lldp-wait", lldp.DefaultWait, "how long each run listens for the switch's LLDP on the expected interfaces (reported for the server's cabling checks); 0: not at all")
	fl.StringVar(&f.stage, "stage", "installed", "what the agent runs in, told to the server: installed or ramdisk")
	return cmd
}

// runDaemon is flags -> agent.RunDaemon -> exit status: 2 when --once could not
// deliver, the signal's when one stopped the checks, 1 when --once without a server saw
// a check fail.
func runDaemon(cmd *cobra.Command, f *daemonFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	ctx, sig, stop := signalContext()
	defer stop()
	rs, err := agent.RunDaemon(ctx, agent.DaemonConfig{
		Server: f.server, BootstrapFile: f.bootstrapFile, IdentityDir: f.identityDir, CAFingerprint: f.caFingerprint, Spool: f.spool,
		ExpectFile: f.expect, Node: f.node, Stage: f.stage, MetricsAddr: f.metricsAddr,
		Interval: f.interval, StorageEvery: f.storageEvery, DeliverTimeout: f.deliverTimeout, Once: f.once,
		ApplyNetworks: f.applyNetworks, NetStatePath: netsetup.DefaultStatePath,
		Checks: opts, LLDPWait: f.lldpWait, Log: slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil)),
	})
	var nd *agent.NotDeliveredError
	switch s := sig(); {
	case errors.As(err, &nd):
		return &cli.ExitError{Code: 2, Msg: "node-agent: " + err.Error()}
	case s != nil && errors.Is(err, context.Canceled):
		return cli.Interrupted(s, "node-agent: stopped by %v; storage test files removed", s)
	case err != nil || !f.once || f.server != "":
		return err
	}
	return verdict(cmd.ErrOrStderr(), rs)
}

// identityDirDefault is $RACKLIFT_IDENTITY_DIR, else identity.DefaultDir.
func identityDirDefault() string {
	if d := os.Getenv(identity.EnvDir); d != "" {
		return d
	}
	return identity.DefaultDir
}
