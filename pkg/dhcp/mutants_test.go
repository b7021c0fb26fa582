package dhcp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/plan"
)

// Tests for the mutants `make mutate` found alive in pkg/dhcp (issue 20); each was put
// back by hand and the test named in its comment failed.

// TestArchFromVendorClass: option 60's architecture field, PXEClient:Arch:NNNNN:...;
// a field without a number, or no field, is no architecture (and never a panic).
func TestArchFromVendorClass(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vc   string
		arch iana.Arch
		ok   bool
	}{
		{vc: "PXEClient:Arch:00007:UNDI:003016", arch: iana.EFI_X86_64, ok: true},
		{vc: "PXEClient:Arch:00000:UNDI:002001", arch: iana.INTEL_X86PC, ok: true},
		{vc: "PXEClient:Arch:00011", arch: iana.EFI_ARM64, ok: true},
		{vc: "HTTPClient:Arch:00016:UNDI:003001", arch: iana.Arch(16), ok: true},
		{vc: "PXEClient:Arch", ok: false},
		{vc: "PXEClient:Arch:x7:UNDI:003016", ok: false},
		{vc: "PXEClient:Arch:99999", ok: false}, // over 16 bits
		{vc: "PXEClient:UNDI:003016", ok: false},
		{vc: "", ok: false},
	} {
		arch, ok := archFromVendorClass(tc.vc)
		if arch != tc.arch || ok != tc.ok {
			t.Errorf("archFromVendorClass(%q) = %d, %v; want %d, %v", tc.vc, arch, ok, tc.arch, tc.ok)
		}
	}
}

// TestClientString: the description names what the client sent, and says when it sent
// no PXE options at all.
func TestClientString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		c    Client
		want []string
		not  []string
	}{
		{c: Client{}, want: []string{"no PXE options"}},
		{c: Client{Arch: iana.INTEL_X86PC, HasArch: true}, want: []string{"arch 0"}, not: []string{"vendor class", "iPXE", "no PXE options"}},
		{c: Client{VendorClass: "PXEClient:Arch:00007"}, want: []string{`vendor class "PXEClient:Arch:00007"`}, not: []string{"arch ", "no PXE options"}},
		{c: Client{IPXE: true}, want: []string{"iPXE"}, not: []string{"vendor class", "no PXE options"}},
	} {
		s := tc.c.String()
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%+v.String() = %q, lacks %q", tc.c, s, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(s, w) {
				t.Errorf("%+v.String() = %q, has %q", tc.c, s, w)
			}
		}
	}
}

// TestRateLogSuppresses: within logEvery a reason logs once; the next line after the
// window says how many were held back, and a line with none held back says nothing.
func TestRateLogSuppresses(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var r rateLog
	for range 4 {
		r.warn(log, "forged", "forged packet", "mac", "52:54:00:00:00:01")
	}
	r.warn(log, "other", "other reason")
	if got := strings.Count(buf.String(), "forged packet"); got != 1 || strings.Contains(buf.String(), "suppressed") {
		t.Fatalf("4 warnings within the window logged:\n%s\nwant one line, no count yet", buf.String())
	}
	r.mu.Lock()
	r.last["forged"] = time.Now().Add(-logEvery - time.Second) // the window has passed
	r.mu.Unlock()
	buf.Reset()
	r.warn(log, "forged", "forged packet")
	if !strings.Contains(buf.String(), "suppressed=3") {
		t.Errorf("after the window: %q, want suppressed=3", buf.String())
	}
	r.mu.Lock()
	r.last["forged"] = time.Now().Add(-logEvery - time.Second)
	r.mu.Unlock()
	buf.Reset()
	r.warn(log, "forged", "forged packet")
	if !strings.Contains(buf.String(), "forged packet") || strings.Contains(buf.String(), "suppressed") {
		t.Errorf("after a quiet window: %q, want the line without a count", buf.String())
	}
	r.warn(nil, "forged", "no logger: nothing, no panic")
}

// TestCoalescerWindowAndBound: a repeat is dropped only strictly within coalesceEvery,
// and the memory holds at most coalesceMax MACs before it starts over.
func TestCoalescerWindowAndBound(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(mac string) events.Event {
		return events.Event{Kind: "dhcp.offer", MAC: mac, IP: "10.0.0.5", Detail: "uefi-x64"}
	}
	var c coalescer
	if c.repeat(ev("m0"), t0) {
		t.Fatal("first event dropped")
	}
	if !c.repeat(ev("m0"), t0.Add(coalesceEvery-time.Millisecond)) {
		t.Error("a repeat within the window was kept")
	}
	if c.repeat(ev("m0"), t0.Add(coalesceEvery)) {
		t.Error("a repeat exactly coalesceEvery after the kept event was dropped")
	}
	var b coalescer
	b.repeat(ev("m0"), t0)
	for i := 1; i < coalesceMax; i++ {
		b.repeat(ev(fmt.Sprintf("m%d", i)), t0)
	}
	// coalesceMax MACs remembered: the next event starts a fresh memory, so m0's
	// repeat is kept (a flood of random MACs costs at most one map).
	if b.repeat(ev("m0"), t0.Add(time.Second)) {
		t.Errorf("with %d MACs remembered, a repeat was still dropped: the memory is unbounded", coalesceMax)
	}
}

