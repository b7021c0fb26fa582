package dhcp

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/racklift/racklift/pkg/plan"
)

// DnsmasqOptions shape ExportDnsmasq's output.
type DnsmasqOptions struct {
	// Proxy writes a dnsmasq that hands out addresses only (dhcp-range from the
	// network's range) for serve running in proxy mode next to it: no boot options.
	Proxy bool
	// Ranges are "first-last" dynamic ranges by network name (from the inventory's
	// dhcp.range); without one a network gets static reservations only.
	Ranges map[string]string
}

// ExportDnsmasq writes a dnsmasq configuration answering like serve's reservation mode
// would: a dhcp-host line per node, boot files by architecture tag, and iPXE chained to
// the node's HTTP script by user class. serve then runs with DHCP off (TFTP and HTTP only).
func ExportDnsmasq(w io.Writer, p *plan.Plan, opt DnsmasqOptions) error {
	byNet := map[string][]*plan.NodePlan{}
	var names []string
	for _, np := range p.Nodes {
		n := np.Reservation.Network
		if _, ok := byNet[n]; !ok {
			names = append(names, n)
		}
		byNet[n] = append(byNet[n], np)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "# dnsmasq configuration for site %s, written by 'provision export dnsmasq'.\n", p.Site)
	if opt.Proxy {
		fmt.Fprintln(w, "# Addresses only: 'provision serve' in proxy mode adds the boot options (proxyDHCP) and serves TFTP and HTTP.")
	} else {
		fmt.Fprintln(w, "# DHCP only: TFTP and HTTP come from 'provision serve' (run it with the network's dhcp mode off).")
	}
	fmt.Fprintln(w, "port=0")
	fmt.Fprintln(w, "dhcp-authoritative")
	fmt.Fprintln(w, "# add log-dhcp here to see every DHCP exchange in the log")
	if !opt.Proxy {
		fmt.Fprintln(w, "\n# Firmware tags: architecture (option 93), UEFI HTTP boot, iPXE (user class / option 175).")
		for _, l := range []string{
			"dhcp-match=set:bios,option:client-arch,0",
			"dhcp-match=set:efi64,option:client-arch,7",
			"dhcp-match=set:efi64,option:client-arch,9",
			"dhcp-match=set:arm64,option:client-arch,11",
			"dhcp-vendorclass=set:httpclient,HTTPClient",
			"dhcp-userclass=set:ipxe,iPXE",
			"dhcp-match=set:ipxe,175",
		} {
			fmt.Fprintln(w, l)
		}
	}
	for _, name := range names {
		nodes := byNet[name]
		r0 := nodes[0].Reservation
		tag := "net-" + sanitize(name)
		fmt.Fprintf(w, "\n# network %s (%s)\n", name, r0.Prefix)
		mask := net.IP(net.CIDRMask(r0.Prefix.Bits(), 32)).String()
		lease := r0.LeaseSeconds
		if lease <= 0 {
			lease = 12 * 3600
		}
		if rg := opt.Ranges[name]; rg != "" {
			first, last, ok := strings.Cut(rg, "-")
			if !ok {
				return fmt.Errorf("network %q: dhcp range %q: want first-last", name, rg)
			}
			fmt.Fprintf(w, "dhcp-range=set:%s,%s,%s,%s,%ds\n", tag, strings.TrimSpace(first), strings.TrimSpace(last), mask, lease)
		} else if opt.Proxy {
			return fmt.Errorf("network %q: a dnsmasq handing out addresses needs the network's dhcp.range (first-last)", name)
		} else {
			fmt.Fprintf(w, "dhcp-range=set:%s,%s,static,%s,%ds\n", tag, r0.Prefix.Masked().Addr(), mask, lease)
		}
		if r0.Gateway.IsValid() {
			fmt.Fprintf(w, "dhcp-option=tag:%s,option:router,%s\n", tag, r0.Gateway)
		}
		if len(r0.DNS) > 0 {
			fmt.Fprintf(w, "dhcp-option=tag:%s,option:dns-server,%s\n", tag, joinAddrs(r0.DNS))
		}
		if r0.Domain != "" {
			fmt.Fprintf(w, "dhcp-option=tag:%s,option:domain-name,%s\n", tag, r0.Domain)
		}
		if r0.MTU > 0 && r0.MTU != 1500 {
			fmt.Fprintf(w, "dhcp-option=tag:%s,option:mtu,%d\n", tag, r0.MTU)
		}
		if opt.Proxy {
			continue
		}
		for _, np := range nodes {
			r, b := np.Reservation, np.Boot
			nt := "node-" + sanitize(np.Node)
			if !r.IP.IsValid() {
				fmt.Fprintf(w, "# %s: no address in the inventory, no dhcp-host line\n", np.Node)
				continue
			}
			fmt.Fprintf(w, "dhcp-host=%s,set:%s,%s,%s\n", r.MACString, nt, r.IP, sanitizeHost(r.Hostname, np.Node))
			srv := r.Server.String()
			fmt.Fprintf(w, "dhcp-boot=tag:%s,tag:ipxe,%s\n", nt, b.ScriptURL)
			fmt.Fprintf(w, "dhcp-boot=tag:%s,tag:!ipxe,tag:httpclient,%s\n", nt, b.HTTPBootURL)
			fmt.Fprintf(w, "dhcp-boot=tag:%s,tag:!ipxe,tag:!httpclient,tag:bios,%s,,%s\n", nt, b.BIOSFile, srv)
			fmt.Fprintf(w, "dhcp-boot=tag:%s,tag:!ipxe,tag:!httpclient,tag:efi64,%s,,%s\n", nt, b.UEFIFile, srv)
			fmt.Fprintf(w, "dhcp-boot=tag:%s,tag:!ipxe,tag:!httpclient,tag:arm64,%s,,%s\n", nt, b.ARM64File, srv)
		}
	}
	if !opt.Proxy {
		fmt.Fprintln(w, "\n# UEFI HTTP boot clients need option 60 echoed.")
		fmt.Fprintln(w, "dhcp-option-force=tag:httpclient,60,HTTPClient")
	}
	return nil
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// sanitize keeps a tag to letters, digits, '-' and '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func sanitizeHost(h, fallback string) string {
	if h == "" {
		h = fallback
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, h)
}
