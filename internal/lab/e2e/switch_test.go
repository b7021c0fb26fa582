package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// TestSwitchSideEndToEnd is issue 16's end-to-end line, in one boot of the lab rack
// whose switch ports speak LLDP (one lldpd per guest NIC): lab-01's ports are as the
// inventory cables them, lab-02's storage cable is swapped with lab-03's, and lab-03's
// storage port drops VLAN 200 and allows 1518-byte frames. lab-01's report names its
// switch and ports and passes; lab-02 and lab-03 fail with the cabling checks' messages
// (names, ports, VLAN, file:line), which `provision status` shows as their reasons.
func TestSwitchSideEndToEnd(t *testing.T) {
	knobs, err := rack.ParseSwitchKnobs([]string{"lab-02:miscable", "lab-03:drop-vlan=200,frame-size=1518"})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRigSwitch(t, knobs)
	r.StartServe()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	res, errOut, code := r.Up(ctx, "all")
	if code != cli.CodeSomeFailed || res.Failed != 2 {
		t.Fatalf("up all: exit %d, %d failed; want exit 4 (some failed) with lab-02 and lab-03 failed\n%+v\n%s", code, res.Failed, res.Nodes, errOut)
	}
	// The ramdisk's kernel names the NICs itself (eth0, eth1): the messages use its names,
	// found by MAC in what each node reported.
	ifName := func(node, mac string) string {
		for _, l := range r.report(ctx, node).LLDP {
			if l.MAC == mac {
				return l.Interface
			}
		}
		t.Fatalf("%s reported no LLDP for its NIC %s", node, mac)
		return ""
	}
	lab := func(s string) string {
		return filepath.Join("racks", "lab.yaml") + ":" + lineOf(t, filepath.Join(r.inv, "racks", "lab.yaml"), s)
	}
	site := func(s string) string { return "site.yaml:" + lineOf(t, filepath.Join(r.inv, "site.yaml"), s) }
	want := map[string][]string{
		"lab-02": {ifName("lab-02", "52:54:00:04:c8:02") + " (52:54:00:04:c8:02) is cabled to leaf-lab Ethernet13, the inventory says leaf-lab Ethernet12 (" + lab("52:54:00:04:c8:02") + ")"},
		"lab-03": {
			"leaf-lab Ethernet13 advertises VLANs 1 (untagged) but not 200, which network storage needs (" + site("vlan: 200") + ")",
			"leaf-lab Ethernet13 allows frames up to 1518 bytes; network storage wants MTU 9000 (" + site("mtu: 9000") + ")",
		},
	}
	st := r.status(ctx)
	if n := st["lab-01"]; n.Phase != lifecycle.Ready {
		t.Errorf("lab-01 (every knob off): %s (%s), want ready", n.Phase, n.Reason)
	}
	table, _, _ := r.provision(ctx, "status")
	for node, msgs := range want {
		n := st[node]
		if n.Phase != lifecycle.Failed {
			t.Errorf("%s: %s, want failed", node, n.Phase)
		}
		for _, m := range msgs {
			if !strings.Contains(n.Reason, m) {
				t.Errorf("%s's reason lacks %q:\n%s", node, m, n.Reason)
			}
			if !strings.Contains(table, m) {
				t.Errorf("provision status does not show %q:\n%s", m, table)
			}
		}
	}

	// lab-01's report: what each NIC heard names its switch and port, and every cabling
	// check passed.
	rep := r.report(ctx, "lab-01")
	heard := map[string]string{}
	for _, l := range rep.LLDP {
		heard[l.MAC] = l.Switch() + " " + l.Port()
	}
	if heard["52:54:00:04:00:01"] != "leaf-lab Ethernet1" || heard["52:54:00:04:c8:01"] != "leaf-lab Ethernet11" {
		t.Errorf("lab-01 heard %v, want its first NIC on leaf-lab Ethernet1 and its second on leaf-lab Ethernet11", heard)
	}
	passed := 0
	for _, c := range rep.Results {
		if strings.HasPrefix(c.Name, "lldp.") {
			if c.Status != check.Pass {
				t.Errorf("lab-01 %s: %s %s", c.Name, c.Status, c.Message)
			}
			passed++
		}
	}
	// ens3: cabling and frame size; ens4: cabling, VLANs and frame size.
	if passed != 5 {
		t.Errorf("lab-01 has %d LLDP checks, want 5: %+v", passed, rep.Results)
	}
	// The export's diff against what the nodes heard: what each storage port needs.
	diff, errOut, code := r.provision(ctx, "export", "switch", "leaf-lab", "-i", r.inv, "--diff")
	if code != 0 {
		t.Fatalf("provision export switch leaf-lab --diff: exit %d: %s", code, errOut)
	}
	for _, line := range []string{
		"leaf-lab Ethernet11 (lab-01 ens4): as the inventory wants\n",
		"leaf-lab Ethernet12 (lab-02 ens4): its cable is in leaf-lab Ethernet13 (ens4 heard it there)",
		"leaf-lab Ethernet13 (lab-03 ens4): add tagged VLAN 200 (storage); raise the MTU to 9018 (frames up to 1518 bytes now, 9018 needed)\n",
	} {
		if !strings.Contains(diff, line) {
			t.Errorf("export --diff lacks %q:\n%s", line, diff)
		}
	}
	t.Logf("lab-02: %s\nlab-03: %s\n%s", st["lab-02"].Reason, st["lab-03"].Reason, diff)
}

// lineOf is the line number (as text) of the first line of path holding s.
func lineOf(t *testing.T, path, s string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(b), s)
	if i < 0 {
		t.Fatalf("%s holds no %q", path, s)
	}
	return strconv.Itoa(strings.Count(string(b[:i]), "\n") + 1)
}

// report is the node's last report as `provision report NODE -o json` prints it.
func (r *Rig) report(ctx context.Context, node string) *check.Report {
	r.t.Helper()
	out, errOut, code := r.provision(ctx, "report", node, "-o", "json")
	if code != 0 {
		r.t.Fatalf("provision report %s: exit %d: %s", node, code, errOut)
	}
	var d api.NodeDetail
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.Report == nil {
		r.t.Fatalf("provision report %s -o json: %v\n%s", node, err, out)
	}
	return d.Report
}