// TestDiscoveredWritesAndBound: a new MAC is written at once, repeats at most every 10 s;
// at maxDiscovered MACs a new one is not recorded.
func TestDiscoveredWritesAndBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := OpenDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0, 0, byte(i >> 8), byte(i)} }
	onDisk := func() int {
		t.Helper()
		recs, err := LoadDiscovered(dir)
		if err != nil || len(recs) != 1 {
			t.Fatalf("discovered.json: %d records, %v", len(recs), err)
		}
		return recs[0].Count
	}
	c := Client{Arch: iana.EFI_X86_64, HasArch: true, PXE: true}
	d.Record(mac(0), c, "eno1", "prov")
	if n := onDisk(); n != 1 {
		t.Fatalf("new MAC: count %d on disk, want 1 (written at once)", n)
	}
	d.mu.Lock()
	d.written = time.Now().Add(-time.Second) // a second ago (9 s of margin on a loaded machine)
	d.mu.Unlock()
	r := d.Record(mac(0), c, "eno1", "prov")
	if n := onDisk(); n != 1 || r.Count != 2 {
		t.Errorf("repeat within 10 s: %d on disk, %d in memory; want 1 (not written), 2", n, r.Count)
	}
	d.mu.Lock()
	d.written = time.Now().Add(-11 * time.Second)
	d.mu.Unlock()
	d.Record(mac(0), c, "eno1", "prov")
	if n := onDisk(); n != 3 {
		t.Errorf("repeat 11 s after the last write: %d on disk, want 3", n)
	}

	m, _ := OpenDiscovered("")
	for i := range maxDiscovered {
		if m.Record(mac(i), c, "eno1", "prov") == nil {
			t.Fatalf("record %d of %d refused", i, maxDiscovered)
		}
	}
	if r := m.Record(mac(maxDiscovered), c, "eno1", "prov"); r != nil || len(m.List()) != maxDiscovered {
		t.Errorf("MAC %d recorded (%v, %d kept): want none past maxDiscovered", maxDiscovered+1, r, len(m.List()))
	}
	if r := m.Record(mac(0), c, "eno1", "prov"); r == nil || r.Count != 2 {
		t.Errorf("a known MAC at the bound: %+v, want counted", r)
	}
}

// TestStanzasAndDashes: every record gets a stanza; an empty interface or network reads
// "-" in the table and stanza, never an empty column.
func TestStanzasAndDashes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []*Record{
		{MAC: "52:54:00:00:00:01", Client: "arch 7", Interface: "eno1", Network: "prov", FirstSeen: t0, LastSeen: t0, Count: 1},
		{MAC: "52:54:00:00:00:02", Client: "arch 0", FirstSeen: t0, LastSeen: t0, Count: 2},
	}
	var b bytes.Buffer
	if err := WriteStanzas(&b, recs); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`mac: "52:54:00:00:00:01"`, `mac: "52:54:00:00:00:02"`, "via eno1", "via -;", "network: provisioning"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("stanzas lack %q:\n%s", w, b.String())
		}
	}
	b.Reset()
	if err := WriteDiscovered(&b, recs, "/var/lib/racklift"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "52:54:00:00:00:02  arch 0  -") {
		t.Errorf("empty interface not shown as -:\n%s", b.String())
	}
}

// mutantPlan is one node on network prov; change it per case.
func mutantPlan(mod func(r *plan.Reservation)) *plan.Plan {
	hw, _ := net.ParseMAC("52:54:00:02:00:01")
	np := &plan.NodePlan{Node: "gpu-01", Rack: "r1", Role: "compute",
		Reservation: plan.Reservation{Mode: ModeReservation, Network: "prov", Interface: "eno1", MAC: hw, MACString: "52:54:00:02:00:01",
			IP: netip.MustParseAddr("10.202.0.11"), Prefix: netip.MustParsePrefix("10.202.0.0/24"), Hostname: "gpu-01",
			Server: netip.MustParseAddr("10.202.0.2"), LeaseSeconds: 3600},
		Boot: plan.Boot{BIOSFile: plan.FileBIOS, UEFIFile: plan.FileUEFI, ARM64File: plan.FileARM64UEFI,
			HTTPBootURL: "http://10.202.0.2:8080/pxe/ipxe.efi", ScriptURL: "http://10.202.0.2:8080/ipxe/52:54:00:02:00:01"}}
	mod(&np.Reservation)
	return &plan.Plan{Site: "t", Nodes: []*plan.NodePlan{np}}
}

