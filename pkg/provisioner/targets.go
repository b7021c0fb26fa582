package provisioner

import (
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// TargetsFor makes lifecycle targets of inventory nodes.
func TargetsFor(nodes []*inventory.Node) []lifecycle.Target {
	out := make([]lifecycle.Target, 0, len(nodes))
	for _, n := range nodes {
		t := lifecycle.Target{Name: n.Name, Protected: n.Protected, Maintenance: n.Maintenance, BMC: BMCName(n)}
		if ifc := n.PXEInterface(); ifc != nil {
			t.MAC = ifc.MAC
			if ifc.HW != nil {
				t.MAC = ifc.HW.String()
			}
		}
		out = append(out, t)
	}
	return out
}

// BMCName is how reasons name a node's BMC: https://host:port or ipmi://host:port.
func BMCName(n *inventory.Node) string {
	if u := bmc.URLFor(n); u != "" {
		return u
	}
	return "(no BMC address)"
}
