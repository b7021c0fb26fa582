package switchcfg

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func exampleSite(t *testing.T) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.Load(filepath.Join("..", "..", "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// TestGolden writes every switch of the example site in every format and compares it
// with testdata/<switch>.<format> (go test -run Golden -update rewrites them).
func TestGolden(t *testing.T) {
	inv := exampleSite(t)
	if len(inv.Switches) != 2 {
		t.Fatalf("the example site has %d switches, want one per rack (2)", len(inv.Switches))
	}
	// One config per switch, each holding its own rack's nodes (12 cables per rack).
	for _, sw := range inv.Switches {
		c, err := For(inv, sw.Name)
		if err != nil {
			t.Fatal(err)
		}
		nodes := 0
		for _, p := range c.Ports {
			if p.Node == "" {
				continue // the uplink
			}
			nodes++
			if n := inv.Node(p.Node); n == nil || n.Rack != sw.Rack {
				t.Errorf("%s's config has %s %s of another rack", sw.Name, p.Node, p.Interface)
			}
		}
		if nodes != 12 {
			t.Errorf("%s's config has %d node ports, want 12", sw.Name, nodes)
		}
	}
	for _, sw := range inv.Switches {
		for _, format := range Formats {
			t.Run(sw.Name+"/"+format, func(t *testing.T) {
				c, err := For(inv, sw.Name)
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := Write(&b, c, format); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", sw.Name+"."+format)
				if *update {
					if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if b.String() != string(want) {
					t.Errorf("%s differs from %s:\n%s", sw.Name, golden, b.String())
				}
			})
		}
	}
}

// TestSONiCTables parses leaf-a01's config_db.json and checks the three tables against
// the inventory: every cabled port, its MTU, untagged provisioning and tagged storage.
func TestSONiCTables(t *testing.T) {
	inv := exampleSite(t)
	c, err := For(inv, "leaf-a01")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := Write(&b, c, ""); err != nil { // leaf-a01's own OS: sonic
		t.Fatal(err)
	}
	var db map[string]map[string]map[string]any
	if err := json.Unmarshal(b.Bytes(), &db); err != nil {
		t.Fatalf("config_db.json does not parse: %v\n%s", err, b.String())
	}
	for _, table := range []string{"PORT", "VLAN", "VLAN_MEMBER"} {
		if len(db[table]) == 0 {
			t.Errorf("table %s is missing or empty", table)
		}
	}
	// 4 nodes x 3 cables + the host's uplink.
	if len(db["PORT"]) != 13 {
		t.Errorf("PORT has %d ports, want 13", len(db["PORT"]))
	}
	for _, tc := range []struct {
		port, desc, mtu string
		member          map[string]string // VLAN → tagging mode
	}{
		{port: "Ethernet0", desc: "gpu-a01-01 eno1", mtu: "1518", member: map[string]string{"Vlan100": "untagged"}},
		{port: "Ethernet12", desc: "gpu-a01-01 enp25s0f0np0", mtu: "9018", member: map[string]string{"Vlan200": "tagged"}},
		{port: "Ethernet23", desc: "gpu-a01-04 enp25s0f1np1", mtu: "9018", member: map[string]string{"Vlan300": "tagged"}},
		{port: "Ethernet48", desc: "provisioning host eth1 (uplink)", mtu: "9018", member: map[string]string{"Vlan100": "tagged", "Vlan110": "tagged", "Vlan200": "tagged", "Vlan300": "tagged"}},
	} {
		t.Run(tc.port, func(t *testing.T) {
			p := db["PORT"][tc.port]
			if p["description"] != tc.desc || p["mtu"] != tc.mtu || p["admin_status"] != "up" {
				t.Errorf("PORT %s = %v, want description %q mtu %s", tc.port, p, tc.desc, tc.mtu)
			}
			n := 0
			for key, m := range db["VLAN_MEMBER"] {
				vlan, port, _ := strings.Cut(key, "|")
				if port != tc.port {
					continue
				}
				n++
				if want, ok := tc.member[vlan]; !ok || m["tagging_mode"] != want {
					t.Errorf("VLAN_MEMBER %s = %v, want %q", key, m, want)
				}
				if members, _ := db["VLAN"][vlan]["members"].([]any); !containsAny(members, tc.port) {
					t.Errorf("VLAN %s does not list %s as a member: %v", vlan, tc.port, db["VLAN"][vlan])
				}
			}
			if n != len(tc.member) {
				t.Errorf("%s is in %d VLANs, want %d", tc.port, n, len(tc.member))
			}
		})
	}
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestUnknownSwitchAndFormat(t *testing.T) {
	inv := exampleSite(t)
	if _, err := For(inv, "leaf-z9"); err == nil || !strings.Contains(err.Error(), `switch "leaf-z9" is not in the inventory`) || !strings.Contains(err.Error(), "leaf-a01") {
		t.Errorf("unknown switch: %v", err)
	}
	c, _ := For(inv, "leaf-a01")
	var b bytes.Buffer
	if err := Write(&b, c, "junos"); err == nil || !strings.Contains(err.Error(), `unknown format "junos"`) || b.Len() != 0 {
		t.Errorf("unknown format: %v, wrote %q", err, b.String())
	}
}

// TestDiff: a port heard with what the inventory wants needs nothing; the seed story's
// port (VLAN 200 missing, 1518-byte frames) needs VLAN 200 and the MTU.
func TestDiff(t *testing.T) {
	inv := exampleSite(t)
	c, _ := For(inv, "leaf-a01")
	heard := []Heard{
		{Node: "gpu-a01-01", LLDP: check.LLDP{Interface: "eno1", Heard: true, SystemName: "leaf-a01", PortID: "Ethernet0", PVID: 100, MaxFrameSize: 1518}},
		// gpu-a01-02's storage NIC is in another switch's port.
		{Node: "gpu-a01-02", LLDP: check.LLDP{Interface: "eth1", MAC: "b8:3f:d2:a1:02:20", Heard: true, SystemName: "leaf-a02", PortID: "swp7"}},
		{Node: "gpu-a01-01", LLDP: check.LLDP{Interface: "enp25s0f0np0", Heard: true, SystemName: "leaf-a01.cage7.example.net", PortIDType: "mac", PortID: "b8:3f:d2:00:00:01", PortDescription: "Ethernet12",
			PVID: 100, VLANs: []check.LLDPVLAN{{ID: 100}, {ID: 300}}, MaxFrameSize: 1518}},
	}
	got := map[string]Change{}
	for _, ch := range Diff(c, heard) {
		got[ch.Port.Name] = ch
	}
	for _, tc := range []struct {
		port      string
		heard     bool
		needs     []string
		elsewhere string
	}{
		{port: "Ethernet0", heard: true},
		{port: "Ethernet13", elsewhere: "leaf-a02 swp7"},
		{port: "Ethernet14"},
		{port: "Ethernet12", heard: true, needs: []string{"add tagged VLAN 200 (storage)", "remove VLAN 100", "remove VLAN 300", "raise the MTU to 9018 (frames up to 1518 bytes now, 9018 needed)"}},
	} {
		t.Run(tc.port, func(t *testing.T) {
			ch := got[tc.port]
			if (ch.Heard != nil) != tc.heard || len(ch.Needs) != len(tc.needs) || ch.Elsewhere != tc.elsewhere {
				t.Fatalf("heard %v, needs %q; want heard %v, %d needs %q", ch.Heard != nil, ch.Needs, tc.heard, len(tc.needs), tc.needs)
			}
			for i, n := range tc.needs {
				if !strings.HasPrefix(ch.Needs[i], n) {
					t.Errorf("need %d: %q, want %q", i, ch.Needs[i], n)
				}
			}
		})
	}
	var b bytes.Buffer
	if err := WriteDiff(&b, c, Diff(c, heard)); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"leaf-a01 Ethernet0 (gpu-a01-01 eno1): as the inventory wants\n",
		"leaf-a01 Ethernet12 (gpu-a01-01 enp25s0f0np0): add tagged VLAN 200 (storage); ",
		"leaf-a01 Ethernet13 (gpu-a01-02 enp25s0f0np0): its cable is in leaf-a02 swp7 (enp25s0f0np0 heard it there)",
		"leaf-a01 Ethernet14 (gpu-a01-03 enp25s0f0np0): no LLDP report from this port yet",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("diff lacks %q:\n%s", line, b.String())
		}
	}
}

func TestComparePortNames(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{a: "Ethernet2", b: "Ethernet10", less: true},
		{a: "swp9", b: "swp10", less: true},
		{a: "Ethernet1/2", b: "Ethernet1/10", less: true},
		{a: "Ethernet10", b: "Ethernet2"},
	} {
		if got := ComparePortNames(tc.a, tc.b) < 0; got != tc.less {
			t.Errorf("%s < %s: %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
}
