package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `provision net plan` shows which networks serve answers directly and which through
// which relays (issue 17), in text and in JSON.
func TestNetPlanShowsRelays(t *testing.T) {
	t.Parallel()
	site := `site: relay
defaults: {profile: p, bmc: {credentials: c}}
credentials: [{name: c, username: admin}]
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, vlan: 100, dhcp: {mode: reservation}}
  - {name: pod-b, cidr: 10.2.0.0/24, gateway: 10.2.0.1, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation, relays: [10.2.0.1, 10.2.0.2]}}
profiles: [{name: p, boot: {kernel: k}}]
racks:
  - rack: r1
    nodes:
      - {name: a1, unit: 1, bmc: {address: 10.8.0.1}, interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}]}
      - {name: b1, unit: 2, bmc: {address: 10.8.0.2}, interfaces: [{name: e0, mac: "02:00:00:00:00:02", network: pod-b, address: 10.2.0.11, pxe: true}]}
`
	dir := t.TempDir()
	inv := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(inv, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "net-state.json")
	out, errOut, code := runCLI(t, "net", "plan", "-i", inv, "--trunk", "lo", "--state", state)
	for _, want := range []string{
		"+ address 10.1.0.1/24 on lo.100 (prov)",
		"prov (10.1.0.0/24 VLAN 100, reservation, 1 node(s)): served directly on 10.1.0.1/24",
		"pod-b (10.2.0.0/24, reservation, 1 node(s)): via relay 10.2.0.1, 10.2.0.2 → serve at 10.1.0.1",
	} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("net plan: exit %d, no %q in:\n%s%s", code, want, out, errOut)
		}
	}
	if strings.Contains(out, "10.2.0.") && strings.Contains(out, "+ address 10.2.0") {
		t.Errorf("net plan puts the host on the relayed network:\n%s", out)
	}
	out, _, code = runCLI(t, "net", "plan", "-i", inv, "--trunk", "lo", "--state", state, "-o", "json")
	var doc struct {
		Action string `json:"action"`
		DHCP   []struct {
			Network string   `json:"network"`
			Relays  []string `json:"relays"`
		} `json:"dhcp"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 || doc.Action != "plan" || len(doc.DHCP) != 2 ||
		doc.DHCP[0].Network != "prov" || len(doc.DHCP[0].Relays) != 0 || doc.DHCP[1].Network != "pod-b" || strings.Join(doc.DHCP[1].Relays, ",") != "10.2.0.1,10.2.0.2" {
		t.Errorf("net plan -o json: exit %d, %v, %+v\n%s", code, err, doc, out)
	}
}
