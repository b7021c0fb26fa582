package inventory

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// relayedNet is a second provisioning network behind a relay at 10.2.0.1 forwarding to
// serve's address on prov (10.1.0.1); n3 boots from it.
const relayedNet = "  - {name: pod-b, cidr: 10.2.0.0/24, gateway: 10.2.0.1, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays: [10.2.0.1]}}\n"

// relayedSite is single with pod-b added and n3 moved onto it.
func relayedSite(t *testing.T) string {
	t.Helper()
	prov := "  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}\n"
	n3 := `network: prov, address: 10.1.0.13`
	if !strings.Contains(single, prov) || !strings.Contains(single, n3) {
		t.Fatal("test bug: the base site changed")
	}
	s := strings.Replace(single, prov, prov+relayedNet, 1)
	return strings.Replace(s, n3, `network: pod-b, address: 10.2.0.13`, 1)
}

func TestRelayedNetworkLoads(t *testing.T) {
	t.Parallel()
	inv, err := Load(writeFile(t, t.TempDir(), "site.yaml", relayedSite(t)))
	if err != nil {
		t.Fatal(err)
	}
	b, prov := inv.Network("pod-b"), inv.Network("prov")
	if !b.Relayed() || prov.Relayed() {
		t.Errorf("Relayed: pod-b %v, prov %v", b.Relayed(), prov.Relayed())
	}
	if got := b.RelayAddrs(); !slices.Equal(got, []netip.Addr{netip.MustParseAddr("10.2.0.1")}) {
		t.Errorf("RelayAddrs = %v", got)
	}
}

// TestRelayRules breaks the relayed site one way at a time: one error, on the changed
// line, with a hint.
func TestRelayRules(t *testing.T) {
	t.Parallel()
	base := relayedSite(t)
	for _, tc := range []struct {
		name, old, new, want, at string
	}{
		{name: "server inside the relayed network", old: "server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays",
			new: "server: 10.2.0.2, role: provisioning, dhcp: {mode: reservation, relays", want: `server 10.2.0.2 of network "pod-b" is inside the network, but the network is relayed`, at: "10.2.0.2, role"},
		{name: "server in a direct network but not its server", old: "server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays",
			new: "server: 10.1.0.9, role: provisioning, dhcp: {mode: reservation, relays", want: `server 10.1.0.9 of relayed network "pod-b" lies in network "prov" (10.1.0.0/24), which has server 10.1.0.1`, at: "10.1.0.9"},
		{name: "relay outside the network", old: "relays: [10.2.0.1]", new: "relays: [10.3.0.1]", want: `DHCP relay 10.3.0.1 is outside network "pod-b"`, at: "10.3.0.1"},
		{name: "relay not an address", old: "relays: [10.2.0.1]", new: "relays: [tor-b]", want: `DHCP relay of network "pod-b": "tor-b" is not an IP address`, at: "tor-b"},
		{name: "relay named twice", old: "relays: [10.2.0.1]", new: "relays: [10.2.0.1, 10.2.0.1]", want: `DHCP relay 10.2.0.1 of network "pod-b" is already named at`, at: "10.2.0.1]"},
		{name: "relay is the network address", old: "relays: [10.2.0.1]", new: "relays: [10.2.0.0]", want: `DHCP relay 10.2.0.0 is the network address of "pod-b"`, at: "10.2.0.0]"},
		{name: "relays with mode off", old: "dhcp: {mode: reservation, relays", new: "dhcp: {mode: off, relays", want: `network "pod-b" names DHCP relays but its DHCP mode is off`, at: "off, relays"},
		{name: "relays on a storage network", old: "role: provisioning, dhcp: {mode: reservation, relays", new: "role: storage, dhcp: {mode: reservation, relays",
			want: `network "pod-b" (role storage) names DHCP relays: only a provisioning network is relayed`, at: "[10.2.0.1]"},
		{name: "relay of another network", old: "dhcp: {mode: reservation}}\n", new: "dhcp: {mode: reservation, relays: [10.1.0.254]}}\n",
			want: `server 10.1.0.1 of network "prov" is inside the network, but the network is relayed`, at: "server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays: [10.1.0.254]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(base, tc.old) {
				t.Fatalf("test bug: %q not in the relayed site", tc.old)
			}
			body := strings.Replace(base, tc.old, tc.new, 1)
			idx := strings.Index(body, tc.at)
			if idx < 0 {
				t.Fatalf("test bug: %q not in the changed site", tc.at)
			}
			line := strings.Count(body[:idx], "\n") + 1
			path := writeFile(t, t.TempDir(), "site.yaml", body)
			errs := loadErrors(t, path)
			var hit *Error
			for i := range errs {
				if strings.Contains(errs[i].Msg, tc.want) {
					hit = errs[i]
				}
			}
			if hit == nil {
				t.Fatalf("no error %q in:\n%v", tc.want, errs)
			}
			if hit.Pos.Line != line || hit.Pos.File != path || hit.Hint == "" {
				t.Errorf("got %s: %s (hint %q), want line %d", hit.Pos.String(), hit.Msg, hit.Hint, line)
			}
		})
	}
}
