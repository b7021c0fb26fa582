package server

import (
	"net/netip"
	"slices"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/plan"
)

// ByRelay is the network a relay agent forwards for, in the plan in force (the DHCP
// handler's dhcp.RelayNetworks).
func (s *Server) ByRelay(giaddr netip.Addr) *plan.DHCPNetwork { return s.Current().ByRelay(giaddr) }

// dhcpPorts are the ports DHCP listens on: those of the served network's mode and of
// each relayed network whose relays forward to this serve's address. A relayed request
// reaches the same listener as a direct one (unicast to this address), so one listener
// per port serves every network. relayed names the relayed networks, for the log.
func (s *Server) dhcpPorts(direct string) (ports []int, relayed []string) {
	modes := []string{s.mode(direct)}
	for _, d := range s.Current().DHCP {
		if d.Relayed() && d.Server == s.ip && d.Mode != dhcp.ModeOff {
			modes = append(modes, d.Mode)
			relayed = append(relayed, d.Network)
		}
	}
	if s.cfg.NoDHCP {
		return nil, nil
	}
	for _, m := range modes {
		switch m {
		case dhcp.ModeReservation:
			ports = append(ports, s.cfg.DHCPPort)
		case dhcp.ModeProxy:
			ports = append(ports, s.cfg.DHCPPort, dhcp.PortPXE)
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), relayed
}
