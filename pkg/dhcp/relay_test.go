package dhcp

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
)

// relayPlan is testPlan (prov, served directly at 10.202.0.2) plus network pod-b
// (10.203.0.0/24) behind the relay 10.203.0.1, forwarding to the same serve, with node
// b-01, and pod-c whose relay forwards to another serve (10.202.0.3).
type relayPlan struct {
	*plan.Plan
	nets map[netip.Addr]*plan.DHCPNetwork
}

func (r relayPlan) ByRelay(gi netip.Addr) *plan.DHCPNetwork { return r.nets[gi] }

func newRelayHandler(t *testing.T) (*Handler, *bytes.Buffer) {
	t.Helper()
	p := testPlan()
	hw, _ := net.ParseMAC("52:54:00:03:00:01")
	b := &plan.NodePlan{Node: "b-01", Rack: "r2", Role: "compute",
		Reservation: plan.Reservation{Mode: ModeReservation, Network: "pod-b", Interface: "eno1", MAC: hw, MACString: hw.String(),
			IP: netip.MustParseAddr("10.203.0.11"), Prefix: netip.MustParsePrefix("10.203.0.0/24"), Gateway: netip.MustParseAddr("10.203.0.1"),
			MTU: 1500, Hostname: "b-01", LeaseSeconds: 3600, Server: netip.MustParseAddr("10.202.0.2")},
		Boot: plan.Boot{BIOSFile: plan.FileBIOS, UEFIFile: plan.FileUEFI, ScriptURL: "http://10.202.0.2:8080/ipxe/52:54:00:03:00:01"}}
	p.Nodes = append(p.Nodes, b)
	rp := relayPlan{Plan: p, nets: map[netip.Addr]*plan.DHCPNetwork{
		netip.MustParseAddr("10.203.0.1"): {Network: "pod-b", Mode: ModeReservation, Prefix: b.Reservation.Prefix,
			Server: netip.MustParseAddr("10.202.0.2"), Relays: []netip.Addr{netip.MustParseAddr("10.203.0.1")}},
		netip.MustParseAddr("10.204.0.1"): {Network: "pod-c", Mode: ModeReservation, Prefix: netip.MustParsePrefix("10.204.0.0/24"),
			Server: netip.MustParseAddr("10.202.0.3"), Relays: []netip.Addr{netip.MustParseAddr("10.204.0.1")}},
	}}
	h, _ := newHandler(t)
	h.Nodes, h.Networks = rp, rp
	var log bytes.Buffer
	h.Log = slog.New(slog.NewTextHandler(&log, nil))
	return h, &log
}

// option82 is a relay agent's option 82 with circuit and remote ids.
func option82(circuit, remote string) dhcpv4.Modifier {
	return dhcpv4.WithOption(dhcpv4.OptRelayAgentInfo(
		dhcpv4.OptGeneric(dhcpv4.AgentCircuitIDSubOption, []byte(circuit)),
		dhcpv4.OptGeneric(dhcpv4.AgentRemoteIDSubOption, []byte(remote))))
}

