package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/inventory"
)

// upFlags are up's own flags.
type upFlags struct {
	inventory string
	secrets   string
	memory    int
	extra     []string
	switches  []string
	detach    bool
	timeout   time.Duration
}

func newUpCmd(g *globals) *cobra.Command {
	var f upFlags
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the virtual rack and keep it until SIGINT or SIGTERM",
		Long: `up builds the rack (see racklift-lab --help), prints where everything is, writes
DIR/ready once every BMC listens, keeps DIR/rack.json current (power state and the power
cycles each BMC counted) and runs until SIGINT or SIGTERM, then removes all of it.
The BMC password is the inventory credential's: $RACKLIFT_CRED_<NAME>_PASSWORD (the lab's:
RACKLIFT_CRED_LAB_BMC_PASSWORD) or the secrets file, as provision reads it.`,
		Example: `  racklift-lab up -i inventory/examples/lab --dir .demo
  racklift-lab up -i inventory/examples/lab --dir .demo --detach   # returns once ready
  racklift-lab up --extra lab-04,redfish,8444,52:54:00:04:00:04,52:54:00:04:c8:04`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runUp(cmd, g, &f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.inventory, "inventory", "i", "inventory/examples/lab", "lab inventory: nodes, MACs, BMC protocol and port")
	fl.StringVar(&f.secrets, "secrets", "", "secrets file with the BMC password, mode 0600 (default $RACKLIFT_SECRETS or "+inventory.DefaultSecretsFile+")")
	fl.IntVar(&f.memory, "memory", rack.DefaultMemory, "memory per guest, MiB")
	fl.StringArrayVar(&f.extra, "extra", nil, "a machine not in the inventory (yet): NAME,PROTOCOL,BMC-PORT,PXE-MAC[,STORAGE-MAC]; repeatable")
	fl.StringArrayVar(&f.switches, "switch", nil, "break a node's storage port's LLDP: NODE:miscable, NODE:drop-vlan=200, NODE:frame-size=1518 (comma-separate knobs); repeatable")
	fl.BoolVar(&f.detach, "detach", false, "run in the background (output in DIR/"+logFile+") and return once the rack is ready")
	fl.DurationVar(&f.timeout, "timeout", 2*time.Minute, "how long building the rack may take")
	return cmd
}

func runUp(cmd *cobra.Command, g *globals, f *upFlags) error {
	dir, err := filepath.Abs(g.dir)
	if err != nil {
		return err
	}
	if pid := runningPID(dir); pid > 0 {
		return fmt.Errorf("a rack is already up from %s (pid %d): racklift-lab down --dir %s", dir, pid, g.dir)
	}
	extra, err := parseExtra(f.extra)
	if err != nil {
		return err
	}
	knobs, err := rack.ParseSwitchKnobs(f.switches)
	if err != nil {
		return err
	}
	password, err := bmcPassword(f.inventory, f.secrets)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	// A rack a killed up left behind (recorded in dir) goes first. A namespace of that
	// name without a record here is not ours: Start refuses it.
	if _, err := os.Stat(filepath.Join(dir, rack.PIDFile)); err == nil {
		if err := rack.Down(g.netns, dir); err != nil {
			return fmt.Errorf("removing the rack left in %s: %w", dir, err)
		}
	}
	os.Remove(filepath.Join(dir, readyFile))
	if f.detach {
		return detach(cmd, dir, f.timeout)
	}

	ctx, _, stop := cli.SignalContext(cmd.Context(), nil, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	r, err := rack.Start(sctx, rack.Config{Inventory: f.inventory, Dir: dir, NetNS: g.netns,
		Password: password, Extra: extra, MemoryMB: f.memory, Switch: knobs})
	if err != nil {
		return err
	}
	defer cleanup(cmd, r, dir)
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	if err := r.WriteStatus(); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	describe(out, r)
	fmt.Fprintf(out, "ready: %s (stop with Ctrl-C, kill %d, or racklift-lab down --dir %s)\n", filepath.Join(dir, readyFile), os.Getpid(), g.dir)
	if err := os.WriteFile(filepath.Join(dir, readyFile), []byte(r.NS().Name+"\n"), 0o644); err != nil {
		return err
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping the rack")
			return nil
		case <-tick.C:
			if err := r.WriteStatus(); err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), "racklift-lab: status:", err)
			}
		}
	}
}

func cleanup(cmd *cobra.Command, r *rack.Rack, dir string) {
	if err := r.Close(); err != nil {
		fmt.Fprintln(cmd.ErrOrStderr(), "racklift-lab: close:", err)
	}
	for _, f := range []string{readyFile, pidFile, rack.StatusFile} {
		os.Remove(filepath.Join(dir, f))
	}
}

