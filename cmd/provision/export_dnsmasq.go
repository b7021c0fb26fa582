package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/plan"
)

var dnsmasqFlags struct {
	proxy    bool
	all      bool
	httpPort int
	out      string
}

var exportDnsmasqCmd = &cobra.Command{
	Use:   "dnsmasq [SELECTOR...]",
	Short: "Write a dnsmasq DHCP configuration matching serve (for networks with dhcp mode off)",
	Long: `dnsmasq writes the DHCP configuration an external dnsmasq needs to boot the nodes the
way serve would: a dhcp-host line per node (MAC, address, hostname), router, DNS, domain
and MTU per network, boot files by architecture (BIOS undionly.kpxe, UEFI ipxe.efi or
snponly.efi, arm64), the iPXE binary URL for UEFI HTTP boot, and the node's iPXE script
URL once iPXE asks (user class iPXE). serve keeps TFTP and HTTP.

By default only nodes on networks whose dhcp mode is off are written (--all: every
node). --proxy writes the address-only side for serve in proxy mode: dhcp-range from
the network's dhcp.range and no boot options.`,
	Example: `  provision export dnsmasq -i inventory/examples/site > /etc/dnsmasq.d/racklift.conf
  provision export dnsmasq -i inventory/examples/site --all rack=a01
  provision export dnsmasq -i inventory/examples/lab --proxy --all -f /tmp/dnsmasq.conf && dnsmasq --test -C /tmp/dnsmasq.conf`,
	RunE: func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			args = []string{"all"}
		}
		inv, nodes, err := selectNodes(args)
		if err != nil {
			return err
		}
		p, err := plan.Build(inv, plan.Options{HTTPPort: dnsmasqFlags.httpPort})
		if err != nil {
			return err
		}
		sel := &plan.Plan{Site: p.Site}
		for _, n := range nodes {
			np := p.Node(n.Name)
			if np == nil {
				continue
			}
			if dnsmasqFlags.all || np.Reservation.Mode == dhcp.ModeOff {
				sel.Nodes = append(sel.Nodes, np)
			}
		}
		if len(sel.Nodes) == 0 {
			return &exitError{code: 1, msg: "no selected node is on a network with dhcp mode off: nothing for dnsmasq to do (use --all to write them anyway)"}
		}
		ranges := map[string]string{}
		for _, nw := range inv.Networks {
			if nw.DHCP != nil && nw.DHCP.Range != "" {
				ranges[nw.Name] = nw.DHCP.Range
			}
		}
		w := cmd.OutOrStdout()
		if dnsmasqFlags.out != "" {
			f, err := os.Create(dnsmasqFlags.out)
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		if err := dhcp.ExportDnsmasq(w, sel, dhcp.DnsmasqOptions{Proxy: dnsmasqFlags.proxy, Ranges: ranges}); err != nil {
			return err
		}
		if dnsmasqFlags.out != "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d nodes); check it with: dnsmasq --test -C %s\n", dnsmasqFlags.out, len(sel.Nodes), dnsmasqFlags.out)
		}
		return nil
	},
}

func init() {
	f := exportDnsmasqCmd.Flags()
	f.BoolVar(&dnsmasqFlags.proxy, "proxy", false, "address side only, for serve in proxy mode (needs the network's dhcp.range)")
	f.BoolVar(&dnsmasqFlags.all, "all", false, "write every selected node, whatever its network's dhcp mode")
	f.IntVar(&dnsmasqFlags.httpPort, "http-port", plan.DefaultHTTPPort, "serve's HTTP port, for the script URLs")
	f.StringVarP(&dnsmasqFlags.out, "file", "f", "", "write to this file instead of stdout")
	exportCmd.AddCommand(exportDnsmasqCmd)
}
