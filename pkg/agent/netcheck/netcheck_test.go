package netcheck_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/agent/netcheck"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// lab is a switch namespace (a bridge) with a node, a gateway and a peer plugged in by
// veth, all at MTU 9000 unless a test changes a port.
type lab struct {
	sw, node, gw, peer *netns.NS
	br                 string
	ports              map[string]string // namespace role → switch port name
	mac                string
}

func newLab(t *testing.T, subnet string) *lab {
	t.Helper()
	testenv.NeedRoot(t)
	l := &lab{sw: netns.New(t), node: netns.New(t), gw: netns.New(t), peer: netns.New(t), ports: map[string]string{}}
	l.br = netns.IfName("br")
	br, err := l.sw.Bridge(l.br, 9000)
	if err != nil {
		t.Fatal(err)
	}
	for role, ns := range map[string]*netns.NS{"node": l.node, "gw": l.gw, "peer": l.peer} {
		port := netns.IfName("p")
		if _, err := l.sw.Veth(port, "eth0", ns, 9000); err != nil {
			t.Fatal(err)
		}
		pl, _ := l.sw.Link(port)
		if err := l.sw.SetMaster(pl, br); err != nil {
			t.Fatal(err)
		}
		l.ports[role] = port
	}
	must(t, l.gw.AddAddr("eth0", subnet+".1/24"))
	must(t, l.peer.AddAddr("eth0", subnet+".20/24"))
	must(t, l.node.AddAddr("eth0", subnet+".10/24"))
	nl, err := l.node.Link("eth0")
	if err != nil {
		t.Fatal(err)
	}
	l.mac = nl.Attrs().HardwareAddr.String()
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (l *lab) run(t *testing.T, nw expect.Network) []check.Result {
	t.Helper()
	var rs []check.Result
	opt := netcheck.Options{ARPTimeout: 1500 * time.Millisecond, EchoTimeout: time.Second}
	err := l.node.Do(func() error {
		rs = opt.Run(context.Background(), []expect.Network{nw})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		t.Logf("%-28s %-4s %-40s %s", r.Name, r.Status, r.Observed, r.Message)
	}
	return rs
}

func find(rs []check.Result, name string) *check.Result {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func wantStatus(t *testing.T, rs []check.Result, name string, st check.Status, msgParts ...string) {
	t.Helper()
	r := find(rs, name)
	if r == nil {
		t.Errorf("no result %s", name)
		return
	}
	if r.Status != st {
		t.Errorf("%s: status %s (%s), want %s", name, r.Status, r.Message, st)
	}
	for _, p := range msgParts {
		if !strings.Contains(r.Message, p) {
			t.Errorf("%s: message %q lacks %q", name, r.Message, p)
		}
	}
}

func TestHealthyNetworkPasses(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.11")
	rs := l.run(t, expect.Network{Name: "storage", Interface: "eth0", MAC: l.mac,
		Address: "10.203.11.10/24", Gateway: "10.203.11.1", MTU: 9000, Peers: []string{"gpu-b02=10.203.11.20"}})
	for _, n := range []string{"link", "carrier", "mtu", "address", "gateway", "peer.10.203.11.20", "mtu_path.gateway", "mtu_path.10.203.11.20"} {
		wantStatus(t, rs, "net.storage."+n, check.Pass)
	}
	if r := find(rs, "net.storage.speed"); r == nil || r.Status == check.Fail {
		t.Errorf("speed on a veth must not fail: %+v", r)
	}
	if check.Failed(rs) {
		t.Error("a healthy network has failures")
	}
}

func TestFindsNICByMACWhenRenamed(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.12")
	rs := l.run(t, expect.Network{Name: "storage", Interface: "ens1f0", MAC: l.mac, Address: "10.203.12.10/24"})
	wantStatus(t, rs, "net.storage.link", check.Pass)
	wantStatus(t, rs, "net.storage.reach", check.Warn, "no gateway and no peers", "not verified")
	if r := find(rs, "net.storage.link"); r != nil && !strings.Contains(r.Observed, "found by MAC") {
		t.Errorf("link observed %q does not say it was found by MAC", r.Observed)
	}
}

func TestUnansweredGateway(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.13")
	rs := l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.13.10/24", Gateway: "10.203.13.254", MTU: 9000})
	wantStatus(t, rs, "net.storage.gateway", check.Fail, "storage on eth0", "gateway 10.203.13.254 sends no ARP reply")
}

// A switch port at 1500 between two 9000-byte ends: small pings pass, the DF probe names the
// mismatch. This is the silent black hole of the seed failure.
func TestMTUMismatchAlongThePath(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.14")
	must(t, l.sw.SetMTU(l.ports["peer"], 1500))
	rs := l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.14.10/24", MTU: 9000, Peers: []string{"gpu-b02=10.203.14.20"}})
	wantStatus(t, rs, "net.storage.peer.10.203.14.20", check.Pass)
	wantStatus(t, rs, "net.storage.mtu_path.10.203.14.20", check.Fail, "MTU mismatch on the path to gpu-b02 (10.203.14.20)", "9000")
}

func TestLocalMTUBelowInventory(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.15")
	must(t, l.node.SetMTU("eth0", 1500))
	rs := l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.15.10/24", MTU: 9000, Peers: []string{"10.203.15.20"}})
	wantStatus(t, rs, "net.storage.mtu", check.Fail, "eth0 has MTU 1500, the inventory says 9000")
	wantStatus(t, rs, "net.storage.mtu_path.10.203.15.20", check.Fail, "refuses a 9000-byte packet")
}

func TestMissingAddress(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.16")
	rs := l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.16.11/24", Gateway: "10.203.16.1"})
	wantStatus(t, rs, "net.storage.address", check.Fail, "eth0 lacks address 10.203.16.11/24")
	if find(rs, "net.storage.gateway") != nil {
		t.Error("gateway probed without a source address")
	}
}

func TestUnreachablePeerAndNoCarrier(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.17")
	rs := l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.17.10/24", Peers: []string{"gpu-b09=10.203.17.99"}})
	wantStatus(t, rs, "net.storage.peer.10.203.17.99", check.Fail, "peer gpu-b09 (10.203.17.99) sends no ARP reply")

	must(t, l.sw.SetDown(l.ports["node"]))
	rs = l.run(t, expect.Network{Name: "storage", MAC: l.mac, Address: "10.203.17.10/24"})
	wantStatus(t, rs, "net.storage.carrier", check.Fail, "no carrier", "switch port")
}

func TestMissingNIC(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.18")
	mac, _ := net.ParseMAC("02:00:00:aa:bb:cc")
	rs := l.run(t, expect.Network{Name: "storage", Interface: "ens9", MAC: mac.String(), Address: "10.203.18.10/24"})
	wantStatus(t, rs, "net.storage.link", check.Fail, "no interface with MAC 02:00:00:aa:bb:cc or name ens9", "eth0")
	if len(rs) != 1 {
		t.Errorf("checks went on past a missing NIC: %d results", len(rs))
	}
}

// A tagged network whose address sits on the NIC itself is an access port in that VLAN
// (the PXE NIC): no sub-interface is demanded. Without the address it is a missing VLAN.
func TestAccessPortAndMissingVLAN(t *testing.T) {
	t.Parallel()
	l := newLab(t, "10.203.19")
	rs := l.run(t, expect.Network{Name: "provisioning", VLAN: 100, MAC: l.mac, Address: "10.203.19.10/24", Gateway: "10.203.19.1"})
	wantStatus(t, rs, "net.provisioning.vlan", check.Pass)
	wantStatus(t, rs, "net.provisioning.gateway", check.Pass)
	rs = l.run(t, expect.Network{Name: "storage", VLAN: 200, MAC: l.mac, Address: "10.203.190.10/24"})
	wantStatus(t, rs, "net.storage.vlan", check.Fail, "storage (VLAN 200) on eth0", "no VLAN 200 sub-interface on eth0")
}
