package netsetup_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/netsetup"
)

// The operator's path, on the built binary, in a namespace standing in for the provisioning
// host: plan, apply --dry-run (nothing changes), apply (verification probes each network),
// apply again (no change), -o json, down.
func TestProvisionNetCLI(t *testing.T) {
	testenv.NeedRoot(t)
	bin := filepath.Join(testenv.Bin(t), "provision")
	testenv.NeedFile(t, bin)
	t.Parallel()
	ns := netns.New(t)
	trunk := netns.IfName("tr")
	if _, err := ns.Veth(trunk, netns.IfName("sw"), nil, 1500); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site")
	state := filepath.Join(t.TempDir(), "state.json")
	run := func(wantRC int, args ...string) string {
		t.Helper()
		out, err := ns.Command(context.Background(), bin, append(args, "--state", state)...).CombinedOutput()
		rc := 0
		if ee, ok := err.(*exec.ExitError); ok {
			rc = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("$ provision %s (rc %d)\n%s", strings.Join(args, " "), rc, out)
		if rc != wantRC {
			t.Fatalf("provision %s: exit %d, want %d", strings.Join(args, " "), rc, wantRC)
		}
		return string(out)
	}
	host := []string{"-i", inv, "--trunk", trunk, "--kind", "macvlan"}
	out := run(0, append([]string{"net", "plan"}, host...)...)
	for _, want := range []string{"+ link " + trunk + ".100 (provisioning)", "+ address 10.10.0.2/22 on " + trunk + ".100", "+ address 10.10.8.2/24 on " + trunk + ".110 (bmc)", "run apply"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q", want)
		}
	}
	out = run(0, append([]string{"net", "apply", "--dry-run"}, host...)...)
	if !strings.Contains(out, "dry run: nothing changed") {
		t.Error("dry run does not say nothing changed")
	}
	if _, err := ns.Link(trunk + ".100"); err == nil {
		t.Fatal("--dry-run created a link")
	}
	// The example site's gateways do not exist in this namespace: apply sets the links up,
	// then its verification names each silent gateway and exits 1.
	out = run(1, append([]string{"net", "apply", "-o", "json"}, host...)...)
	var r netsetup.Report
	if err := json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &r); err != nil {
		t.Fatalf("apply -o json: %v", err)
	}
	if !r.Applied || len(r.Changes) != 4 {
		t.Errorf("apply report: applied %v, %d changes, want applied with 4", r.Applied, len(r.Changes))
	}
	failed := strings.Join(r.Failed(), " ")
	if failed != "net.provisioning.gateway net.bmc.gateway" {
		t.Errorf("failed checks %q, want the two unanswered gateways", failed)
	}
	if !strings.Contains(out, "gateway 10.10.0.1 sends no ARP reply") || !strings.Contains(out, "2 network check(s) failed") {
		t.Error("apply does not name the silent gateway")
	}
	out = run(0, append([]string{"net", "plan"}, host...)...)
	if !strings.Contains(out, "no changes") {
		t.Error("plan after apply is not empty")
	}
	out = run(0, "net", "down")
	if !strings.Contains(out, "- link "+trunk+".100 (provisioning)") {
		t.Error("down does not remove the provisioning link")
	}
	if _, err := ns.Link(trunk + ".110"); err == nil {
		t.Error("down left the bmc link")
	}
	if out := run(1, "net", "plan", "-i", inv); !strings.Contains(out, "--trunk IFACE is required") {
		t.Error("plan without --trunk does not ask for it")
	}
}
