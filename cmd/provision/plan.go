package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/templates"
)

func newPlanCmd(g *globals) *cobra.Command {
	var httpPort int
	var script bool
	var templatesDir string
	cmd := &cobra.Command{
		Use:               "plan [SELECTOR...]",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Show what each node will get: DHCP reservation, boot files, iPXE script URL, host VLANs",
		Long: `plan computes, from the inventory, exactly what serve will do for each node: the DHCP
reservation of its PXE interface (address, prefix, gateway, DNS, MTU, hostname, lease,
server), the boot file per firmware (BIOS, UEFI, arm64), the iPXE script URL and the
kernel, initrd, command line and install template; and the VLAN interfaces the
provisioning host needs. With no selector every node is planned. --script prints the iPXE
script each node gets from its script URL, rendered from the same templates serve uses.`,
		Example: `  provision plan -i inventory/examples/site
  provision plan -i inventory/examples/site rack=a01 -o json
  provision plan -i inventory/examples/site gpu-a02-04 -o yaml
  provision plan -i inventory/examples/lab lab-01 --script`,
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := g.loadInventory()
			if err != nil {
				return err
			}
			p, err := plan.Build(inv, plan.Options{HTTPPort: httpPort})
			if err != nil {
				return err
			}
			if len(args) > 0 {
				nodes, err := inv.SelectAny(args)
				if err != nil {
					return cli.Usage(err)
				}
				p = selectPlan(p, nodes)
			}
			if script {
				fsys := fs.FS(templates.FS)
				if templatesDir != "" {
					fsys = os.DirFS(templatesDir)
				}
				scripts, err := httpboot.Scripts(fsys, p)
				if err != nil {
					return err
				}
				return output.PrintOpts(cmd.OutOrStdout(), g.out(), scripts, func(w io.Writer) error { return httpboot.WriteScripts(w, scripts) })
			}
			return output.PrintOpts(cmd.OutOrStdout(), g.out(), p, func(w io.Writer) error { return printPlan(w, p) })
		},
	}
	cmd.Flags().IntVar(&httpPort, "http-port", plan.DefaultHTTPPort, "port serve answers iPXE scripts and artifacts on")
	cmd.Flags().BoolVar(&script, "script", false, "print each node's iPXE boot script instead of the plan")
	cmd.Flags().StringVar(&templatesDir, "templates", "", "templates directory (ipxe/, install/) instead of the built-in ones")
	return cmd
}

// selectPlan keeps the selected nodes' plans; host interfaces stay whole.
func selectPlan(p *plan.Plan, nodes []*inventory.Node) *plan.Plan {
	out := &plan.Plan{Site: p.Site, Host: p.Host}
	for _, n := range nodes {
		if np := p.Node(n.Name); np != nil {
			out.Nodes = append(out.Nodes, np)
		}
	}
	return out
}

func printPlan(w io.Writer, p *plan.Plan) error {
	t := output.Rows{Header: []string{"NODE", "MAC", "IP", "NETWORK", "DHCP", "BIOS/UEFI", "SCRIPT URL", "KERNEL"}}
	for _, n := range p.Nodes {
		r := n.Reservation
		ip := "-"
		if r.IP.IsValid() {
			ip = fmt.Sprintf("%s/%d", r.IP, r.Prefix.Bits())
		}
		t.Add(n.Node, r.MACString, ip, r.Network, r.Mode, n.Boot.BIOSFile+" "+n.Boot.UEFIFile, n.Boot.ScriptURL, dash(n.Boot.Kernel))
	}
	if err := t.Write(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	h := output.Rows{Header: []string{"HOST INTERFACE", "ROLE", "VLAN", "MTU", "ADDRESS"}}
	for _, hi := range p.Host {
		vlan := "untagged"
		if hi.VLAN != 0 {
			vlan = fmt.Sprint(hi.VLAN)
		}
		h.Add(hi.Network, hi.Role, vlan, fmt.Sprint(hi.MTU), hi.Address.String())
	}
	return h.Write(w)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
