package plan

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// Tests for mutants gremlins left alive in build.go (docs/dev/testing.md).

// TestNodePlanParsesTheMACWhenNotParsed: an interface whose MAC was not parsed by the
// loader (HW empty) is parsed here; a malformed one fails naming node and interface.
func TestNodePlanParsesTheMACWhenNotParsed(t *testing.T) {
	t.Parallel()
	nw := &inventory.Network{Name: "prov", Server: "10.0.0.2"}
	facts := map[string]*netFacts{"prov": {nw: nw, mode: "reservation", server: netip.MustParseAddr("10.0.0.2"), base: "http://10.0.0.2:8080"}}
	node := func(mac string) *inventory.Node {
		return &inventory.Node{Name: "n1", Interfaces: []*inventory.Interface{{Name: "eno1", MAC: mac, Network: "prov", PXE: true}}}
	}
	np, err := nodePlan(node("3C:EC:EF:00:00:01"), facts)
	if err != nil {
		t.Fatal(err)
	}
	if np.Reservation.MACString != "3c:ec:ef:00:00:01" || np.Boot.ScriptURL != "http://10.0.0.2:8080/ipxe/3c:ec:ef:00:00:01" {
		t.Errorf("MAC %q script %q", np.Reservation.MACString, np.Boot.ScriptURL)
	}
	if _, err := nodePlan(node("zz"), facts); err == nil || !strings.Contains(err.Error(), `node "n1": interface eno1`) {
		t.Errorf("malformed MAC: %v", err)
	}
}

// TestLookupsWithoutIndex: a plan decoded from JSON has no index; Node and ByMAC scan.
func TestLookupsWithoutIndex(t *testing.T) {
	t.Parallel()
	mac, _ := net.ParseMAC("3c:ec:ef:00:00:01")
	p := &Plan{Nodes: []*NodePlan{{Node: "a"}, {Node: "b", Reservation: Reservation{MAC: mac, MACString: mac.String()}}}}
	if np := p.Node("b"); np == nil || np.Node != "b" {
		t.Errorf("Node(b) = %+v", np)
	}
	if np := p.Node("zz"); np != nil {
		t.Errorf("Node(zz) = %+v", np)
	}
	if np := p.ByMAC(mac); np == nil || np.Node != "b" {
		t.Errorf("ByMAC = %+v", np)
	}
}

func TestLeaseDuration(t *testing.T) {
	t.Parallel()
	if d := (&Reservation{LeaseSeconds: 90}).LeaseDuration(); d != 90*time.Second {
		t.Errorf("LeaseDuration = %v, want 1m30s", d)
	}
	if DefaultLease != 12*time.Hour {
		t.Errorf("DefaultLease = %v: docs/inventory.md documents 12h", DefaultLease)
	}
}