// TestExportDnsmasqLeaseAndMTU: no lease is 12 h; the MTU option only for a set MTU
// other than Ethernet's 1500.
func TestExportDnsmasqLeaseAndMTU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mod  func(r *plan.Reservation)
		want []string
		not  []string
	}{
		{name: "no lease", mod: func(r *plan.Reservation) { r.LeaseSeconds = 0 }, want: []string{",43200s\n"}},
		{name: "lease 1h", mod: func(r *plan.Reservation) { r.LeaseSeconds = 3600 }, want: []string{",3600s\n"}},
		{name: "no MTU", mod: func(r *plan.Reservation) { r.MTU = 0 }, not: []string{"option:mtu"}},
		{name: "MTU 1500", mod: func(r *plan.Reservation) { r.MTU = 1500 }, not: []string{"option:mtu"}},
		{name: "MTU 1", mod: func(r *plan.Reservation) { r.MTU = 1 }, want: []string{"option:mtu,1\n"}},
		{name: "no domain, no DNS, no gateway", mod: func(r *plan.Reservation) {}, not: []string{"option:domain-name", "option:dns-server", "option:router"}},
	} {
		var b bytes.Buffer
		if err := ExportDnsmasq(&b, mutantPlan(tc.mod), DnsmasqOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: export lacks %q:\n%s", tc.name, w, b.String())
			}
		}
		for _, w := range tc.not {
			if strings.Contains(b.String(), w) {
				t.Errorf("%s: export has %q:\n%s", tc.name, w, b.String())
			}
		}
	}
}

// TestSanitizeKeepsOnlyItsSet: a tag keeps exactly [A-Za-z0-9_-], a host name exactly
// [A-Za-z0-9-]; every other ASCII character is replaced (dnsmasq reads ',' '#' ' '...).
func TestSanitizeKeepsOnlyItsSet(t *testing.T) {
	t.Parallel()
	alnum := func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' }
	for r := rune(0); r < 0x80; r++ {
		wantTag, wantHost := '_', '-'
		if alnum(r) || r == '-' || r == '_' {
			wantTag = r
		}
		if alnum(r) || r == '-' {
			wantHost = r
		}
		if got := sanitize(string(r)); got != string(wantTag) {
			t.Errorf("sanitize(%q) = %q, want %q", r, got, wantTag)
		}
		if got := sanitizeHost(string(r), "fallback"); got != string(wantHost) {
			t.Errorf("sanitizeHost(%q) = %q, want %q", r, got, wantHost)
		}
	}
	if got := sanitizeHost("", "gpu-01"); got != "gpu-01" {
		t.Errorf("sanitizeHost without a host name = %q, want the node's name", got)
	}
}

// reply runs one plugin on a fresh reply to a request of type mt from mutantPlan's node.
func reply(t *testing.T, p Plugin, c Client, mod func(r *plan.Reservation), mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	t.Helper()
	np := mutantPlan(mod).Nodes[0]
	msg, err := dhcpv4.New(dhcpv4.WithHwAddr(np.Reservation.MAC), dhcpv4.WithMessageType(mt))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dhcpv4.NewReplyFromRequest(msg, dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer))
	if err != nil {
		t.Fatal(err)
	}
	if !p(&Request{Msg: msg, Port: PortDHCP, Node: np, Client: c}, resp) {
		t.Fatalf("plugin dropped the request")
	}
	return resp
}