// Issue 17: the network is chosen from giaddr, among the relays the inventory names for
// it; each node is answered on its own network only; a giaddr no network names (a
// spoofed one) gets nothing, no event, no discovered record, one located log line.
func TestRelayedRequestsByNetwork(t *testing.T) {
	t.Parallel()
	const (
		b01   = "52:54:00:03:00:01" // pod-b
		gpu01 = "52:54:00:02:00:01" // prov
		stray = "52:54:00:99:00:01" // in no inventory
	)
	gi := func(a string) dhcpv4.Modifier { return dhcpv4.WithGatewayIP(net.ParseIP(a)) }
	for _, tc := range []struct {
		name       string
		mac        string
		mt         dhcpv4.MessageType
		mods       []dhcpv4.Modifier
		answered   string // the address offered, "" for none
		discovered string // the network a discovered record names, "" for none
		log        string // in the log line, "" for none
	}{
		{name: "pod-b node through its relay", mac: b01, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("10.203.0.1"), option82("swp7", "tor-b")}, answered: "10.203.0.11"},
		{name: "pod-b node renewing by unicast", mac: b01, mt: dhcpv4.MessageTypeRequest, mods: []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("10.203.0.11"))}, answered: "10.203.0.11"},
		{name: "prov node direct", mac: gpu01, mt: dhcpv4.MessageTypeDiscover, answered: "10.202.0.11"},
		{name: "spoofed giaddr", mac: b01, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("10.203.0.77")}, log: "giaddr 10.203.0.77 is a relay no network names"},
		{name: "spoofed giaddr, unknown MAC", mac: stray, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("192.0.2.1")}, log: "giaddr 192.0.2.1 is a relay no network names"},
		{name: "unknown MAC through a named relay", mac: stray, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("10.203.0.1")}, discovered: "pod-b"},
		{name: "prov node through pod-b's relay", mac: gpu01, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("10.203.0.1")}, log: `node gpu-01 boots from network "prov" but asked on network "pod-b" (through relay 10.203.0.1)`},
		{name: "pod-b node broadcasting on prov", mac: b01, mt: dhcpv4.MessageTypeDiscover, log: `node b-01 boots from network "pod-b" but asked on network "prov"`},
		{name: "relay of a network another serve answers", mac: b01, mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{gi("10.204.0.1")}, log: `giaddr 10.204.0.1 relays network "pod-c", whose server is 10.202.0.3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, log := newRelayHandler(t)
			resp := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, tc.mac, tc.mt, with(pxe(iana.INTEL_X86PC), tc.mods...)...)})
			got := ""
			if resp != nil {
				got = resp.YourIPAddr.String()
			}
			if got != tc.answered {
				t.Fatalf("offered %q, want %q (%v)", got, tc.answered, resp)
			}
			if tc.answered == "" && len(h.Events.Recent("")) > 0 && tc.discovered == "" {
				t.Errorf("unanswered request recorded events: %+v", h.Events.Recent(""))
			}
			var disc string
			if l := h.Discovered.List(); len(l) > 0 {
				disc = l[0].Network
			}
			if disc != tc.discovered {
				t.Errorf("discovered on %q, want %q", disc, tc.discovered)
			}
			if logged := strings.ReplaceAll(log.String(), `\"`, `"`); tc.log == "" && log.Len() > 0 || !strings.Contains(logged, tc.log) {
				t.Errorf("log %q, want %q", log.String(), tc.log)
			}
		})
	}
}

// A relayed answer goes back to the relay, carries serve's address as server, echoes
// option 82 (RFC 3046), and the node's events record the relay and its ids.
func TestRelayedAnswerAndOption82Event(t *testing.T) {
	t.Parallel()
	h, _ := newRelayHandler(t)
	m := packet(t, "52:54:00:03:00:01", dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP("10.203.0.1")), option82("swp7", "tor-b"))...)
	resp := h.Reply(&Request{Port: PortDHCP, Msg: m})
	if resp == nil {
		t.Fatal("not answered")
	}
	if !resp.ServerIdentifier().Equal(net.ParseIP("10.202.0.2")) || !resp.GatewayIPAddr.Equal(net.ParseIP("10.203.0.1")) || resp.RelayAgentInfo() == nil {
		t.Errorf("server id %v, giaddr %v, option 82 %v", resp.ServerIdentifier(), resp.GatewayIPAddr, resp.RelayAgentInfo())
	}
	if dst := Destination(m, resp, &net.UDPAddr{IP: net.ParseIP("10.202.0.254"), Port: 67}, PortDHCP); dst.String() != "10.203.0.1:67" {
		t.Errorf("answer sent to %s, want the relay 10.203.0.1:67", dst)
	}
	var relay []events.Event
	for _, e := range h.Events.Recent("b-01") {
		if e.Kind == events.DHCPRelay {
			relay = append(relay, e)
		}
	}
	if len(relay) != 1 || relay[0].Detail != `relay 10.203.0.1 circuit-id "swp7" remote-id "tor-b"` || relay[0].Err != "" {
		t.Errorf("relay events %+v", relay)
	}
}

type cabling map[string]Port

func (c cabling) PXEPort(node string) (Port, bool) { p, ok := c[node]; return p, ok }

// Where the inventory cables the node, option 82 is compared with it: a mismatch is the
// relay event's error (and a log line); the node is still answered (its MAC is known).
func TestOption82ComparedWithCabling(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, circuit, remote string
		want                  string // in the event's error, "" for none
	}{
		{name: "same port", circuit: "swp7", remote: "tor-b"},
		{name: "port:vlan and case", circuit: "SWP7:100", remote: "TOR-B"},
		{name: "other port", circuit: "swp8", remote: "tor-b", want: `reports circuit-id "swp8", not port "swp7"`},
		{name: "port with a longer name", circuit: "swp70", remote: "tor-b", want: `circuit-id "swp70", not port "swp7"`},
		{name: "other switch", circuit: "swp7", remote: "tor-a", want: `remote-id "tor-a", not switch "tor-b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, log := newRelayHandler(t)
			h.Cabling = cabling{"b-01": {Switch: "tor-b", Port: "swp7"}}
			m := packet(t, "52:54:00:03:00:01", dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP("10.203.0.1")), option82(tc.circuit, tc.remote))...)
			if h.Reply(&Request{Port: PortDHCP, Msg: m}) == nil {
				t.Fatal("not answered")
			}
			var got string
			for _, e := range h.Events.Recent("b-01") {
				if e.Kind == events.DHCPRelay {
					got = e.Err
				}
			}
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) || tc.want != "" && !strings.Contains(log.String(), "option 82 disagrees") {
				t.Errorf("event error %q, want %q; log %q", got, tc.want, log.String())
			}
		})
	}
}

