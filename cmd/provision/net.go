package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/agent/lldp"
	"github.com/racklift/racklift/pkg/agent/netcheck"
	"github.com/racklift/racklift/pkg/cabling"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/netsetup"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/plan"
)

// netFlags are shared by net plan, apply and down.
type netFlags struct {
	trunk    string
	kind     string
	state    string
	adopt    bool
	dryRun   bool
	noVerify bool
	timeout  time.Duration
	lldpWait time.Duration
}

func newNetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "net",
		Short: "Set up the provisioning host's VLAN interfaces from the inventory (plan, apply, down)",
		Long: `net puts the provisioning host on every network that has a 'server:' address in the
inventory (the interfaces serve listens on): one 802.1Q sub-interface per VLAN on the trunk
NIC (the address directly on the trunk for an untagged network), with the network's MTU.

plan shows the difference from what the kernel has now (+ add, - remove, ~ change); apply
makes only that difference, undoes its own changes if a step fails, then probes each
network (gateway ARP, a don't-fragment ping at the MTU) so a VLAN the switch does not carry
is reported at once. racklift never removes a link or address it did not create unless
--adopt is given; down removes only what racklift created.`,
		Example: `  provision net plan -i inventory/examples/site --trunk eno2
  provision net apply -i inventory/examples/site --trunk eno2 --dry-run
  provision net apply -i inventory/examples/site --trunk eno2 -o json
  provision net down --dry-run`,
	}
	cmd.AddCommand(
		newNetActionCmd(g, "plan", "Show what apply would change on this host",
			`  provision net plan -i inventory/examples/site --trunk eno2
  provision net plan -i inventory/examples/site --trunk eno2 -o json`),
		newNetActionCmd(g, "apply", "Make the host's links match the inventory, then probe each network",
			`  provision net apply -i inventory/examples/site --trunk eno2
  provision net apply -i inventory/examples/site --trunk eno2 --dry-run
  provision net apply -i site --trunk eth1 --kind macvlan   # a lab without 802.1Q`),
		newNetActionCmd(g, "down", "Remove the links and addresses racklift created (nothing else)",
			`  provision net down --dry-run
  provision net down -o json`),
	)
	return cmd
}

func (f *netFlags) register(cmd *cobra.Command, action string) {
	fl := cmd.Flags()
	if action != "down" {
		fl.StringVar(&f.trunk, "trunk", "", "the NIC carrying the VLANs (tagged) to the switch, e.g. eno2 (required)")
		fl.StringVar(&f.kind, "kind", "vlan", "how a tagged network is carried: vlan (802.1Q) or macvlan (labs whose kernel has no 8021q)")
		fl.BoolVar(&f.adopt, "adopt", false, "take over, change and remove links and addresses racklift did not create")
	}
	fl.StringVar(&f.state, "state", netsetup.DefaultStatePath, "where racklift records what it created")
	if action != "plan" {
		fl.BoolVar(&f.dryRun, "dry-run", false, "print the changes without making them")
	}
	if action == "apply" {
		fl.BoolVar(&f.noVerify, "no-verify", false, "skip the gateway ARP and MTU probes after apply")
		fl.DurationVar(&f.timeout, "probe-timeout", 3*time.Second, "how long a gateway has to answer ARP, and each echo")
		fl.DurationVar(&f.lldpWait, "lldp-wait", lldp.DefaultWait, "with an uplink: in the inventory, how long to listen for the switch's LLDP on the trunk to check its cabling, VLANs and frame size; 0: not at all")
	}
}

func newNetActionCmd(g *globals, action, short, example string) *cobra.Command {
	f := &netFlags{}
	cmd := &cobra.Command{
		Use:     action,
		Short:   short,
		Example: example,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHostNet(cmd, g, action, f)
		},
	}
	f.register(cmd, action)
	return cmd
}

// runHostNet plans, applies or removes the provisioning host's links for the networks
// that have a 'server:' address (netsetup.RunNetworks) and prints the report.
func runHostNet(cmd *cobra.Command, g *globals, action string, f *netFlags) error {
	kind, err := netsetup.KindByName(f.kind)
	if err != nil {
		return err
	}
	var nets []expect.Network
	var inv *inventory.Inventory
	if action != "down" {
		if f.trunk == "" {
			return fmt.Errorf("--trunk IFACE is required: the NIC that carries the provisioning and BMC VLANs to the switch")
		}
		if inv, err = g.loadInventory(); err != nil {
			return err
		}
		p, err := plan.Build(inv, plan.Options{})
		if err != nil {
			return err
		}
		if len(p.Host) == 0 {
			return fmt.Errorf("%s: no network has a 'server:' address, so the provisioning host needs no interface; add server: to the provisioning network", g.inventory)
		}
		nets = plan.HostNetworks(inv, p.Host, f.trunk)
	}
	opt := netsetup.Options{StatePath: f.state, Kind: kind, Adopt: f.adopt}
	verify := netsetup.Verify{Enabled: !f.noVerify, Probe: netcheck.Options{ARPTimeout: f.timeout, EchoTimeout: f.timeout}}
	r, err := netsetup.RunNetworks(cmd.Context(), action, nets, opt, f.dryRun, verify)
	uplinkOK := true
	var ve *netsetup.VerifyError
	if r != nil && (err == nil || errors.As(err, &ve)) && action == "apply" && !f.dryRun && inv.Uplink != nil && f.lldpWait > 0 {
		// The trunk's switch port, as LLDP says it, against the inventory's uplink: when a
		// gateway is silent, this says whether the port carries its VLAN at all.
		rs := cabling.Uplink(inv, lldp.Listen(cmd.Context(), f.trunk, f.lldpWait))
		r.Checks = append(r.Checks, rs...)
		uplinkOK = !check.Failed(rs)
	}
	if r != nil {
		if perr := output.PrintOpts(cmd.OutOrStdout(), g.out(), r, func(w io.Writer) error { return r.WriteText(w) }); perr != nil {
			return perr
		}
	}
	if errors.As(err, &ve) {
		return cli.Exitf(1, "provision net: %v (see the messages above)", ve)
	}
	if err == nil && !uplinkOK {
		return cli.Exitf(1, "provision net: the trunk %s is not cabled or configured as the inventory's uplink says (see the lldp checks above)", f.trunk)
	}
	return err
}