// TestLeaseOptionsOnlyWhenSet: the reply's lease time defaults to 12 h, and DNS and MTU
// options go out only when the reservation has them (MTU: other than 1500). An empty DNS
// option or MTU 0 would confuse the client's stack.
func TestLeaseOptionsOnlyWhenSet(t *testing.T) {
	t.Parallel()
	none := func(r *plan.Reservation) { r.LeaseSeconds, r.DNS, r.MTU = 0, nil, 0 }
	resp := reply(t, lease, Client{}, none, dhcpv4.MessageTypeDiscover)
	if got := resp.IPAddressLeaseTime(0); got != 12*time.Hour {
		t.Errorf("lease time without one set = %v, want 12h", got)
	}
	if resp.Options.Has(dhcpv4.OptionDomainNameServer) || resp.Options.Has(dhcpv4.OptionInterfaceMTU) {
		t.Errorf("reply without DNS or MTU carries options %v", resp.Options)
	}
	set := func(r *plan.Reservation) {
		r.DNS, r.MTU = []netip.Addr{netip.MustParseAddr("10.202.0.53")}, 9000
	}
	resp = reply(t, lease, Client{}, set, dhcpv4.MessageTypeDiscover)
	if dns := resp.DNS(); len(dns) != 1 || !dns[0].Equal(net.IPv4(10, 202, 0, 53)) {
		t.Errorf("DNS = %v, want 10.202.0.53", dns)
	}
	if v := resp.Options.Get(dhcpv4.OptionInterfaceMTU); !bytes.Equal(v, []byte{0x23, 0x28}) {
		t.Errorf("MTU option = %x, want 2328 (9000)", v)
	}
}

// TestBootFileNamesTheTFTPServer: a PXE ROM's reply names the TFTP server in siaddr and
// option 66; with no server address known there is neither.
func TestBootFileNamesTheTFTPServer(t *testing.T) {
	t.Parallel()
	bios := Client{PXE: true, HasArch: true, Arch: iana.INTEL_X86PC}
	resp := reply(t, bootFile, bios, func(*plan.Reservation) {}, dhcpv4.MessageTypeDiscover)
	if resp.BootFileName != plan.FileBIOS || resp.TFTPServerName() != "10.202.0.2" || !resp.ServerIPAddr.Equal(net.IPv4(10, 202, 0, 2)) {
		t.Errorf("BIOS reply: file %q, option 66 %q, siaddr %v; want %s from 10.202.0.2", resp.BootFileName, resp.TFTPServerName(), resp.ServerIPAddr, plan.FileBIOS)
	}
	resp = reply(t, bootFile, bios, func(r *plan.Reservation) { r.Server = netip.Addr{} }, dhcpv4.MessageTypeDiscover)
	if resp.Options.Has(dhcpv4.OptionTFTPServerName) {
		t.Errorf("no server known, yet option 66 = %q", resp.TFTPServerName())
	}
}

// TestPublishedErrOnlyForNak: the event of a NAK carries the NAK's message; an offer's
// event carries no error.
func TestPublishedErrOnlyForNak(t *testing.T) {
	t.Parallel()
	h := &Handler{Events: events.New(nil, nil)}
	np := mutantPlan(func(*plan.Reservation) {}).Nodes[0]
	msg, _ := dhcpv4.New(dhcpv4.WithHwAddr(np.Reservation.MAC), dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest))
	for _, tc := range []struct {
		mt      dhcpv4.MessageType
		message string
		wantErr string
	}{
		{mt: dhcpv4.MessageTypeOffer, message: "", wantErr: ""},
		{mt: dhcpv4.MessageTypeAck, message: "hello", wantErr: ""},
		{mt: dhcpv4.MessageTypeNak, message: "requested address not reserved for this MAC", wantErr: "requested address not reserved for this MAC"},
	} {
		resp, _ := dhcpv4.NewReplyFromRequest(msg, dhcpv4.WithMessageType(tc.mt))
		if tc.message != "" {
			resp.UpdateOption(dhcpv4.OptMessage(tc.message))
		}
		h.publish(&Request{Msg: msg, Node: np}, resp)
		evs := h.Events.Recent(np.Node)
		if len(evs) == 0 {
			t.Fatalf("%s: no event", tc.mt)
		}
		if e := evs[len(evs)-1]; e.Err != tc.wantErr {
			t.Errorf("%s event Err = %q, want %q", tc.mt, e.Err, tc.wantErr)
		}
	}
}

// TestDiscoveredListOldestFirst: provision discovered lists the oldest MAC first, ties by
// MAC. Mutant (make mutate): the FirstSeen comparison negated.
func TestDiscoveredListOldestFirst(t *testing.T) {
	t.Parallel()
	d, _ := OpenDiscovered("")
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, seen := range []time.Duration{2 * time.Minute, 0, time.Minute, 0} {
		mac := net.HardwareAddr{0x52, 0x54, 0, 0, 0, byte(9 - i)}
		d.Record(mac, Client{}, "eno1", "prov")
		d.mu.Lock()
		d.byMAC[mac.String()].FirstSeen = t0.Add(seen)
		d.mu.Unlock()
	}
	var got []string
	for _, r := range d.List() {
		got = append(got, r.MAC)
	}
	want := []string{"52:54:00:00:00:06", "52:54:00:00:00:08", "52:54:00:00:00:07", "52:54:00:00:00:09"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("List = %v, want %v (oldest first, ties by MAC)", got, want)
	}
}
