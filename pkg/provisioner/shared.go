package provisioner

import (
	"context"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/cluster"
	"github.com/racklift/racklift/pkg/state"
)

// Shared is the state on an etcd cluster, shared by several serve instances
// (docs/scale.md): the lifecycle drives only the nodes this instance holds, and DHCP is
// answered on a network only by the instance elected for it.
type Shared struct {
	Etcd state.EtcdConfig
	// Instance names this instance among them (unique); Lease is how long the others
	// wait after its last keep-alive before taking its networks and nodes over.
	Instance string
	Lease    time.Duration
	// Networks are the provisioning networks this instance can answer DHCP on: it
	// campaigns for each.
	Networks []string
}

// openShared opens the etcd state and joins the instances; it returns the state as the
// lifecycle machine sees it (only the nodes this instance holds, fenced writes).
func (c *Core) openShared(sh Shared) (state.Store, error) {
	st, err := state.OpenEtcd(sh.Etcd, state.Options{Check: true})
	if err != nil {
		return nil, err
	}
	c.Store = st
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if c.cluster, err = cluster.Start(ctx, cluster.Config{Client: st.Client(), Prefix: st.Prefix(), Instance: sh.Instance,
		Lease: sh.Lease, Nodes: c.nodeNames, Log: c.log}); err != nil {
		return nil, err
	}
	return c.cluster.Owned(st), nil
}

// nodeNames are the inventory's nodes: those the instances share out.
func (c *Core) nodeNames() []string {
	inv := c.Inventory()
	if inv == nil {
		return nil
	}
	out := make([]string, 0, len(inv.Nodes))
	for _, n := range inv.Nodes {
		out = append(out, n.Name)
	}
	return out
}

// runShared keeps this instance's lease and shares out nodes, and campaigns for each of
// its networks again whenever it lost one, until ctx ends.
func (c *Core) runShared(ctx context.Context, wg *sync.WaitGroup) {
	if c.cluster == nil {
		return
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.cluster.Run(ctx)
	}()
	for _, nw := range c.cfg.Shared.Networks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				lost, err := c.cluster.Lead(ctx, nw)
				if err != nil {
					return
				}
				select {
				case <-lost:
					c.log.Warn("this instance no longer answers DHCP on the network", "network", nw, "instance", c.cluster.Instance())
				case <-ctx.Done():
				}
			}
		}()
	}
}

// HoldsNetwork reports whether this instance answers DHCP on network: always when it is
// alone, when elected for it when the state is shared.
func (c *Core) HoldsNetwork(network string) bool {
	return c.cluster == nil || c.cluster.HoldsNetwork(network)
}

// Instance is this instance's name among the shared ones ("" when alone).
func (c *Core) Instance() string {
	if c.cluster == nil {
		return ""
	}
	return c.cluster.Instance()
}

// where names a store in the log.
func where(s state.Store) string {
	switch s := s.(type) {
	case interface{ Where() string }:
		return s.Where()
	case interface{ Path() string }:
		return s.Path()
	}
	return "?"
}
