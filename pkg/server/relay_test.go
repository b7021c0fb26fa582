package server

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
)

// DHCP listens for the served network and every relayed network whose relays forward to
// this serve's address, in the widest of their modes (proxy adds 4011).
func TestDHCPModeCoversRelayedNetworks(t *testing.T) {
	t.Parallel()
	site := func(provMode, podMode, podServer string) string {
		return `site: s
defaults: {profile: p, bmc: {credentials: c}}
credentials: [{name: c, username: admin}]
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: ` + provMode + `}}
  - {name: pod-b, cidr: 10.2.0.0/24, server: ` + podServer + `, role: provisioning, dhcp: {mode: ` + podMode + `, relays: [10.2.0.1]}}
profiles: [{name: p, boot: {kernel: k}}]
racks: [{rack: r1, nodes: [{name: b1, unit: 1, bmc: {address: 10.8.0.1}, interfaces: [{name: e0, mac: "02:00:00:00:00:02", network: pod-b, address: 10.2.0.11, pxe: true}]}]}]
`
	}
	for _, tc := range []struct {
		name                         string
		provMode, podMode, podServer string
		wantMode                     string
		wantRelayed                  []string
	}{
		{name: "both reservation", provMode: "reservation", podMode: "reservation", podServer: "10.1.0.1", wantMode: "reservation", wantRelayed: []string{"pod-b"}},
		{name: "relayed proxy widens", provMode: "reservation", podMode: "proxy", podServer: "10.1.0.1", wantMode: "proxy", wantRelayed: []string{"pod-b"}},
		{name: "direct off, relayed on", provMode: "off", podMode: "reservation", podServer: "10.1.0.1", wantMode: "reservation", wantRelayed: []string{"pod-b"}},
		{name: "relayed to another serve", provMode: "off", podMode: "proxy", podServer: "10.9.0.9", wantMode: "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "site.yaml")
			if err := os.WriteFile(path, []byte(site(tc.provMode, tc.podMode, tc.podServer)), 0o644); err != nil {
				t.Fatal(err)
			}
			inv, err := inventory.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			p, err := plan.Build(inv, plan.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := &Server{ip: netip.MustParseAddr("10.1.0.1")}
			s.cur.Store(&snapshot{inv: inv, plan: p})
			mode, relayed := s.dhcpMode("prov")
			if mode != tc.wantMode || !slices.Equal(relayed, tc.wantRelayed) {
				t.Errorf("dhcpMode = %s %v, want %s %v", mode, relayed, tc.wantMode, tc.wantRelayed)
			}
			if d := s.ByRelay(netip.MustParseAddr("10.2.0.1")); d == nil || d.Network != "pod-b" {
				t.Errorf("ByRelay(10.2.0.1) = %+v", d)
			}
		})
	}
}

// The relays' option 82 is compared with the inventory in force: the PXE interface's
// switch: and port:, none for a node without cabling.
func TestPXEPortFromInventory(t *testing.T) {
	t.Parallel()
	site := `site: s
defaults: {profile: p, bmc: {credentials: c}}
credentials: [{name: c, username: admin}]
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}
profiles: [{name: p, boot: {kernel: k}}]
switches: [{name: tor-a, os: sonic}]
racks: [{rack: r1, nodes: [
  {name: a1, unit: 1, bmc: {address: 10.8.0.1}, interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true, switch: tor-a, port: Ethernet7}]},
  {name: a2, unit: 2, bmc: {address: 10.8.0.2}, interfaces: [{name: e0, mac: "02:00:00:00:00:02", network: prov, address: 10.1.0.12, pxe: true}]}]}]
`
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	s.cur.Store(&snapshot{inv: inv})
	for _, tc := range []struct {
		node string
		want dhcp.Port
		ok   bool
	}{
		{node: "a1", want: dhcp.Port{Switch: "tor-a", Port: "Ethernet7"}, ok: true},
		{node: "a2"},
		{node: "nobody"},
	} {
		t.Run(tc.node, func(t *testing.T) {
			if got, ok := s.PXEPort(tc.node); got != tc.want || ok != tc.ok {
				t.Errorf("PXEPort(%s) = %+v %v, want %+v %v", tc.node, got, ok, tc.want, tc.ok)
			}
		})
	}
}
