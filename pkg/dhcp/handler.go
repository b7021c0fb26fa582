// Package dhcp answers DHCPv4 for the nodes in the plan, on insomniacslk/dhcp. Each
// provisioning network picks a mode: reservation (authoritative for inventory MACs
// only), proxy (proxyDHCP on 67 and 4011: boot options only) or off (an external server;
// see ExportDnsmasq). A MAC not in the plan is never answered: it is recorded as
// discovered. The answer is built by a chain of small plugins, coredhcp style.
package dhcp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
)

// Modes of a provisioning network.
const (
	ModeReservation = "reservation"
	ModeProxy       = "proxy"
	ModeOff         = "off"
)

// Ports: 67 is DHCP, 4011 the PXE boot server port proxyDHCP clients ask on.
const (
	PortDHCP = 67
	PortPXE  = 4011
)

// Nodes finds the plan of the node owning a MAC; nil when the MAC is not in the inventory.
type Nodes interface {
	ByMAC(mac net.HardwareAddr) *plan.NodePlan
}

// Learner is told the address a node was seen using (proxy mode learns it from the
// client's REQUEST to the site's DHCP server), so TFTP and HTTP can name the node.
type Learner interface {
	Learn(mac net.HardwareAddr, ip netip.Addr)
}

// Request is one packet being answered.
type Request struct {
	Msg       *dhcpv4.DHCPv4
	Port      int    // PortDHCP or PortPXE
	Interface string // where it arrived, for discovered records
	Node      *plan.NodePlan
	Client    Client
}

// Plugin adds its part to the reply; it returns false to drop the request unanswered.
type Plugin func(req *Request, resp *dhcpv4.DHCPv4) bool

// Handler answers DHCP for one provisioning network.
type Handler struct {
	Nodes      Nodes
	Events     *events.Stream // may be nil
	Discovered *Discovered    // may be nil
	Learner    Learner        // may be nil
	Network    string         // network name, for discovered records
	// ServerIP is this host's address on the network, used when a node plan has none.
	ServerIP netip.Addr
	// Networks names the network of each relay the inventory names (dhcp.relays): a
	// relayed request is answered for the nodes of that network only (nil: none).
	Networks RelayNetworks
	// Relays are further relay agents (giaddr, --dhcp-relay) answered for the nodes of the
	// network holding their address; a request with any other giaddr is dropped.
	Relays []netip.Addr
	// Cabling, when set, is compared with the relays' option 82 (nil: recorded only).
	Cabling Cabling
	// Log gets the rate-limited lines about dropped requests (nil: none).
	Log *slog.Logger

	dropped rateLog
	recent  coalescer
	relayed coalescer // dhcp.relay events, apart: one coalescer remembers one event per MAC
}

// Reply answers req, or returns nil when the request must go unanswered: a MAC not in
// the plan, a network in mode off, a proxyDHCP request from a non-PXE client, a
// REQUEST meant for another server.
func (h *Handler) Reply(req *Request) *dhcpv4.DHCPv4 {
	m := req.Msg
	if m == nil || m.OpCode != dhcpv4.OpcodeBootRequest || len(m.ClientHWAddr) != 6 {
		return nil
	}
	req.Client = Classify(m)
	req.Node = nil
	if h.Nodes != nil {
		req.Node = h.Nodes.ByMAC(m.ClientHWAddr)
	}
	// Where the request came from decides which network answers it: a giaddr no network
	// names gets nothing, not even a discovered record.
	network, relay, why, key := h.arrival(req)
	if why != "" {
		h.dropped.warn(h.Log, key, "dhcp: request dropped", "mac", m.ClientHWAddr.String(), "interface", req.Interface, "why", why)
		return nil
	}
	if req.Node == nil {
		h.discover(req, network)
		return nil
	}
	if own := req.Node.Reservation.Network; network != "" && own != "" && own != network {
		// Each node is answered on its own network only: elsewhere its reservation, server
		// and boot files are wrong, and an answer would teach it a foreign address.
		why := fmt.Sprintf("node %s boots from network %q but asked on network %q", req.Node.Node, own, network)
		if relay.IsValid() {
			why += " (through relay " + relay.String() + ")"
		}
		h.dropped.warn(h.Log, "network|"+req.Node.Node, "dhcp: request dropped", "mac", m.ClientHWAddr.String(), "node", req.Node.Node,
			"why", why+": answered on its own network only; check the switch port's VLAN or the node's network in the inventory")
		return nil
	}
	chain := h.chain(req.Node.Reservation.Mode)
	if chain == nil {
		return nil
	}
	if why, key := h.spoofed(req); why != "" {
		h.dropped.warn(h.Log, key, "dhcp: request dropped", "mac", m.ClientHWAddr.String(), "node", req.Node.Node, "why", why)
		return nil
	}
	resp, err := dhcpv4.NewReplyFromRequest(m)
	if err != nil {
		return nil
	}
	for _, p := range chain {
		if !p(req, resp) {
			return nil
		}
	}
	if relay.IsValid() {
		h.relayEvent(req, agentInfo(m, relay))
	}
	h.publish(req, resp)
	return resp
}

// chain is the plugin list for a mode; nil means the mode does not answer.
func (h *Handler) chain(mode string) []Plugin {
	switch mode {
	case ModeReservation, "":
		return []Plugin{h.messageType, h.serverID, lease, bootFile}
	case ModeProxy:
		return []Plugin{pxeOnly, h.learn, h.proxyMessageType, h.serverID, bootFile, pxeVendorOptions}
	default:
		return nil
	}
}

func (h *Handler) server(req *Request) netip.Addr {
	if s := req.Node.Reservation.Server; s.IsValid() {
		return s
	}
	return h.ServerIP
}

func (h *Handler) publish(req *Request, resp *dhcpv4.DHCPv4) {
	kind := events.DHCPAck
	switch resp.MessageType() {
	case dhcpv4.MessageTypeOffer:
		kind = events.DHCPOffer
	case dhcpv4.MessageTypeNak:
		kind = events.DHCPNak
	}
	e := events.Event{
		Kind:   kind,
		Node:   req.Node.Node,
		MAC:    req.Msg.ClientHWAddr.String(),
		Detail: resp.BootFileName,
	}
	if !resp.YourIPAddr.IsUnspecified() {
		e.IP = resp.YourIPAddr.String()
	}
	if kind == events.DHCPNak {
		e.Err = resp.Message()
	}
	if h.recent.repeat(e, time.Now()) {
		return // the same answer to the same client moments ago: already recorded
	}
	h.Events.Publish(e)
}

func (h *Handler) discover(req *Request, network string) {
	rec := h.Discovered.Record(req.Msg.ClientHWAddr, req.Client, req.Interface, network)
	if rec == nil {
		return
	}
	h.Events.Publish(events.Event{
		Kind:   events.Discovered,
		MAC:    req.Msg.ClientHWAddr.String(),
		Detail: req.Client.String(),
		Err:    "MAC not in the inventory: not answered (see `provision discovered`)",
	})
}