// Option 82 comes from the network: binary ids become hex, long ones are capped,
// terminal control bytes never pass.
func TestAgentIDSanitized(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{name: "text", in: []byte("Ethernet1/7"), want: "Ethernet1/7"},
		{name: "cisco binary", in: []byte{0, 4, 0, 100, 1, 7}, want: "0x000400640107"},
		{name: "escape sequence", in: []byte("\x1b[31mred"), want: "0x1b5b33316d726564"},
		{name: "long", in: bytes.Repeat([]byte("a"), 255), want: strings.Repeat("a", agentIDMax) + "…"},
		{name: "empty", in: nil, want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := agentID(tc.in); got != tc.want {
				t.Errorf("agentID = %q, want %q", got, tc.want)
			}
		})
	}
}

// A client retrying through its relay is answered every time but recorded once: the
// relay event and the offer each coalesce.
func TestRelayedRetriesCoalesced(t *testing.T) {
	t.Parallel()
	h, _ := newRelayHandler(t)
	for range 100 {
		m := packet(t, "52:54:00:03:00:01", dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP("10.203.0.1")), option82("swp7", "tor-b"))...)
		if h.Reply(&Request{Port: PortDHCP, Msg: m}) == nil {
			t.Fatal("not answered")
		}
	}
	kinds := map[events.Kind]int{}
	for _, e := range h.Events.Recent("b-01") {
		kinds[e.Kind]++
	}
	if kinds[events.DHCPRelay] != 1 || kinds[events.DHCPOffer] != 1 {
		t.Errorf("100 identical relayed DISCOVERs recorded %v, want one relay event and one offer", kinds)
	}
}

// FuzzRelayed: whatever a packet says in giaddr, ciaddr and option 82, an answer goes
// only to a node on the network the request came from (a relay the inventory names for
// it, or serve's own segment), and the relay event stays bounded and printable.
func FuzzRelayed(f *testing.F) {
	for _, mac := range []string{"52:54:00:03:00:01", "52:54:00:02:00:01", "52:54:00:99:99:99"} {
		for _, gi := range []string{"0.0.0.0", "10.203.0.1", "10.203.0.77", "10.204.0.1", "10.202.0.1"} {
			f.Add(packet(f, mac, dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP(gi)), option82("Ethernet1/7", "tor-b"))...).ToBytes())
		}
	}
	f.Add(packet(f, "52:54:00:03:00:01", dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP("10.203.0.1")), option82("\x1b[2J\x00", string(bytes.Repeat([]byte{0xff}, 200))))...).ToBytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		h, _ := newRelayHandler(t)
		resp := h.Reply(&Request{Msg: m, Port: PortDHCP})
		for _, e := range h.Events.Recent("") {
			if e.Kind == events.DHCPRelay && (len(e.Detail) > 2*(2*agentIDMax+8)+64 || strings.ContainsAny(e.Detail, "\x1b\x00\r\n")) {
				t.Fatalf("relay event detail unbounded or unsafe: %q", e.Detail)
			}
		}
		if resp == nil {
			return
		}
		np := h.Nodes.ByMAC(m.ClientHWAddr)
		if np == nil {
			t.Fatalf("answered unknown MAC %s", m.ClientHWAddr)
		}
		gi := addr4(m.GatewayIPAddr)
		switch {
		case gi.IsValid():
			nw := h.Networks.ByRelay(gi)
			if nw == nil || nw.Network != np.Reservation.Network || nw.Server != h.ServerIP {
				t.Fatalf("answered %s (network %s) through giaddr %s, which relays %+v", np.Node, np.Reservation.Network, gi, nw)
			}
		case addr4(m.ClientIPAddr).IsValid():
			if addr4(m.ClientIPAddr) != np.Reservation.IP {
				t.Fatalf("answered %s at ciaddr %s, reservation %s", np.Node, m.ClientIPAddr, np.Reservation.IP)
			}
		case np.Reservation.Network != h.Network:
			t.Fatalf("answered %s (network %s) by broadcast on %s", np.Node, np.Reservation.Network, h.Network)
		}
	})
}
