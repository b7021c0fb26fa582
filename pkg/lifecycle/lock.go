package lifecycle

import (
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/nodelock"
)

// Target is what the machine needs to know about a node from the inventory and plan.
type Target struct {
	Name        string
	MAC         string // PXE MAC: the agent token is handed only to it
	BMC         string // how failure reasons name the BMC, e.g. "redfish https://10.0.0.11"
	Protected   bool   // in use: power actions need --force
	Maintenance bool   // locked for work: power actions need --force
	// Deploy is the image the node's profile puts on its disk (plan.DeployFor); nil: a
	// stateless node, ready after the ramdisk's report.
	Deploy *expect.Deploy
}

// checkLock is nodelock's policy for `up` on t: the refusal the BMC commands give too.
func checkLock(t Target, force bool) error {
	return nodelock.Check(nodelock.Node{Name: t.Name, Protected: t.Protected, Maintenance: t.Maintenance}, "up", force)
}
