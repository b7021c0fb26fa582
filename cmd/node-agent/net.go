package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent/netcheck"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/netsetup"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/plan"
)

type nodeNetFlags struct {
	inventory string
	node      string
	expect    string
	kind      string
	state     string
	output    string
	adopt     bool
	dryRun    bool
	noVerify  bool
	timeout   time.Duration
}

func newNetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Set up this node's storage and compute VLANs from the inventory (plan, apply, check, down)",
		Long: `net configures the node's own networks from its inventory entry (or an expectations
file): for each interface on a tagged network an 802.1Q sub-interface (e.g. ens1f0.200)
with the network's address and MTU, the NIC's MTU raised to carry it (jumbo frames). The
PXE/provisioning, BMC and out-of-band networks are left to DHCP and the BMC.

plan shows the difference (+ add, - remove, ~ change); apply makes only that difference,
undoing its own changes if a step fails, then probes each network: gateway ARP, a
don't-fragment ping at the MTU, every expected peer. A VLAN the switch does not carry is
reported with its name, id, interface and the peer that does not answer. check runs only
the probes.`,
		Example: `  node-agent net plan -i /etc/racklift/inventory --node gpu-a01-01
  node-agent net apply -i /etc/racklift/inventory --node gpu-a01-01
  node-agent net apply --expect /etc/racklift/expect.yaml --dry-run -o json
  node-agent net check -i /etc/racklift/inventory --node gpu-a01-01`,
	}
	cmd.AddCommand(
		newNetActionCmd("plan", "Show what apply would change on this node",
			`  node-agent net plan -i /etc/racklift/inventory --node gpu-a01-01
  node-agent net plan --expect expect.yaml -o json`),
		newNetActionCmd("apply", "Make this node's links match the inventory, then probe each network",
			`  node-agent net apply -i /etc/racklift/inventory --node gpu-a01-01
  node-agent net apply --expect expect.yaml --dry-run`),
		newNetActionCmd("check", "Probe each network: link, VLAN, MTU, address, gateway ARP, DF MTU probe, peers",
			`  node-agent net check -i /etc/racklift/inventory --node gpu-a01-01
  node-agent net check --expect expect.yaml -o json`),
		newNetActionCmd("down", "Remove the links and addresses racklift created on this node (nothing else)",
			`  node-agent net down --dry-run
  node-agent net down`),
	)
	return cmd
}

func (f *nodeNetFlags) register(cmd *cobra.Command, action string) {
	fl := cmd.Flags()
	fl.StringVarP(&f.inventory, "inventory", "i", "", "inventory directory or file (with --node)")
	fl.StringVar(&f.node, "node", "", "this node's name in the inventory (default: the hostname)")
	fl.StringVar(&f.expect, "expect", "", "expectations file (its networks), instead of --inventory")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
	if action == "check" || action == "apply" {
		fl.DurationVar(&f.timeout, "probe-timeout", 3*time.Second, "how long a gateway or peer has to answer ARP, and each echo")
	}
	if action == "check" {
		return
	}
	fl.StringVar(&f.state, "state", netsetup.DefaultStatePath, "where racklift records what it created")
	if action != "down" {
		fl.StringVar(&f.kind, "kind", "vlan", "how a tagged network is carried: vlan (802.1Q) or macvlan (labs whose kernel has no 8021q)")
		fl.BoolVar(&f.adopt, "adopt", false, "take over, change and remove links and addresses racklift did not create")
	}
	if action != "plan" {
		fl.BoolVar(&f.dryRun, "dry-run", false, "print the changes without making them")
	}
	if action == "apply" {
		fl.BoolVar(&f.noVerify, "no-verify", false, "skip the probes after apply")
	}
}

// networks is what this node must be on, from --inventory/--node or --expect.
func (f *nodeNetFlags) networks() (string, []expect.Network, error) {
	switch {
	case f.expect != "" && f.inventory != "":
		return "", nil, fmt.Errorf("give --inventory (with --node) or --expect, not both")
	case f.expect != "":
		e, err := expect.Load(f.expect)
		if err != nil {
			return "", nil, err
		}
		return e.Node, e.Networks, nil
	case f.inventory != "":
		inv, err := inventory.Load(f.inventory)
		if err != nil {
			return "", nil, err
		}
		name := f.node
		if name == "" {
			name, _ = os.Hostname()
		}
		n := inv.Node(name)
		if n == nil {
			return "", nil, fmt.Errorf("node %q is not in %s: pass --node NAME", name, f.inventory)
		}
		nets, err := plan.NodeNetworks(inv, n)
		return name, nets, err
	}
	return "", nil, fmt.Errorf("--inventory DIR --node NAME, or --expect FILE, is required")
}

func (f *nodeNetFlags) probeOptions() netcheck.Options {
	return netcheck.Options{ARPTimeout: f.timeout, EchoTimeout: f.timeout}
}

func newNetActionCmd(action, short, example string) *cobra.Command {
	f := &nodeNetFlags{}
	cmd := &cobra.Command{
		Use: action, Short: short, Example: example, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := output.Check(f.output); err != nil {
				return err
			}
			if action == "check" {
				return runNodeNetCheck(cmd, f)
			}
			return runNodeNet(cmd, action, f)
		},
	}
	f.register(cmd, action)
	return cmd
}

// runNodeNet plans, applies or removes the node's own links (netsetup.RunNetworks: the
// PXE, BMC and out-of-band networks are left alone) and prints the report.
func runNodeNet(cmd *cobra.Command, action string, f *nodeNetFlags) error {
	kind, err := netsetup.KindByName(f.kind)
	if err != nil {
		return err
	}
	var nets []expect.Network
	if action != "down" {
		_, all, err := f.networks()
		if err != nil {
			return err
		}
		nets = netsetup.NodeManaged(all)
	}
	opt := netsetup.Options{StatePath: f.state, Kind: kind, Adopt: f.adopt}
	r, err := netsetup.RunNetworks(cmd.Context(), action, nets, opt, f.dryRun, netsetup.Verify{Enabled: !f.noVerify, Probe: f.probeOptions()})
	if r != nil {
		if perr := output.Print(cmd.OutOrStdout(), f.output, r, func(w io.Writer) error { return r.WriteText(w) }); perr != nil {
			return perr
		}
	}
	var ve *netsetup.VerifyError
	if errors.As(err, &ve) {
		return cli.Exitf(1, "node-agent net: %v", ve)
	}
	return err
}

func runNodeNetCheck(cmd *cobra.Command, f *nodeNetFlags) error {
	_, nets, err := f.networks()
	if err != nil {
		return err
	}
	rs := f.probeOptions().Run(cmd.Context(), nets)
	if err := output.Print(cmd.OutOrStdout(), f.output, rs, func(w io.Writer) error { return resultTable(w, rs) }); err != nil {
		return err
	}
	return verdict(cmd.ErrOrStderr(), rs)
}
