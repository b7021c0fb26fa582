package plan

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/inventory"
)

// relayedSite: prov served directly at 10.1.0.1; pod-b behind a relay at 10.2.0.1 that
// forwards to it; ext is a provisioning network another DHCP server answers.
const relayedSite = `site: relay
defaults: {profile: p, bmc: {credentials: c}}
credentials: [{name: c, username: admin}]
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, vlan: 100, dhcp: {mode: reservation}}
  - {name: pod-b, cidr: 10.2.0.0/24, gateway: 10.2.0.1, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays: [10.2.0.1, 10.2.0.2]}}
  - {name: ext, cidr: 10.3.0.0/24, role: provisioning}
  - {name: stor, cidr: 10.9.0.0/24, role: storage}
profiles: [{name: p, boot: {kernel: k}}]
racks:
  - rack: r1
    nodes:
      - {name: a1, unit: 1, bmc: {address: 10.8.0.1}, interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}]}
      - {name: b1, unit: 2, bmc: {address: 10.8.0.2}, interfaces: [{name: e0, mac: "02:00:00:00:00:02", network: pod-b, address: 10.2.0.11, pxe: true}]}
      - {name: b2, unit: 3, bmc: {address: 10.8.0.3}, interfaces: [{name: e0, mac: "02:00:00:00:00:03", network: pod-b, address: 10.2.0.12, pxe: true}]}
`

func buildRelayed(t *testing.T) *Plan {
	t.Helper()
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(relayedSite), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRelayedNetworkPlan(t *testing.T) {
	t.Parallel()
	p := buildRelayed(t)
	if len(p.Host) != 1 || p.Host[0].Network != "prov" {
		t.Errorf("host interfaces %+v: serve is on prov only, not on the relayed pod-b", p.Host)
	}
	serve := netip.MustParseAddr("10.1.0.1")
	for _, tc := range []struct {
		giaddr, want string
	}{
		{giaddr: "10.2.0.1", want: "pod-b"},
		{giaddr: "10.2.0.2", want: "pod-b"},
		{giaddr: "10.2.0.3", want: ""}, // on pod-b, but no relay the inventory names
		{giaddr: "10.1.0.1", want: ""},
	} {
		t.Run(tc.giaddr, func(t *testing.T) {
			got := ""
			if d := p.ByRelay(netip.MustParseAddr(tc.giaddr)); d != nil {
				got = d.Network
			}
			if got != tc.want {
				t.Errorf("ByRelay(%s) = %q, want %q", tc.giaddr, got, tc.want)
			}
		})
	}
	b1 := p.Node("b1")
	if b1.Reservation.Network != "pod-b" || b1.Reservation.Server != serve || b1.Boot.ScriptURL != "http://10.1.0.1:8080/ipxe/02:00:00:00:00:02" {
		t.Errorf("b1 boots from %s server %s script %s: want pod-b, serve's address 10.1.0.1", b1.Reservation.Network, b1.Reservation.Server, b1.Boot.ScriptURL)
	}
	if d := p.DHCPNetwork("stor"); d != nil {
		t.Errorf("storage network without dhcp: planned for DHCP: %+v", d)
	}
	var out bytes.Buffer
	if err := p.WriteDHCP(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prov (10.1.0.0/24 VLAN 100, reservation, 1 node(s)): served directly on 10.1.0.1/24",
		"pod-b (10.2.0.0/24, reservation, 2 node(s)): via relay 10.2.0.1, 10.2.0.2 → serve at 10.1.0.1",
		"ext (10.3.0.0/24, off, 0 node(s)): not answered by serve (mode off: another DHCP server)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("WriteDHCP lacks %q:\n%s", want, out.String())
		}
	}
}
