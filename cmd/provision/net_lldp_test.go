package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/internal/testenv"
)

// TestNetApplyChecksUplink: `provision net apply` on the example site (whose uplink is
// leaf-a01 Ethernet48) listens on the trunk, where lldpd says the port carries VLANs
// 100, 110 and 300: the apply exits 1 naming VLAN 200 of network storage at site.yaml.
func TestNetApplyChecksUplink(t *testing.T) {
	bin := filepath.Join(testenv.Bin(t), "provision")
	testenv.NeedFile(t, bin)
	pr := lldpd.NewPair(t, lldpd.Port{System: "leaf-a01", PortID: "Ethernet48", Description: "provisioning host uplink",
		VLANs: []lldpd.VLAN{{ID: 100}, {ID: 110}, {ID: 300}}, MaxFrameSize: 9216})
	inv := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site")
	cmd := exec.Command("ip", "netns", "exec", pr.Node.Name, bin, "net", "apply", "-i", inv, "--trunk", pr.NodeIf, "--kind", "macvlan",
		"--no-verify", "--state", filepath.Join(t.TempDir(), "net-state.json"))
	out, _ := cmd.CombinedOutput()
	want := "leaf-a01 Ethernet48 advertises VLANs 100, 110 and 300 but not 200, which network storage needs (site.yaml:50)"
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Errorf("net apply: exit %d, want 1 naming %q:\n%s", cmd.ProcessState.ExitCode(), want, out)
	}
	if !strings.Contains(string(out), "lldp."+pr.NodeIf+".cabling") {
		t.Errorf("net apply does not show the trunk's cabling check:\n%s", out)
	}
}
