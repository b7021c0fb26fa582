package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/netsetup"
)

// ApplyNetworks makes the node's links match its networks (VLAN sub-interfaces,
// addresses, MTUs), recording what it created in statePath as `node-agent net apply`
// does (so `net down` undoes it), so the network checks that follow test the switch, not
// a node nobody configured. A failure is logged; the checks then say which network is
// missing.
func ApplyNetworks(statePath string, log *slog.Logger) func(context.Context, *expect.Expectations) {
	return func(ctx context.Context, exp *expect.Expectations) {
		os.MkdirAll(filepath.Dir(statePath), 0o700)
		kind := netsetup.VLAN{}
		d, err := netsetup.FromNetworks(netsetup.NodeManaged(exp.Networks), kind)
		if err == nil {
			var r *netsetup.Report
			r, err = netsetup.Run(ctx, "apply", d, netsetup.Options{StatePath: statePath, Kind: kind}, false, netsetup.Verify{})
			if r != nil {
				for _, c := range r.Changes {
					log.Info("network set up", "op", c.Op, "what", c.What, "link", c.Link, "network", c.Network, "to", c.To)
				}
			}
		}
		if err != nil {
			log.Error("cannot set up the node's networks", "error", err.Error())
		}
	}
}
