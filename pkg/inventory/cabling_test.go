package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

// cabledSite is a valid site with switches in the site file and a rack file, a fixed
// port, cabled nodes and the host's uplink.
const cabledSite = `site: cab
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}
  - {name: storage, vlan: 200, cidr: 10.2.0.0/24, mtu: 9000, role: storage}
profiles:
  - {name: base}
defaults: {profile: base, bmc: {credentials: c}}
credentials:
  - {name: c}
switches:
  - {name: spine-1, os: eos}
uplink: {interface: eth1, switch: spine-1, port: Ethernet1}
racks:
  - rack: r1
    switches:
      - name: leaf-r1
        os: sonic
        ports:
          - {name: Ethernet8, vlans: [100, 200]}
    nodes:
      - name: n1
        unit: 1
        bmc: {address: 10.9.0.1}
        interfaces:
          - {name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true, switch: leaf-r1, port: Ethernet0}
          - {name: e1, mac: "02:00:00:00:01:01", network: storage, address: 10.2.0.11, switch: leaf-r1, port: Ethernet8}
      - name: n2
        unit: 2
        bmc: {address: 10.9.0.2}
        interfaces:
          - {name: e0, mac: "02:00:00:00:00:02", network: prov, address: 10.1.0.12, pxe: true, switch: leaf-r1, port: Ethernet1}
`

func TestCabledSiteLoads(t *testing.T) {
	t.Parallel()
	inv, err := Load(writeFile(t, t.TempDir(), "site.yaml", cabledSite))
	if err != nil {
		t.Fatal(err)
	}
	leaf := inv.Switch("leaf-r1")
	if len(inv.Switches) != 2 || leaf == nil || leaf.Rack != "r1" || leaf.OS != "sonic" || inv.Switch("spine-1").Rack != "" {
		t.Fatalf("switches: %+v", inv.Switches)
	}
	if p := leaf.Port("Ethernet8"); p == nil || len(p.VLANs) != 2 || leaf.Port("Ethernet0") != nil {
		t.Errorf("fixed ports of leaf-r1: %+v", leaf.Ports)
	}
	if u := inv.Uplink; u == nil || u.Switch != "spine-1" || u.Port != "Ethernet1" || u.Interface != "eth1" {
		t.Errorf("uplink: %+v", inv.Uplink)
	}
	if ifc := inv.Node("n1").Interfaces[1]; !ifc.Cabled() || ifc.Switch != "leaf-r1" || ifc.Port != "Ethernet8" {
		t.Errorf("n1/e1: %+v", ifc)
	}
}

// TestCablingRules breaks the cabled site one way at a time: exactly one error, with the
// message, on the line of the change.
func TestCablingRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, old, new, want string
		at                   string // text on the expected line; default: the start of new
	}{
		{name: "unknown switch", old: "switch: leaf-r1, port: Ethernet1}", new: "switch: leaf-r2, port: Ethernet1}",
			want: `interface n2/e0 is cabled to switch "leaf-r2", which is not defined`, at: "leaf-r2"},
		{name: "port cabled twice", old: "switch: leaf-r1, port: Ethernet1}", new: "switch: leaf-r1, port: Ethernet0}",
			want: "port leaf-r1 Ethernet0 is cabled twice: interface n2/e0 and interface n1/e0 (at ", at: `mac: "02:00:00:00:00:02"`},
		{name: "uplink on a node's port", old: "switch: spine-1, port: Ethernet1}", new: "switch: leaf-r1, port: Ethernet1}",
			want: "port leaf-r1 Ethernet1 is cabled twice: the provisioning host's uplink and interface n2/e0", at: "uplink:"},
		{name: "port without switch", old: "pxe: true, switch: leaf-r1, port: Ethernet1}", new: "pxe: true, port: Ethernet1}",
			want: `interface n2/e0 names port "Ethernet1" but no switch`, at: `{name: e0, mac: "02:00:00:00:00:02"`},
		{name: "switch without port", old: "switch: leaf-r1, port: Ethernet1}", new: "switch: leaf-r1}",
			want: `interface n2/e0 is cabled to switch "leaf-r1" but names no port`, at: "leaf-r1}"},
		{name: "vlan not on a fixed port", old: "vlans: [100, 200]", new: "vlans: [100, 300]",
			want: `n1/e1 is on network storage (VLAN 200, `, at: "switch: leaf-r1, port: Ethernet8"},
		{name: "unknown os", old: "os: eos", new: "os: junos", want: `unknown os "junos" for switch "spine-1"`, at: "junos"},
		{name: "no os", old: "{name: spine-1, os: eos}", new: "{name: spine-1}", want: `switch "spine-1" has no os`},
		{name: "duplicate switch", old: "  - {name: spine-1, os: eos}\n", new: "  - {name: spine-1, os: eos}\n  - {name: spine-1, os: nvue}\n", want: `duplicate switch "spine-1": also at`, at: "spine-1, os: nvue"},
		{name: "bad vlan id", old: "vlans: [100, 200]", new: "vlans: [100, 200, 5000]", want: "VLAN 5000 on leaf-r1 Ethernet8 is outside 1-4094"},
		{name: "port listed twice", old: "          - {name: Ethernet8, vlans: [100, 200]}\n", new: "          - {name: Ethernet8, vlans: [100, 200]}\n          - {name: Ethernet8, vlans: [200]}\n",
			want: `switch "leaf-r1" lists port Ethernet8 twice`, at: "- {name: Ethernet8, vlans: [200]}"},
		{name: "unknown field", old: "{name: spine-1, os: eos}", new: "{name: spine-1, os: eos, mgmt: 10.0.0.1}", want: `unknown field "mgmt" in switch`, at: "mgmt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(cabledSite, tc.old) {
				t.Fatalf("test bug: %q not in the base site", tc.old)
			}
			body := strings.Replace(cabledSite, tc.old, tc.new, 1)
			at := tc.at
			if at == "" {
				at = strings.TrimSpace(strings.SplitN(tc.new, "\n", 2)[0])
			}
			idx := strings.Index(body, at)
			if idx < 0 {
				t.Fatalf("test bug: %q not in the changed site", at)
			}
			line := strings.Count(body[:idx], "\n") + 1
			path := writeFile(t, t.TempDir(), "site.yaml", body)
			errs := loadErrors(t, path)
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %d:\n%v", len(errs), errs)
			}
			e := errs[0]
			if !strings.Contains(e.Msg, tc.want) || e.Pos.Line != line || e.Hint == "" {
				t.Errorf("got %s (hint %q)\nwant line %d: %s", e.Pos.String()[len(filepath.Dir(path))+1:]+": "+e.Msg, e.Hint, line, tc.want)
			}
		})
	}
}
