package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
)

// testPlan is written by hand: one node per mode on 10.202.0.0/24.
func testPlan() *plan.Plan {
	node := func(name, mac, ip, mode string) *plan.NodePlan {
		hw, _ := net.ParseMAC(mac)
		return &plan.NodePlan{
			Node: name, Rack: "r1", Role: "compute",
			Reservation: plan.Reservation{
				Mode: mode, Network: "prov", Interface: "eno1", MAC: hw, MACString: mac,
				IP: netip.MustParseAddr(ip), Prefix: netip.MustParsePrefix("10.202.0.0/24"),
				Gateway: netip.MustParseAddr("10.202.0.1"),
				DNS:     []netip.Addr{netip.MustParseAddr("10.202.0.53")},
				Domain:  "lab.example", MTU: 9000, Hostname: name, LeaseSeconds: 3600,
				Server: netip.MustParseAddr("10.202.0.2"),
			},
			Boot: plan.Boot{
				BIOSFile: plan.FileBIOS, UEFIFile: plan.FileUEFI, ARM64File: plan.FileARM64UEFI,
				HTTPBootURL: "http://10.202.0.2:8080/pxe/ipxe.efi",
				ScriptURL:   "http://10.202.0.2:8080/ipxe/" + mac,
			},
		}
	}
	return &plan.Plan{Site: "t", Nodes: []*plan.NodePlan{
		node("gpu-01", "52:54:00:02:00:01", "10.202.0.11", ModeReservation),
		node("gpu-02", "52:54:00:02:00:02", "10.202.0.12", ModeProxy),
		node("gpu-03", "52:54:00:02:00:03", "10.202.0.13", ModeOff),
	}}
}

type learned struct {
	mu sync.Mutex
	m  map[string]netip.Addr
}

func (l *learned) Learn(mac net.HardwareAddr, ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[mac.String()] = ip
}

func newHandler(t testing.TB) (*Handler, *learned) {
	l := &learned{m: map[string]netip.Addr{}}
	d, _ := OpenDiscovered("")
	return &Handler{
		Nodes: testPlan(), Events: events.New(nil, nil), Discovered: d,
		Learner: l, Network: "prov", ServerIP: netip.MustParseAddr("10.202.0.2"),
	}, l
}

// packet builds a client request.
func packet(t testing.TB, mac string, mt dhcpv4.MessageType, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(hw), dhcpv4.WithMessageType(mt)}, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pxe(arch iana.Arch) []dhcpv4.Modifier {
	return []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:0000" + string(rune('0'+arch%10)) + ":UNDI:002001")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
	}
}

func with(ms []dhcpv4.Modifier, more ...dhcpv4.Modifier) []dhcpv4.Modifier {
	return append(append([]dhcpv4.Modifier{}, ms...), more...)
}

func TestReservationBootFileByClient(t *testing.T) {
	t.Parallel()
	const mac = "52:54:00:02:00:01"
	ipxeUC := dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE"))
	opt175 := dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(175), []byte{0x13, 0x01, 0x01})
	for _, tc := range []struct {
		name     string
		mods     []dhcpv4.Modifier
		file     string
		vendor60 string
	}{
		{"BIOS arch 0", pxe(iana.INTEL_X86PC), "undionly.kpxe", ""},
		{"BIOS without option 93", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))}, "undionly.kpxe", ""},
		{"UEFI x64 arch 7", pxe(iana.EFI_X86_64), "ipxe.efi", ""},
		{"UEFI BC arch 9", pxe(iana.EFI_BC), "ipxe.efi", ""},
		{"UEFI arm64 arch 11", pxe(iana.EFI_ARM64), "arm64/ipxe.efi", ""},
		{"UEFI HTTP boot", []dhcpv4.Modifier{dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient:Arch:00016:UNDI:003001")), dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64_HTTP))}, "http://10.202.0.2:8080/pxe/ipxe.efi", "HTTPClient"},
		{"iPXE by user class", with(pxe(iana.INTEL_X86PC), ipxeUC), "http://10.202.0.2:8080/ipxe/" + mac, ""},
		{"iPXE by option 175", with(pxe(iana.EFI_X86_64), opt175), "http://10.202.0.2:8080/ipxe/" + mac, ""},
		{"OS client: address, no boot file", nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newHandler(t)
			resp := h.Reply(&Request{Msg: packet(t, mac, dhcpv4.MessageTypeDiscover, tc.mods...), Port: PortDHCP})
			if resp == nil {
				t.Fatal("no answer for a node in the plan")
			}
			if resp.MessageType() != dhcpv4.MessageTypeOffer {
				t.Fatalf("type %s, want OFFER", resp.MessageType())
			}
			if resp.BootFileName != tc.file {
				t.Errorf("boot file %q, want %q", resp.BootFileName, tc.file)
			}
			if got := resp.ClassIdentifier(); got != tc.vendor60 {
				t.Errorf("option 60 %q, want %q", got, tc.vendor60)
			}
			if tc.file != "" && !resp.ServerIPAddr.Equal(net.ParseIP("10.202.0.2")) {
				t.Errorf("siaddr %s, want 10.202.0.2", resp.ServerIPAddr)
			}
			checkLease(t, resp, "10.202.0.11")
		})
	}
}

