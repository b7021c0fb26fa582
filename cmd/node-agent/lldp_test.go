package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/lab/lldpd"
	"github.com/racklift/racklift/pkg/check"
)

// TestLLDPCommand runs `node-agent lldp --interface IF --wait 35s -o json` in a node
// namespace cabled to lldpd: it prints the switch's port, VLANs and frame size, and a
// silent interface exits 1 saying nobody spoke.
func TestLLDPCommand(t *testing.T) {
	bin := agentBin(t)
	pr := lldpd.NewPair(t, lldpd.Port{System: "leaf-a02", PortID: "Ethernet7", Description: "gpu-a01-01 eth1",
		PVID: 100, VLANs: []lldpd.VLAN{{ID: 100, Name: "provisioning"}, {ID: 300, Name: "compute"}}, MaxFrameSize: 1518})
	out, err := exec.Command("ip", "netns", "exec", pr.Node.Name, bin, "lldp", "--interface", pr.NodeIf, "--wait", "35s", "-o", "json").Output()
	if err != nil {
		t.Fatalf("node-agent lldp: %v\n%s", err, out)
	}
	var l check.LLDP
	if err := json.Unmarshal(out, &l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !l.Heard || l.Interface != pr.NodeIf || l.SystemName != "leaf-a02" || l.PortID != "Ethernet7" || l.PortDescription != "gpu-a01-01 eth1" ||
		l.VLANText() != "100 (untagged) and 300" || l.MaxFrameSize != 1518 || l.WaitSeconds != 35 {
		t.Errorf("node-agent lldp -o json: %+v", l)
	}
	text, err := exec.Command("ip", "netns", "exec", pr.Node.Name, bin, "lldp", "--interface", pr.NodeIf).Output()
	if err != nil || !strings.Contains(string(text), "leaf-a02 Ethernet7") || !strings.Contains(string(text), "100 (untagged) and 300") {
		t.Errorf("node-agent lldp: %v\n%s", err, text)
	}
	// The switch's end hears nothing: no LLDP daemon on the node's side.
	silent := exec.Command("ip", "netns", "exec", pr.Switch.Name, bin, "lldp", "--interface", pr.SwitchIf, "--wait", "1s")
	so, _ := silent.Output()
	if silent.ProcessState.ExitCode() != 1 || !strings.Contains(string(so), "no LLDP within 1 s") {
		t.Errorf("a silent interface: exit %d\n%s", silent.ProcessState.ExitCode(), so)
	}
}
