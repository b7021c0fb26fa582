package server

import (
	"net/netip"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/plan"
)

// ByRelay is the network a relay agent forwards for, in the plan in force (the DHCP
// handler's dhcp.RelayNetworks).
func (s *Server) ByRelay(giaddr netip.Addr) *plan.DHCPNetwork { return s.Current().ByRelay(giaddr) }

// dhcpMode is how DHCP listens: for the served network and every relayed network whose
// relays forward to this serve's address. A relayed request reaches the same listener
// as a direct one (unicast to this address), so one listener per port serves them all:
// proxy (67 and 4011) when any of them is in proxy mode, else reservation (67) when any
// is, else off. relayed names the relayed networks, for the log.
func (s *Server) dhcpMode(direct string) (mode string, relayed []string) {
	modes := map[string]bool{s.mode(direct): true}
	for _, d := range s.Current().DHCP {
		if d.Relayed() && d.Server == s.ip && d.Mode != dhcp.ModeOff {
			modes[d.Mode] = true
			relayed = append(relayed, d.Network)
		}
	}
	switch {
	case modes[dhcp.ModeProxy]:
		return dhcp.ModeProxy, relayed
	case modes[dhcp.ModeReservation]:
		return dhcp.ModeReservation, relayed
	}
	return dhcp.ModeOff, relayed
}

// PXEPort is where the inventory in force cables node's PXE interface (its switch: and
// port:), which the DHCP handler compares with a relay's option 82 (dhcp.Cabling).
func (s *Server) PXEPort(node string) (dhcp.Port, bool) {
	n := s.cur.Load().inv.Node(node)
	if n == nil {
		return dhcp.Port{}, false
	}
	ifc := n.PXEInterface()
	if ifc == nil || ifc.Switch == "" || ifc.Port == "" {
		return dhcp.Port{}, false
	}
	return dhcp.Port{Switch: ifc.Switch, Port: ifc.Port}, true
}
