package rack

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/pkg/inventory"
)

// TestLLDPPorts: with no knobs each guest NIC's port says what the lab inventory cables
// it to; the knobs miscable lab-02's storage NIC (it says lab-03's port), and drop VLAN
// 200 from lab-03's and lower its frame size.
func TestLLDPPorts(t *testing.T) {
	inv, err := inventory.Load(filepath.Join("..", "..", "..", "inventory", "examples", "lab"))
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*node
	for i, in := range inv.Nodes {
		n := &node{Node: Node{Name: in.Name, PXEMAC: in.Interfaces[0].MAC, StorageMAC: in.Interfaces[1].MAC}}
		n.taps = []string{tapName(n.Name, i, 0), tapName(n.Name, i, 1)}
		nodes = append(nodes, n)
	}
	storage := func(port, desc string, vlans []lldpd.VLAN, mfs int) lldpd.Port {
		return lldpd.Port{System: "leaf-lab", PortID: port, Description: desc, PVID: 1, VLANs: vlans, MaxFrameSize: mfs}
	}
	v200 := []lldpd.VLAN{{ID: 200, Name: "storage"}}
	for _, tc := range []struct {
		name  string
		knobs []string
		want  map[string]lldpd.Port // by tap; Interface is filled in
	}{
		{name: "no knobs", want: map[string]lldpd.Port{
			"tap-lab-01-0": {System: "leaf-lab", PortID: "Ethernet1", Description: "lab-01 ens3", PVID: 1, MaxFrameSize: 1518},
			"tap-lab-01-1": storage("Ethernet11", "lab-01 ens4", v200, 9018),
			"tap-lab-02-1": storage("Ethernet12", "lab-02 ens4", v200, 9018),
			"tap-lab-03-1": storage("Ethernet13", "lab-03 ens4", v200, 9018),
		}},
		{name: "knobs", knobs: []string{"lab-02:miscable", "lab-03:drop-vlan=200,frame-size=1518"}, want: map[string]lldpd.Port{
			"tap-lab-01-1": storage("Ethernet11", "lab-01 ens4", v200, 9018),
			"tap-lab-02-1": storage("Ethernet13", "lab-03 ens4", v200, 9018),
			"tap-lab-03-1": storage("Ethernet13", "lab-03 ens4", []lldpd.VLAN{}, 1518),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			knobs, err := ParseSwitchKnobs(tc.knobs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := lldpPorts(inv, nodes, knobs)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 6 {
				t.Errorf("%d ports say something, want all 6 guest NICs", len(got))
			}
			for tap, want := range tc.want {
				want.Interface = tap
				if g := got[tap]; !reflect.DeepEqual(g, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", tap, g, want)
				}
			}
		})
	}
	for _, bad := range []string{"lab-02", "lab-02:loud", "lab-02:frame-size=big", "lab-09:miscable"} {
		knobs, err := ParseSwitchKnobs([]string{bad})
		if err == nil {
			_, err = lldpPorts(inv, nodes, knobs)
		}
		if err == nil {
			t.Errorf("knob %q accepted", bad)
		}
	}
}
