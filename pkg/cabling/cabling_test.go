package cabling

import (
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
)

func exampleSite(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(filepath.Join("..", "..", "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// storagePort is what a healthy leaf-a01 Ethernet12 says to gpu-a01-01's storage NIC.
func storagePort() check.LLDP {
	return check.LLDP{Interface: "enp25s0f0np0", MAC: "b8:3f:d2:a1:01:20", Heard: true, WaitSeconds: 35,
		ChassisIDType: "mac", ChassisID: "0c:29:ef:00:00:01", SystemName: "leaf-a01", PortIDType: "local", PortID: "Ethernet12",
		PVID: 1, VLANs: []check.LLDPVLAN{{ID: 200, Name: "storage"}}, MaxFrameSize: 9018}
}

// TestMessages: one case per message of the issue, word for word with file:line, and
// the healthy port passing.
func TestMessages(t *testing.T) {
	inv := exampleSite(t)
	for _, tc := range []struct {
		name   string
		change func(*check.LLDP)
		check  string // result name
		status check.Status
		msg    string // the whole message; "" for none
	}{
		{name: "healthy", change: func(*check.LLDP) {}, check: "lldp.enp25s0f0np0.cabling", status: check.Pass},
		{name: "healthy vlans", change: func(*check.LLDP) {}, check: "lldp.enp25s0f0np0.vlans", status: check.Pass},
		{name: "healthy frame", change: func(*check.LLDP) {}, check: "lldp.enp25s0f0np0.frame_size", status: check.Pass},
		{name: "fqdn system name", change: func(l *check.LLDP) { l.SystemName = "leaf-a01.cage7.example.net" }, check: "lldp.enp25s0f0np0.cabling", status: check.Pass},
		{name: "port id is a mac", change: func(l *check.LLDP) {
			l.PortIDType, l.PortID, l.PortDescription = "mac", "0c:29:ef:00:00:0d", "Ethernet12"
		}, check: "lldp.enp25s0f0np0.cabling", status: check.Pass},
		{name: "miscabled", change: func(l *check.LLDP) { l.SystemName, l.PortID = "leaf-a02", "Ethernet7" },
			check: "lldp.enp25s0f0np0.cabling", status: check.Fail,
			msg: "enp25s0f0np0 (b8:3f:d2:a1:01:20) is cabled to leaf-a02 Ethernet7, the inventory says leaf-a01 Ethernet12 (racks/a01.yaml:26)"},
		{name: "vlan 200 missing", change: func(l *check.LLDP) { l.PVID, l.VLANs = 100, []check.LLDPVLAN{{ID: 100}, {ID: 300}} },
			check: "lldp.enp25s0f0np0.vlans", status: check.Fail,
			msg: "leaf-a01 Ethernet12 advertises VLANs 100 (untagged) and 300 but not 200, which network storage needs (site.yaml:50)"},
		{name: "frame size", change: func(l *check.LLDP) { l.MaxFrameSize = 1518 },
			check: "lldp.enp25s0f0np0.frame_size", status: check.Fail,
			msg: "leaf-a01 Ethernet12 allows frames up to 1518 bytes; network storage wants MTU 9000 (site.yaml:52)"},
		{name: "silence", change: func(l *check.LLDP) { *l = check.LLDP{Interface: "enp25s0f0np0", WaitSeconds: 35} },
			check: "lldp.enp25s0f0np0.cabling", status: check.Warn,
			msg: "no LLDP on enp25s0f0np0 within 35 s: the switch does not send LLDP on this port, or the link is down"},
		{name: "no vlan tlvs", change: func(l *check.LLDP) { l.PVID, l.VLANs = 0, nil },
			check: "lldp.enp25s0f0np0.vlans", status: check.Warn,
			msg: "leaf-a01 Ethernet12 advertises no VLANs (no 802.1 VLAN TLVs): the VLANs 200 cannot be checked from LLDP"},
		{name: "escape in the switch name", change: func(l *check.LLDP) { l.SystemName = "leaf\x1b[2J" },
			check: "lldp.enp25s0f0np0.cabling", status: check.Fail,
			msg: `enp25s0f0np0 (b8:3f:d2:a1:01:20) is cabled to leaf\x1b[2J Ethernet12, the inventory says leaf-a01 Ethernet12 (racks/a01.yaml:26)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := storagePort()
			tc.change(&l)
			rs := Check(inv, "gpu-a01-01", []check.LLDP{l})
			var got *check.Result
			for i := range rs {
				if rs[i].Name == tc.check {
					got = &rs[i]
				}
			}
			if got == nil {
				t.Fatalf("no %s among %+v", tc.check, rs)
			}
			if got.Status != tc.status || got.Message != tc.msg {
				t.Errorf("%s: %s %q\nwant %s %q", tc.check, got.Status, got.Message, tc.status, tc.msg)
			}
		})
	}
}

// TestMiscabledStopsThere: against the wrong port, no VLAN or frame verdicts follow.
func TestMiscabledStopsThere(t *testing.T) {
	l := storagePort()
	l.SystemName, l.MaxFrameSize = "leaf-a02", 1518
	rs := Check(exampleSite(t), "gpu-a01-01", []check.LLDP{l})
	if len(rs) != 1 || rs[0].Status != check.Fail {
		t.Errorf("got %+v", rs)
	}
}

// TestUntaggedAndReport: the PXE port's untagged VLAN, and the failure reason serve
// stores, which is what provision status shows.
func TestUntaggedAndReport(t *testing.T) {
	inv := exampleSite(t)
	eno1 := check.LLDP{Interface: "eno1", MAC: "3c:ec:ef:a1:01:10", Heard: true, SystemName: "leaf-a01", PortID: "Ethernet0",
		PVID: 1, VLANs: []check.LLDPVLAN{{ID: 1}, {ID: 100}}, MaxFrameSize: 1518}
	rs := Check(inv, "gpu-a01-01", []check.LLDP{eno1})
	rep := check.NewReport("gpu-a01-01", "test", nil, rs)
	want := "lldp.eno1.vlans (observed 1 (untagged) and 100, expected 100 (untagged)): leaf-a01 Ethernet0 sends VLAN 1 untagged, network provisioning needs VLAN 100 untagged (site.yaml:32)"
	if rep.Pass() || rep.FailureReason() != want {
		t.Errorf("reason %q\nwant   %q", rep.FailureReason(), want)
	}
}

// TestSuggestion: a node without cabling gets the line to paste.
func TestSuggestion(t *testing.T) {
	inv, err := inventory.Load(filepath.Join("testdata", "uncabled.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs := Check(inv, "n1", []check.LLDP{{Interface: "ens4", Heard: true, SystemName: "leaf-lab", PortID: "Ethernet2"}})
	if len(rs) != 1 || rs[0].Status != check.Pass || rs[0].Message != "ens4 is cabled to leaf-lab Ethernet2; add 'switch: leaf-lab, port: Ethernet2' to interface ens4 (testdata/uncabled.yaml:19)" {
		t.Errorf("got %+v", rs)
	}
}

// TestUplink: the provisioning host's trunk carries every VLAN.
func TestUplink(t *testing.T) {
	inv := exampleSite(t)
	l := check.LLDP{Interface: "eth1", Heard: true, SystemName: "leaf-a01", PortID: "Ethernet48",
		VLANs: []check.LLDPVLAN{{ID: 100}, {ID: 110}, {ID: 300}}, MaxFrameSize: 9216}
	rs := Uplink(inv, l)
	if len(rs) != 3 || rs[0].Status != check.Pass || rs[1].Status != check.Fail ||
		rs[1].Message != "leaf-a01 Ethernet48 advertises VLANs 100, 110 and 300 but not 200, which network storage needs (site.yaml:50)" || rs[2].Status != check.Pass {
		t.Errorf("got %+v", rs)
	}
}
