package server

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/racklift/racklift/pkg/dhcp"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/plan"
)

// Tests for code `make mutate -dry-run` found unreached by pkg/server's -short tests
// (issue 20): names by learned address, the learned table's bound, /api/events?since.

func newLabServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{Inventory: copyExample(t, "lab"), Listen: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestNodeByIPLearned: an address a proxy-mode node asked the site's server for names
// the node; a learned MAC that is no node names nothing.
func TestNodeByIPLearned(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	hw, _ := net.ParseMAC("52:54:00:04:00:01")
	ip := netip.MustParseAddr("10.204.0.211")
	if _, _, ok := s.NodeByIP(ip); ok {
		t.Fatal("an unknown address names a node")
	}
	s.Learn(hw, ip)
	if node, mac, ok := s.NodeByIP(ip); !ok || node != "lab-01" || mac != "52:54:00:04:00:01" {
		t.Errorf("learned address: %q %q %v, want lab-01", node, mac, ok)
	}
	stranger, _ := net.ParseMAC("52:54:00:ff:ff:ff")
	other := netip.MustParseAddr("10.204.0.212")
	s.Learn(stranger, other)
	if node, _, ok := s.NodeByIP(other); ok {
		t.Errorf("a learned MAC of no node names %q", node)
	}
	if node, _, ok := s.NodeByIP(netip.MustParseAddr("10.204.0.11")); !ok || node != "lab-01" {
		t.Errorf("reserved address names %q %v, want lab-01", node, ok)
	}
}

// TestLearnBounded: the learned table holds at most 65537 addresses, then starts over:
// a flood of forged requests costs bounded memory.
func TestLearnBounded(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	hw, _ := net.ParseMAC("52:54:00:04:00:01")
	base := netip.MustParseAddr("10.0.0.0")
	a := base
	for range 65537 {
		a = a.Next()
		s.Learn(hw, a)
	}
	if n := len(s.learned); n != 65537 {
		t.Fatalf("after 65537 addresses the table holds %d", n)
	}
	s.Learn(hw, a.Next())
	if n := len(s.learned); n != 1 {
		t.Errorf("past the bound the table holds %d, want a fresh table of 1", n)
	}
}

// TestAPIEventsSince: /api/events?since=SEQ returns only the events after SEQ.
func TestAPIEventsSince(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	for i := range 3 {
		s.Events.Publish(events.Event{Kind: events.DHCPOffer, Node: "lab-01", Detail: fmt.Sprint(i)})
	}
	all := s.Events.Recent("lab-01")
	if len(all) != 3 {
		t.Fatalf("published 3, recent %d", len(all))
	}
	for _, tc := range []struct {
		since uint64
		want  int
	}{
		{since: 0, want: 3},
		{since: all[0].Seq, want: 2},
		{since: all[2].Seq, want: 0},
	} {
		rec := httptest.NewRecorder()
		s.apiEvents(rec, httptest.NewRequest("GET", fmt.Sprintf("/api/events?node=lab-01&since=%d", tc.since), nil))
		var got []events.Event
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.want || len(got) > 0 && got[0].Seq <= tc.since {
			t.Errorf("since=%d: %d events %+v, want %d after it", tc.since, len(got), got, tc.want)
		}
	}
}

// TestCoreConfigAgentListen: the agent API listens on serve's address at AgentPort
// (DefaultAgentPort when 0) unless AgentListen names the address. Mutant (make mutate):
// `listen == ""` negated, which dropped both.
func TestCoreConfigAgentListen(t *testing.T) {
	t.Parallel()
	ip := netip.MustParseAddr("10.204.0.1")
	for _, tc := range []struct {
		p    Provision
		want string
	}{
		{p: Provision{}, want: "10.204.0.1:8443"},
		{p: Provision{AgentPort: 9443}, want: "10.204.0.1:9443"},
		{p: Provision{AgentListen: "0.0.0.0:7443", AgentPort: 9443}, want: "0.0.0.0:7443"},
	} {
		p := tc.p
		got := Config{Provision: &p}.coreConfig(ip, lifecycle.Config{})
		if got.AgentListen != tc.want || len(got.Hosts) != 1 || got.Hosts[0] != "10.204.0.1" {
			t.Errorf("%+v: agent listen %q hosts %v, want %s on 10.204.0.1", tc.p, got.AgentListen, got.Hosts, tc.want)
		}
	}
}

// TestRelevantInventoryFiles: a reload is due for YAML files (.yaml, .yml) and the racks
// directory itself, never for editor swap, backup or other files.
func TestRelevantInventoryFiles(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"/inv/site.yaml": true, "/inv/racks/r1.yml": true, "/inv/racks": true,
		"/inv/racks/.r1.yaml.swp": false, "/inv/racks/r1.yaml~": false, "/inv/notes.txt": false, "/inv/.site.yaml": false,
	} {
		if got := relevant(name); got != want {
			t.Errorf("relevant(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestNewDefaults: ports and templates take their defaults when unset and stay when set.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	if s.cfg.HTTPPort != plan.DefaultHTTPPort || s.cfg.TFTPPort != 69 || s.cfg.DHCPPort != dhcp.PortDHCP || s.cfg.Templates == nil || s.cfg.Log == nil {
		t.Errorf("defaults: http %d tftp %d dhcp %d templates %v", s.cfg.HTTPPort, s.cfg.TFTPPort, s.cfg.DHCPPort, s.cfg.Templates)
	}
	set, err := New(Config{Inventory: copyExample(t, "lab"), Listen: "127.0.0.1", HTTPPort: 18080, TFTPPort: 1069, DHCPPort: 1067, AgentBinary: "/opt/node-agent"})
	if err != nil {
		t.Fatal(err)
	}
	if c := set.cfg; c.HTTPPort != 18080 || c.TFTPPort != 1069 || c.DHCPPort != 1067 || c.AgentBinary != "/opt/node-agent" {
		t.Errorf("set values changed: %+v", c)
	}
}

// TestNetworkOfListenAddress: serve's network is the host interface whose address is
// serve's own, before any whose prefix merely holds it; an address on no network has
// none. Mutants (make mutate): the address compare negated (server.go network), the
// prefix fallback negated.
func TestNetworkOfListenAddress(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	snap := *s.cur.Load()
	p := *snap.plan
	p.Host = []plan.HostInterface{
		{Network: "wide", Address: netip.MustParsePrefix("10.0.0.1/8")},
		{Network: "pod", Address: netip.MustParsePrefix("10.1.0.1/16")},
	}
	snap.plan = &p
	s.cur.Store(&snap)
	for _, tc := range []struct {
		ip   string
		want string
	}{
		{ip: "10.1.0.1", want: "pod"},  // its own address, though "wide" holds it too
		{ip: "10.0.0.1", want: "wide"}, // its own address
		{ip: "10.9.9.9", want: "wide"}, // only a prefix holds it
		{ip: "192.0.2.1", want: ""},    // on no network
	} {
		s.ip = netip.MustParseAddr(tc.ip)
		got := ""
		if h := s.network(); h != nil {
			got = h.Network
		}
		if got != tc.want {
			t.Errorf("listen %s: network %q, want %q", tc.ip, got, tc.want)
		}
	}
}

// TestModeOfNetwork: a network's DHCP mode is its dhcp block's; a network without one,
// or no network at all, is served in mode off.
func TestModeOfNetwork(t *testing.T) {
	t.Parallel()
	s := newLabServer(t)
	for network, want := range map[string]string{
		"provisioning": "reservation", // dhcp: mode: reservation in the lab site
		"storage":      dhcp.ModeOff,  // no dhcp block
		"nowhere":      dhcp.ModeOff,
	} {
		if got := s.mode(network); got != want {
			t.Errorf("mode(%q) = %q, want %q", network, got, want)
		}
	}
}