func checkLease(t *testing.T, resp *dhcpv4.DHCPv4, ip string) {
	t.Helper()
	if !resp.YourIPAddr.Equal(net.ParseIP(ip)) {
		t.Errorf("yiaddr %s, want %s", resp.YourIPAddr, ip)
	}
	if m := resp.SubnetMask(); m == nil || net.IP(m).String() != "255.255.255.0" {
		t.Errorf("mask %v", m)
	}
	if r := resp.Router(); len(r) != 1 || !r[0].Equal(net.ParseIP("10.202.0.1")) {
		t.Errorf("router %v", r)
	}
	if d := resp.DNS(); len(d) != 1 || !d[0].Equal(net.ParseIP("10.202.0.53")) {
		t.Errorf("dns %v", d)
	}
	if resp.DomainName() != "lab.example" || resp.HostName() == "" {
		t.Errorf("domain %q host %q", resp.DomainName(), resp.HostName())
	}
	if mtu := resp.Options.Get(dhcpv4.OptionInterfaceMTU); len(mtu) != 2 || int(mtu[0])<<8|int(mtu[1]) != 9000 {
		t.Errorf("option 26 %v, want 9000", mtu)
	}
	if lt := resp.IPAddressLeaseTime(0); lt.Seconds() != 3600 {
		t.Errorf("lease %v", lt)
	}
	if sid := resp.ServerIdentifier(); !sid.Equal(net.ParseIP("10.202.0.2")) {
		t.Errorf("server id %v", sid)
	}
}

func TestReservationRequest(t *testing.T) {
	t.Parallel()
	const mac = "52:54:00:02:00:01"
	h, _ := newHandler(t)
	ok := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.202.0.11"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.202.0.2"))))})
	if ok == nil || ok.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("request for the reservation: %v, want ACK", ok)
	}
	checkLease(t, ok, "10.202.0.11")

	nak := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.202.0.99"))))})
	if nak == nil || nak.MessageType() != dhcpv4.MessageTypeNak || !nak.YourIPAddr.IsUnspecified() {
		t.Fatalf("request for another address: %v, want NAK", nak)
	}

	other := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeRequest,
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.202.0.11"))),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.202.0.250"))))})
	if other != nil {
		t.Fatalf("request naming another server answered: %v", other)
	}
	renew := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeRequest, dhcpv4.WithClientIP(net.ParseIP("10.202.0.11")))})
	if renew == nil || renew.MessageType() != dhcpv4.MessageTypeAck {
		t.Fatalf("renewal: %v, want ACK", renew)
	}
	kinds := []events.Kind{}
	for _, e := range h.Events.Recent("gpu-01") {
		kinds = append(kinds, e.Kind)
	}
	if want := []events.Kind{events.DHCPAck, events.DHCPNak, events.DHCPAck}; len(kinds) != 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("events %v, want %v", kinds, want)
	}
}

