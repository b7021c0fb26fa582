package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/ipxe"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/templates"
)

var planFlags struct {
	httpPort  int
	script    bool
	templates string
}

// nodeScript is one node's iPXE script, as `plan --script -o json` prints it.
type nodeScript struct {
	Node      string `json:"node"`
	ScriptURL string `json:"script_url"`
	Script    string `json:"script"`
}

// renderScripts renders what serve answers on each node's script URL: the boot script
// with the install's kernel arguments, from the same templates.
func renderScripts(p *plan.Plan) ([]nodeScript, error) {
	fsys := fs.FS(templates.FS)
	if planFlags.templates != "" {
		fsys = os.DirFS(planFlags.templates)
	}
	r, err := ipxe.New(fsys)
	if err != nil {
		return nil, err
	}
	installs := httpboot.NewInstalls(fsys)
	out := make([]nodeScript, 0, len(p.Nodes))
	for _, np := range p.Nodes {
		args, err := installs.KernelArgs(np)
		if err != nil {
			return nil, err
		}
		b, err := r.Boot(np, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, nodeScript{Node: np.Node, ScriptURL: np.Boot.ScriptURL, Script: string(b)})
	}
	return out, nil
}

var planCmd = &cobra.Command{
	Use:   "plan [SELECTOR...]",
	Short: "Show what each node will get: DHCP reservation, boot files, iPXE script URL, host VLANs",
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
		inv, err := loadInventory()
		if err != nil {
			return err
		}
		p, err := plan.Build(inv, plan.Options{HTTPPort: planFlags.httpPort})
		if err != nil {
			return err
		}
		if len(args) > 0 {
			nodes, err := inv.SelectAny(args)
			if err != nil {
				return err
			}
			p = selectPlan(p, nodes)
		}
		if planFlags.script {
			scripts, err := renderScripts(p)
			if err != nil {
				return err
			}
			return output.Print(cmd.OutOrStdout(), global.output, scripts, func(w io.Writer) error {
				for _, s := range scripts {
					fmt.Fprintf(w, "# %s: %s\n%s\n", s.Node, s.ScriptURL, strings.TrimRight(s.Script, "\n"))
				}
				return nil
			})
		}
		return output.Print(cmd.OutOrStdout(), global.output, p, func(w io.Writer) error { return printPlan(w, p) })
	},
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

func init() {
	planCmd.Flags().IntVar(&planFlags.httpPort, "http-port", plan.DefaultHTTPPort, "port serve answers iPXE scripts and artifacts on")
	planCmd.Flags().BoolVar(&planFlags.script, "script", false, "print each node's iPXE boot script instead of the plan")
	planCmd.Flags().StringVar(&planFlags.templates, "templates", "", "templates directory (ipxe/, install/) instead of the built-in ones")
	root.AddCommand(planCmd)
}
