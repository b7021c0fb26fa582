package dhcp

import (
	"errors"
	"io"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
)

// DnsmasqSelection says which nodes `provision export dnsmasq` writes, and how.
type DnsmasqSelection struct {
	HTTPPort int  // serve's HTTP port, for the script URLs
	All      bool // every selected node, whatever its network's dhcp mode; else mode off only
	Proxy    bool // the address side only, for serve in proxy mode (see DnsmasqOptions)
}

// ErrNothingForDnsmasq is a selection with no node for dnsmasq to answer.
var ErrNothingForDnsmasq = errors.New("no selected node is on a network with dhcp mode off: nothing for dnsmasq to do (use --all to write them anyway)")

// DnsmasqExport is the dnsmasq configuration for a selection of nodes.
type DnsmasqExport struct {
	plan *plan.Plan
	opt  DnsmasqOptions
}

// DnsmasqFor plans the inventory and keeps the selected nodes dnsmasq must answer, with
// the networks' dhcp.range; ErrNothingForDnsmasq when none is left.
func DnsmasqFor(inv *inventory.Inventory, nodes []*inventory.Node, sel DnsmasqSelection) (*DnsmasqExport, error) {
	p, err := plan.Build(inv, plan.Options{HTTPPort: sel.HTTPPort})
	if err != nil {
		return nil, err
	}
	out := &plan.Plan{Site: p.Site}
	for _, n := range nodes {
		if np := p.Node(n.Name); np != nil && (sel.All || np.Reservation.Mode == ModeOff) {
			out.Nodes = append(out.Nodes, np)
		}
	}
	if len(out.Nodes) == 0 {
		return nil, ErrNothingForDnsmasq
	}
	ranges := map[string]string{}
	for _, nw := range inv.Networks {
		if nw.DHCP != nil && nw.DHCP.Range != "" {
			ranges[nw.Name] = nw.DHCP.Range
		}
	}
	return &DnsmasqExport{plan: out, opt: DnsmasqOptions{Proxy: sel.Proxy, Ranges: ranges}}, nil
}

// Nodes is how many nodes the configuration answers.
func (e *DnsmasqExport) Nodes() int { return len(e.plan.Nodes) }

// Write writes the configuration (see ExportDnsmasq).
func (e *DnsmasqExport) Write(w io.Writer) error { return ExportDnsmasq(w, e.plan, e.opt) }
