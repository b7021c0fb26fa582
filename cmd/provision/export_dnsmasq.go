package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/plan"
)

func newExportDnsmasqCmd(g *globals) *cobra.Command {
	var sel dhcp.DnsmasqSelection
	var out string
	cmd := &cobra.Command{
		Use:               "dnsmasq [SELECTOR...]",
		ValidArgsFunction: g.completeSelectors(0, nil),
		Short:             "Write a dnsmasq DHCP configuration matching serve (for networks with dhcp mode off)",
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
			inv, nodes, err := g.selectNodesOrAll(args)
			if err != nil {
				return err
			}
			e, err := dhcp.DnsmasqFor(inv, nodes, sel)
			if errors.Is(err, dhcp.ErrNothingForDnsmasq) {
				return cli.Exitf(1, "%v", err)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if err := e.Write(w); err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (%d nodes); check it with: dnsmasq --test -C %s\n", out, e.Nodes(), out)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&sel.Proxy, "proxy", false, "address side only, for serve in proxy mode (needs the network's dhcp.range)")
	f.BoolVar(&sel.All, "all", false, "write every selected node, whatever its network's dhcp mode")
	f.IntVar(&sel.HTTPPort, "http-port", plan.DefaultHTTPPort, "serve's HTTP port, for the script URLs")
	f.StringVarP(&out, "file", "f", "", "write to this file instead of stdout")
	return cmd
}
