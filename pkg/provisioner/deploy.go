package provisioner

import (
	"context"
	"errors"
	"fmt"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/pkg/state"
)

// deployTargets are TargetsFor with each node's image (the Deploy of its expectations,
// plan.ExpectationsFor), so the lifecycle knows which nodes go on from validating to
// deploying. A node whose expectations cannot be built gets none here; its agent is
// answered the same error.
func (c *Core) deployTargets(inv *inventory.Inventory, nodes []*inventory.Node) []lifecycle.Target {
	ts := TargetsFor(nodes)
	for i, n := range nodes {
		e, err := plan.ExpectationsFor(inv, n.Name)
		if err != nil {
			c.log.Warn("node's expectations", "node", n.Name, "err", err)
			continue
		}
		ts[i].Deploy = e.Deploy
	}
	return ts
}

// expectDeploy puts this run's deploy in a node's expectations: none for a locked node
// (never deployed without --force), Reprovision for a run started with --reprovision.
func (c *Core) expectDeploy(e *expect.Expectations) error {
	if e.Deploy == nil {
		return nil
	}
	inv := c.Inventory()
	n := inv.Node(e.Node)
	if n == nil {
		return fmt.Errorf("node %q is not in the inventory", e.Node)
	}
	rec, err := c.Store.Get(e.Node)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return err
	}
	t := c.deployTargets(inv, []*inventory.Node{n})[0]
	t.Deploy = e.Deploy
	e.Deploy = lifecycle.DeployFor(rec, t)
	return nil
}

// BootsLocal reports whether serve answers node's iPXE with the local-disk script because
// its disk holds the image the lifecycle verified (lifecycle.BootsLocal).
func (c *Core) BootsLocal(node string) bool {
	n, err := c.Store.Get(node)
	return err == nil && lifecycle.BootsLocal(n)
}

// DiskCycle implements lifecycle.DiskPower: next boot from the disk, then a power cycle
// (power on when the node is off). Network boot stays first in the firmware's own order;
// serve answers the node's iPXE with the local-disk script too, so a BMC that drops the
// one-time override still ends on the disk.
func (p *BMCPower) DiskCycle(ctx context.Context, t lifecycle.Target) error {
	return p.bootAndCycle(ctx, t, bmc.BootDisk)
}
