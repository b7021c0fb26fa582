package dhcp

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
	textsafe "github.com/racklift/racklift/pkg/sanitize"
)

// RelayNetworks finds the provisioning network a relay agent forwards for by its address
// on that network (giaddr); nil when no network names it. The plan in force answers it.
type RelayNetworks interface {
	ByRelay(giaddr netip.Addr) *plan.DHCPNetwork
}

// Cabling is where the inventory says a node's PXE interface is cabled: the switch and
// its port (switch: and port: on the interface), which a relay on that switch reports in
// option 82 (remote id, circuit id). serve's implementation reads the inventory in force.
type Cabling interface {
	PXEPort(node string) (Port, bool)
}

// Port is one switch port: the switch's name (or the id its relay sends as remote id)
// and the port's name (what it sends as circuit id).
type Port struct {
	Switch string
	Port   string
}

// AgentInfo is what the relay said about a relayed request: its address (giaddr) and,
// when it added option 82 (RFC 3046), the circuit and remote ids, sanitized and capped.
type AgentInfo struct {
	Relay     netip.Addr
	CircuitID string
	RemoteID  string
}

// agentIDMax caps a stored circuit or remote id (the wire allows 255 bytes each).
const agentIDMax = 64

// agentInfo reads option 82 of a relayed request.
func agentInfo(m *dhcpv4.DHCPv4, relay netip.Addr) AgentInfo {
	a := AgentInfo{Relay: relay}
	if ro := m.RelayAgentInfo(); ro != nil {
		a.CircuitID = agentID(ro.Get(dhcpv4.AgentCircuitIDSubOption))
		a.RemoteID = agentID(ro.Get(dhcpv4.AgentRemoteIDSubOption))
	}
	return a
}

// agentID renders a circuit or remote id: text as text, anything else (a switch's MAC,
// Cisco's VLAN-module-port bytes) as 0x-hex, capped, so no byte from the network reaches
// the state or a terminal unescaped.
func agentID(b []byte) string {
	cut := len(b) > agentIDMax
	if cut {
		b = b[:agentIDMax]
	}
	s := string(b)
	if s == "" {
		return ""
	}
	if !printableASCII(b) {
		s = "0x" + hex.EncodeToString(b)
	}
	if cut {
		s += "…"
	}
	return textsafe.Text(s, 2*agentIDMax+8)
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// String is the event detail: `relay 10.20.0.1 circuit-id "Ethernet1/7" remote-id "tor-b1"`.
func (a AgentInfo) String() string {
	s := "relay " + a.Relay.String()
	if a.CircuitID != "" {
		s += fmt.Sprintf(" circuit-id %q", a.CircuitID)
	}
	if a.RemoteID != "" {
		s += fmt.Sprintf(" remote-id %q", a.RemoteID)
	}
	if a.CircuitID == "" && a.RemoteID == "" {
		s += " (no option 82)"
	}
	return s
}

// CablingMismatch compares what the relay reported with where the inventory cables the
// node; "" when they agree or the relay sent nothing to compare. A circuit id matches the
// port when equal (case aside) or when it is the port followed by ':' or '.' and more
// (port:VLAN, as many switches write it).
func CablingMismatch(node string, a AgentInfo, want Port) string {
	var bad []string
	if a.CircuitID != "" && want.Port != "" && !portMatches(a.CircuitID, want.Port) {
		bad = append(bad, fmt.Sprintf("circuit-id %q, not port %q", a.CircuitID, want.Port))
	}
	if a.RemoteID != "" && want.Switch != "" && !strings.EqualFold(a.RemoteID, want.Switch) {
		bad = append(bad, fmt.Sprintf("remote-id %q, not switch %q", a.RemoteID, want.Switch))
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("node %s's PXE interface is cabled to switch %q port %q in the inventory, but relay %s reports %s: fix the cabling or the inventory",
		node, want.Switch, want.Port, a.Relay, strings.Join(bad, " and "))
}

func portMatches(circuit, port string) bool {
	if strings.EqualFold(circuit, port) {
		return true
	}
	if len(circuit) > len(port) && strings.EqualFold(circuit[:len(port)], port) {
		return circuit[len(port)] == ':' || circuit[len(port)] == '.'
	}
	return false
}

// arrival is the network a request came from. A relayed request (giaddr set) comes from
// the network whose relays the inventory names giaddr among; a unicast one from a client
// that has an address (ciaddr, a renewal) from the node's own network, which the ciaddr
// check (spoofed) holds to its reservation; a broadcast from the listener's network.
// why is set, with a rate-limit key, when the request must be dropped.
func (h *Handler) arrival(req *Request) (network string, relay netip.Addr, why, key string) {
	m := req.Msg
	gi := addr4(m.GatewayIPAddr)
	if !gi.IsValid() {
		if addr4(m.ClientIPAddr).IsValid() && req.Node != nil {
			return req.Node.Reservation.Network, gi, "", ""
		}
		if h.Network == "" {
			return "", gi, "a broadcast reached serve on no network of the inventory: only relayed and renewing requests are answered there", "no-network"
		}
		return h.Network, gi, "", ""
	}
	if h.Networks != nil {
		if nw := h.Networks.ByRelay(gi); nw != nil {
			if h.ServerIP.IsValid() && nw.Server.IsValid() && nw.Server != h.ServerIP {
				return "", gi, fmt.Sprintf("giaddr %s relays network %q, whose server is %s, not this serve (%s)", gi, nw.Network, nw.Server, h.ServerIP), "other-server"
			}
			return nw.Network, gi, "", ""
		}
	}
	if slices.Contains(h.Relays, gi) {
		return "", gi, "", "" // --dhcp-relay: the node's own network, checked in spoofed
	}
	return "", gi, fmt.Sprintf("giaddr %s is a relay no network names (dhcp.relays in the inventory) nor --dhcp-relay: a spoofed or misconfigured relay", gi), "giaddr-unknown"
}

// relayEvent records where a relayed request came from in the node's events, and a
// cabling mismatch as the event's error.
func (h *Handler) relayEvent(req *Request, a AgentInfo) {
	e := events.Event{Kind: events.DHCPRelay, Node: req.Node.Node, MAC: req.Msg.ClientHWAddr.String(), Detail: a.String()}
	if h.Cabling != nil {
		if want, ok := h.Cabling.PXEPort(req.Node.Node); ok {
			e.Err = CablingMismatch(req.Node.Node, a, want)
		}
	}
	if h.relayed.repeat(e, time.Now()) {
		return
	}
	if e.Err != "" {
		h.dropped.warn(h.Log, "cabling|"+req.Node.Node, "dhcp: option 82 disagrees with the inventory's cabling", "node", req.Node.Node, "why", e.Err)
	}
	h.Events.Publish(e)
}
