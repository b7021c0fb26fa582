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
)

// Issue 14 item 5: a forged giaddr or ciaddr would make serve send its answer wherever
// the packet says (a reflector) and record an event per packet. Only configured relays on
// the node's network and the node's own reserved address are answered.
func TestSpoofedRelayAndClientAddressDropped(t *testing.T) {
	t.Parallel()
	const mac = "52:54:00:02:00:01" // gpu-01, reservation 10.202.0.11 on 10.202.0.0/24
	for _, tc := range []struct {
		name     string
		mt       dhcpv4.MessageType
		mods     []dhcpv4.Modifier
		port     int
		answered bool
	}{
		{name: "no relay", mt: dhcpv4.MessageTypeDiscover, answered: true},
		{name: "configured relay", mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{dhcpv4.WithGatewayIP(net.ParseIP("10.202.0.1"))}, answered: true},
		{name: "giaddr not a relay", mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{dhcpv4.WithGatewayIP(net.ParseIP("10.202.0.77"))}},
		{name: "relay of another network", mt: dhcpv4.MessageTypeDiscover, mods: []dhcpv4.Modifier{dhcpv4.WithGatewayIP(net.ParseIP("10.99.0.1"))}},
		{name: "inform from its own address", mt: dhcpv4.MessageTypeInform, mods: []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("10.202.0.11"))}, answered: true},
		{name: "inform with a foreign ciaddr", mt: dhcpv4.MessageTypeInform, mods: []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("192.0.2.7"))}},
		{name: "renewal with a foreign ciaddr", mt: dhcpv4.MessageTypeRequest, mods: []dhcpv4.Modifier{dhcpv4.WithClientIP(net.ParseIP("10.202.0.99"))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, _ := newHandler(t)
			h.Relays = []netip.Addr{netip.MustParseAddr("10.202.0.1"), netip.MustParseAddr("10.99.0.1")}
			port := tc.port
			if port == 0 {
				port = PortDHCP
			}
			resp := h.Reply(&Request{Port: port, Msg: packet(t, mac, tc.mt, with(pxe(iana.INTEL_X86PC), tc.mods...)...)})
			if (resp != nil) != tc.answered {
				t.Fatalf("answered = %v, want %v (%v)", resp != nil, tc.answered, resp)
			}
			if n := len(h.Events.Recent("")); (n > 0) != tc.answered {
				t.Errorf("%d events recorded, want some only when answered", n)
			}
		})
	}
}

// 1000 forged DISCOVERs: no answer, no event, one log line; 1000 identical genuine ones:
// answered every time, recorded once.
func TestFloodsCoalescedAndRateLimited(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	var logBuf bytes.Buffer
	h.Log = slog.New(slog.NewTextHandler(&logBuf, nil))
	for range 1000 {
		m := packet(t, "52:54:00:02:00:01", dhcpv4.MessageTypeDiscover, with(pxe(iana.INTEL_X86PC), dhcpv4.WithGatewayIP(net.ParseIP("10.202.0.77")))...)
		if h.Reply(&Request{Port: PortDHCP, Msg: m}) != nil {
			t.Fatal("forged giaddr answered")
		}
	}
	if n := len(h.Events.Recent("")); n != 0 {
		t.Errorf("1000 forged DISCOVERs recorded %d events", n)
	}
	if n := strings.Count(logBuf.String(), "request dropped"); n != 1 {
		t.Errorf("1000 forged DISCOVERs logged %d lines, want 1:\n%s", n, logBuf.String())
	}
	for range 1000 {
		m := packet(t, "52:54:00:02:00:01", dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC)...)
		if h.Reply(&Request{Port: PortDHCP, Msg: m}) == nil {
			t.Fatal("genuine DISCOVER not answered")
		}
	}
	if n := len(h.Events.Recent("")); n != 1 {
		t.Errorf("1000 identical DISCOVERs recorded %d events, want 1", n)
	}
}