func describe(w io.Writer, r *rack.Rack) {
	st := r.Status()
	fmt.Fprintf(w, "virtual rack in network namespace %s (run commands in it: ip netns exec %s CMD)\n", st.NetNS, st.NetNS)
	fmt.Fprintf(w, "  bridges: %s (provisioning, no address yet), %s (storage trunk, MTU 9000)\n", rack.ProvisioningBridge, rack.StorageBridge)
	for _, g := range st.Gateways {
		fmt.Fprintf(w, "  gateway on %s: %s (answers ARP and ping, tagged, up to MTU 9000)\n", rack.StorageBridge, g)
	}
	fmt.Fprintf(w, "  work dir: %s\n", st.Dir)
	for _, n := range st.Nodes {
		extra := ""
		if n.Extra {
			extra = " (not in the inventory)"
		}
		fmt.Fprintf(w, "  %s%s: BMC %s, NICs %s, powered off; console %s\n", n.Name, extra, n.BMC, strings.Join(n.MACs, " "), n.SerialLog)
	}
}

// detach runs up again in the background, in its own session, and waits for ready.
func detach(cmd *cobra.Command, dir string, timeout time.Duration) error {
	var args []string
	for _, a := range os.Args[1:] {
		if a != "--detach" && a != "--detach=true" {
			args = append(args, a)
		}
	}
	log, err := os.Create(filepath.Join(dir, logFile))
	if err != nil {
		return err
	}
	defer log.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command(self, args...)
	c.Stdout, c.Stderr = log, log
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := c.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	deadline := time.After(timeout + 30*time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, readyFile)); err == nil {
			out, _ := os.ReadFile(log.Name())
			cmd.OutOrStdout().Write(out)
			fmt.Fprintf(cmd.OutOrStdout(), "racklift-lab up runs as pid %d (output: %s); %s in namespace %s\n", c.Process.Pid, log.Name(), "ready", strings.TrimSpace(string(b)))
			return nil
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(log.Name())
			return fmt.Errorf("the rack did not come up (%v):\n%s", err, out)
		case <-deadline:
			c.Process.Signal(syscall.SIGTERM)
			return fmt.Errorf("the rack was not ready within %s; see %s", timeout, log.Name())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// bmcPassword resolves the credential the inventory's nodes use, as provision does.
func bmcPassword(invPath, secretsFile string) (string, error) {
	inv, err := inventory.Load(invPath)
	if err != nil {
		return "", err
	}
	if len(inv.Nodes) == 0 {
		return "", fmt.Errorf("inventory %s has no nodes", invPath)
	}
	cred := inv.Nodes[0].BMC.Credentials
	for _, n := range inv.Nodes {
		if n.BMC.Credentials != cred {
			return "", fmt.Errorf("node %s uses credential %q and node %s %q: the virtual rack gives every BMC one password", inv.Nodes[0].Name, cred, n.Name, n.BMC.Credentials)
		}
	}
	s := &inventory.Secrets{File: secretsFile}
	sec, err := s.Resolve(inv, cred)
	if err != nil {
		return "", err
	}
	if sec.Password == "" {
		return "", fmt.Errorf("credential %q: empty password (%s)", cred, inventory.EnvName(cred, "password"))
	}
	return sec.Password, nil
}

// parseExtra reads NAME,PROTOCOL,BMC-PORT,PXE-MAC[,STORAGE-MAC].
func parseExtra(specs []string) ([]rack.Node, error) {
	var out []rack.Node
	for _, s := range specs {
		f := strings.Split(s, ",")
		if len(f) < 4 || len(f) > 5 {
			return nil, fmt.Errorf("--extra %q: want NAME,PROTOCOL,BMC-PORT,PXE-MAC[,STORAGE-MAC]", s)
		}
		port, err := strconv.Atoi(f[2])
		if err != nil || port <= 0 || port > 65535 {
			return nil, fmt.Errorf("--extra %q: BMC port %q is not a port number", s, f[2])
		}
		n := rack.Node{Name: f[0], Protocol: f[1], BMCPort: port, PXEMAC: f[3]}
		if len(f) == 5 {
			n.StorageMAC = f[4]
		}
		out = append(out, n)
	}
	return out, nil
}

// runningPID is the pid of a live up process recorded in dir, else 0.
func runningPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || !strings.Contains(filepath.Base(exe), "racklift-lab") {
		return 0 // a reused pid
	}
	return pid
}
