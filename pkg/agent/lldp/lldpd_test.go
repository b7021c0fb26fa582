package lldp

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
)

// TestFromLLDPD runs Debian's lldpd as the switch on one end of a veth pair between two
// namespaces and checks that Listen on the node's end decodes what it was told to send,
// field for field.
func TestFromLLDPD(t *testing.T) {
	pr := lldpd.NewPair(t, lldpd.Port{
		System: "leaf-a01", PortID: "Ethernet12", Description: "gpu-a01-01 enp25s0f0np0",
		PVID: 100, VLANs: []lldpd.VLAN{{ID: 100, Name: "provisioning"}, {ID: 300, Name: "compute"}}, MaxFrameSize: 1518,
	})
	node, nodeIf, d := pr.Node, pr.NodeIf, pr.Daemon
	swLink, err := pr.Switch.Link(pr.SwitchIf)
	if err != nil {
		t.Fatal(err)
	}
	nodeLink, err := node.Link(nodeIf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var got check.LLDP
	if err := node.Do(func() error { got = Listen(ctx, nodeIf, 35*time.Second); return nil }); err != nil {
		t.Fatal(err)
	}
	want := check.LLDP{
		Interface: nodeIf, MAC: nodeLink.Attrs().HardwareAddr.String(), Heard: true, WaitSeconds: 35,
		ChassisIDType: "mac", ChassisID: swLink.Attrs().HardwareAddr.String(),
		SystemName: "leaf-a01", SystemDesc: "racklift lab switch leaf-a01",
		PortIDType: "local", PortID: "Ethernet12", PortDescription: "gpu-a01-01 enp25s0f0np0",
		TTL:  4, // lldpd's hold (4) times its interval (1 s)
		PVID: 100, VLANs: []check.LLDPVLAN{{ID: 100, Name: "provisioning"}, {ID: 300, Name: "compute"}},
		MaxFrameSize: 1518,
		MgmtAddress:  got.MgmtAddress,
		Aggregation:  &check.LLDPLAG{Capable: true}, // lldpd's 802.3 TLV: a veth could join a bond
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded from lldpd:\n got %+v\nwant %+v\nlldpd log:\n%s", got, want, d.Log())
	}
	if a, err := netip.ParseAddr(got.MgmtAddress); err != nil || !a.IsLinkLocalUnicast() {
		t.Errorf("management address %q: want the switch link's IPv6 link-local address", got.MgmtAddress)
	}
	if got.VLANText() != "100 (untagged) and 300" || got.Port() != "Ethernet12" || got.Switch() != "leaf-a01" {
		t.Errorf("in words: %q, port %q, switch %q", got.VLANText(), got.Port(), got.Switch())
	}
	t.Logf("heard: %+v (aggregation %+v)", got, got.Aggregation)
}

// TestListenNothing: an interface where nobody sends LLDP is not heard, with no error,
// and the wait is what the report says.
func TestListenNothing(t *testing.T) {
	testenv.NeedRoot(t)
	a, b := netns.New(t), netns.New(t)
	ai, bi := netns.IfName("qa"), netns.IfName("qb")
	if _, err := a.Veth(ai, bi, b, 0); err != nil {
		t.Fatal(err)
	}
	var got check.LLDP
	b.Do(func() error { got = Listen(t.Context(), bi, time.Second); return nil })
	if got.Heard || got.Error != "" || got.WaitSeconds != 1 || got.Interface != bi {
		t.Errorf("silent link: %+v", got)
	}
	var missing check.LLDP
	b.Do(func() error { missing = Listen(t.Context(), "nosuch0", time.Second); return nil })
	if missing.Heard || missing.Error == "" {
		t.Errorf("missing interface: %+v", missing)
	}
	_ = net.HardwareAddr(nil)
}