func TestUnknownMACIsNeverAnsweredButDiscovered(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	for _, port := range []int{PortDHCP, PortPXE} {
		for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest} {
			if r := h.Reply(&Request{Port: port, Interface: "br0", Msg: packet(t, "52:54:00:99:99:99", mt, pxe(iana.EFI_X86_64)...)}); r != nil {
				t.Fatalf("unknown MAC answered on %d: %v", port, r)
			}
		}
	}
	recs := h.Discovered.List()
	if len(recs) != 1 || recs[0].MAC != "52:54:00:99:99:99" || recs[0].Count != 4 || recs[0].Interface != "br0" || recs[0].Network != "prov" || recs[0].Arch == "" {
		t.Fatalf("discovered = %+v", recs)
	}
	if len(h.Events.Recent("")) != 4 {
		t.Fatalf("want 4 discovered events, got %+v", h.Events.Recent(""))
	}
}

func TestProxyMode(t *testing.T) {
	t.Parallel()
	const mac = "52:54:00:02:00:02"
	h, l := newHandler(t)
	offer := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC)...)})
	if offer == nil || offer.MessageType() != dhcpv4.MessageTypeOffer {
		t.Fatalf("proxy DISCOVER: %v, want OFFER", offer)
	}
	if !offer.YourIPAddr.IsUnspecified() || offer.SubnetMask() != nil || offer.Router() != nil {
		t.Errorf("proxy offer hands out an address: yiaddr %s mask %v", offer.YourIPAddr, offer.SubnetMask())
	}
	if offer.ClassIdentifier() != "PXEClient" || offer.BootFileName != "undionly.kpxe" {
		t.Errorf("proxy offer option 60 %q file %q", offer.ClassIdentifier(), offer.BootFileName)
	}
	if v := offer.Options.Get(dhcpv4.OptionVendorSpecificInformation); len(v) != 4 || v[0] != 6 || v[2] != 8 {
		t.Errorf("option 43 %v, want discovery control 8", v)
	}

	// The REQUEST to the site's server on 67 is not ours, but tells us the address.
	if r := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeRequest, with(pxe(iana.INTEL_X86PC),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.202.0.150"))))...)}); r != nil {
		t.Fatalf("proxy answered a REQUEST on 67: %v", r)
	}
	if got := l.m[mac]; got.String() != "10.202.0.150" {
		t.Errorf("learned %v, want 10.202.0.150", got)
	}
	ack := h.Reply(&Request{Port: PortPXE, Msg: packet(t, mac, dhcpv4.MessageTypeRequest, with(pxe(iana.INTEL_X86PC),
		dhcpv4.WithOption(dhcpv4.OptUserClass("iPXE")), dhcpv4.WithClientIP(net.ParseIP("10.202.0.150")))...)})
	if ack == nil || ack.MessageType() != dhcpv4.MessageTypeAck || ack.BootFileName != "http://10.202.0.2:8080/ipxe/"+mac || !ack.YourIPAddr.IsUnspecified() {
		t.Fatalf("proxy REQUEST on 4011: %v", ack)
	}
	if r := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, mac, dhcpv4.MessageTypeDiscover)}); r != nil {
		t.Fatalf("proxy answered a non-PXE client: %v", r)
	}
}

func TestOffModeNeverAnswers(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	if r := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, "52:54:00:02:00:03", dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC)...)}); r != nil {
		t.Fatalf("mode off answered: %v", r)
	}
	if len(h.Discovered.List()) != 0 {
		t.Fatal("a known MAC was recorded as discovered")
	}
}

func TestOtherNetworkNotAnswered(t *testing.T) {
	t.Parallel()
	h, _ := newHandler(t)
	h.Network = "other"
	if r := h.Reply(&Request{Port: PortDHCP, Msg: packet(t, "52:54:00:02:00:01", dhcpv4.MessageTypeDiscover, pxe(iana.INTEL_X86PC)...)}); r != nil {
		t.Fatalf("node of network prov answered on network other: %v", r)
	}
}

