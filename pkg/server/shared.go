package server

import (
	"context"
	"time"

	"github.com/racklift/racklift/pkg/dhcp"
)

// electedEvery is how often serve looks whether it is elected for its network.
const electedEvery = 200 * time.Millisecond

// electedDHCP listens for DHCP on network only while this instance is elected for it
// (the state shared on etcd), and stops listening as soon as it is not, until ctx ends.
func (s *Server) electedDHCP(ctx context.Context, network string, listen func(func(string, func() error)) ([]*dhcp.Server, error)) {
	var running []*dhcp.Server
	stop := func() {
		for _, ds := range running {
			ds.Close()
		}
		running = nil
	}
	defer stop()
	t := time.NewTicker(electedEvery)
	defer t.Stop()
	for {
		elected := s.core.HoldsNetwork(network)
		switch {
		case elected && running == nil:
			dss, err := listen(func(name string, f func() error) {
				go func() {
					if err := f(); err != nil && ctx.Err() == nil {
						s.log.Error("dhcp", "network", network, "err", err)
					}
				}()
			})
			if err != nil {
				s.log.Error("elected for the network but DHCP could not listen", "network", network, "err", err)
			} else {
				running = dss
				s.log.Info("answering DHCP: this instance is elected for the network", "network", network, "instance", s.core.Instance())
			}
		case !elected && running != nil:
			stop()
			s.log.Warn("standing by: this instance is no longer elected for the network", "network", network, "instance", s.core.Instance())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