func TestDestination(t *testing.T) {
	t.Parallel()
	peer := &net.UDPAddr{IP: net.ParseIP("10.202.0.150"), Port: 4011}
	req := packet(t, "52:54:00:02:00:01", dhcpv4.MessageTypeDiscover)
	resp, _ := dhcpv4.NewReplyFromRequest(req)
	if d := Destination(req, resp, peer, PortDHCP).String(); d != "255.255.255.255:68" {
		t.Errorf("fresh client: %s", d)
	}
	if d := Destination(req, resp, peer, PortPXE).String(); d != peer.String() {
		t.Errorf("pxe port: %s", d)
	}
	req.ClientIPAddr = net.ParseIP("10.202.0.11")
	if d := Destination(req, resp, peer, PortDHCP).String(); d != "10.202.0.11:68" {
		t.Errorf("renewing client: %s", d)
	}
	req.GatewayIPAddr = net.ParseIP("10.202.1.1")
	if d := Destination(req, resp, peer, PortDHCP).String(); d != "10.202.1.1:67" {
		t.Errorf("relayed: %s", d)
	}
}

// FuzzReply: any packet; an answer only ever goes to a MAC in the plan, with its own
// address or none, of the type the request calls for; an INFORM is answered without an
// address or a lease.
func FuzzReply(f *testing.F) {
	for _, mac := range []string{"52:54:00:02:00:01", "52:54:00:02:00:02", "52:54:00:99:99:99"} {
		for _, mt := range []dhcpv4.MessageType{dhcpv4.MessageTypeDiscover, dhcpv4.MessageTypeRequest, dhcpv4.MessageTypeInform} {
			f.Add(packet(f, mac, mt, pxe(iana.EFI_X86_64)...).ToBytes(), uint16(67))
		}
	}
	h, _ := newHandler(f)
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		m, err := dhcpv4.FromBytes(b)
		if err != nil {
			return
		}
		p := PortDHCP
		if port%2 == 1 {
			p = PortPXE
		}
		resp := h.Reply(&Request{Msg: m, Port: p})
		if resp == nil {
			return
		}
		np := h.Nodes.ByMAC(m.ClientHWAddr)
		if np == nil {
			t.Fatalf("answered unknown MAC %s", m.ClientHWAddr)
		}
		if y := resp.YourIPAddr; !y.IsUnspecified() && !y.Equal(net.IP(np.Reservation.IP.AsSlice())) {
			t.Fatalf("gave %s to %s, reservation %s", y, np.Node, np.Reservation.IP)
		}
		if resp.TransactionID != m.TransactionID || !bytes.Equal(resp.ClientHWAddr, m.ClientHWAddr) {
			t.Fatalf("reply xid %s chaddr %s; request xid %s chaddr %s", resp.TransactionID, resp.ClientHWAddr, m.TransactionID, m.ClientHWAddr)
		}
		// The answer's type follows the request's (RFC 2131 4.3): DISCOVER gets an
		// OFFER, REQUEST an ACK or a NAK, INFORM an ACK; nothing else is answered.
		want := map[dhcpv4.MessageType][]dhcpv4.MessageType{
			dhcpv4.MessageTypeDiscover: {dhcpv4.MessageTypeOffer},
			dhcpv4.MessageTypeRequest:  {dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak},
			dhcpv4.MessageTypeInform:   {dhcpv4.MessageTypeAck},
		}[m.MessageType()]
		if !slices.Contains(want, resp.MessageType()) {
			t.Fatalf("answered %s with %s, want one of %v", m.MessageType(), resp.MessageType(), want)
		}
		// A DHCPINFORM client already has its address: the ACK carries configuration
		// only, no yiaddr and no lease time (RFC 2131 4.3.5).
		if m.MessageType() == dhcpv4.MessageTypeInform {
			if !resp.YourIPAddr.IsUnspecified() || resp.Options.Has(dhcpv4.OptionIPAddressLeaseTime) {
				t.Fatalf("INFORM from %s answered with yiaddr %s, lease time %v", np.Node, resp.YourIPAddr, resp.IPAddressLeaseTime(0))
			}
		}
		if resp.MessageType() == dhcpv4.MessageTypeNak && !resp.YourIPAddr.IsUnspecified() {
			t.Fatalf("NAK carries yiaddr %s", resp.YourIPAddr)
		}
		if _, err := dhcpv4.FromBytes(resp.ToBytes()); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
	})
}
