package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/nodelock"
)

// Every run builds its command tree afresh: the flags one run was given (-o json,
// --force, --http-port) are not there in the next, and the same commands give the same
// results twice.
func TestEachRunHasAFreshTree(t *testing.T) {
	t.Parallel()
	site, broken := repo("inventory/examples/site"), repo("inventory/testdata/broken")
	wantRefusal := nodelock.Check(nodelock.Node{Name: "gpu-a01-04", Protected: true}, "power cycle", false).Error()
	var first []string
	for round := range 2 {
		var outs []string
		keep := func(s ...string) { outs = append(outs, strings.Join(s, "\x00")) }

		out, errOut, code := runCLI(t, "validate", "-i", site)
		if code != 0 || out != "ok: 8 nodes in 2 racks, 4 networks\n" || errOut != "" {
			t.Errorf("round %d: validate site: %d %q %q", round, code, out, errOut)
		}
		keep(out, errOut)
		out, errOut, code = runCLI(t, "validate", "-i", broken)
		if code != 3 || out != "" || !strings.Contains(errOut, "inventory/testdata/broken/site.yaml:27:5: unknown field \"vlna\" in network") ||
			!strings.HasSuffix(errOut, "\n38 error(s) in the inventory\n") {
			t.Errorf("round %d: validate broken: %d %q %q", round, code, out, errOut)
		}
		keep(out, errOut)

		out, _, code = runCLI(t, "plan", "-i", site, "-o", "json", "--http-port", "9000")
		var p struct{ Nodes []struct{ Node string } }
		if err := json.Unmarshal([]byte(out), &p); err != nil || code != 0 || len(p.Nodes) != 8 || !strings.Contains(out, ":9000/ipxe/") {
			t.Errorf("round %d: plan -o json: %d %v %d nodes", round, code, err, len(p.Nodes))
		}
		keep(out)
		// No -o and no --http-port: the table with the default port.
		out, _, code = runCLI(t, "plan", "-i", site, "gpu-a01-01")
		if code != 0 || !strings.HasPrefix(out, "NODE ") || !strings.Contains(out, ":8080/ipxe/") {
			t.Errorf("round %d: plan after plan -o json: %d\n%s", round, code, out)
		}
		keep(out)

		// --force lets a dry run through on the protected node; the next run has no --force.
		out, _, code = runCLI(t, "power", "cycle", "gpu-a01-04", "-i", site, "--dry-run", "--force", "-o", "json")
		var rep bmc.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Results) != 1 || rep.Results[0].Result != "dry-run" {
			t.Errorf("round %d: power cycle --dry-run --force: %d %v\n%s", round, code, err, out)
		}
		out, errOut, code = runCLI(t, "power", "cycle", "gpu-a01-04", "-i", site, "--dry-run")
		if code != 5 || !strings.Contains(out, "refused") || !strings.Contains(out, wantRefusal) || errOut != "power cycle: 1 of 1 nodes failed\n" {
			t.Errorf("round %d: power cycle --dry-run on a protected node without --force: %d\n%s%s", round, code, out, errOut)
		}
		keep(out, errOut)

		if round == 0 {
			first = outs
			continue
		}
		for i := range outs {
			if outs[i] != first[i] {
				t.Errorf("output %d differs between two runs:\n%s\n---\n%s", i, first[i], outs[i])
			}
		}
	}
}

// boot pxe and boot bios take a node away from its OS at its next start: refused on a
// protected or maintenance node without --force, in the policy's own words (as power);
// boot disk is harmless and goes through.
func TestBootRefusesLockedNodes(t *testing.T) {
	t.Parallel()
	site := repo("inventory/examples/site")
	for _, dev := range []string{"pxe", "bios"} {
		t.Run(dev, func(t *testing.T) {
			want := nodelock.Check(nodelock.Node{Name: "gpu-a01-04", Protected: true}, "boot "+dev, false).Error()
			out, errOut, code := runCLI(t, "boot", dev, "gpu-a01-04", "-i", site, "--timeout", "2s")
			if code != 5 || !strings.Contains(out, "refused") || !strings.Contains(out, want) || errOut != "boot "+dev+": 1 of 1 nodes failed\n" {
				t.Errorf("boot %s on a protected node without --force: %d\n%s%s", dev, code, out, errOut)
			}
			out, _, code = runCLI(t, "boot", dev, "gpu-a01-04", "-i", site, "--dry-run", "--force", "-o", "json")
			var rep bmc.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || len(rep.Results) != 1 || rep.Results[0].Result != "dry-run" {
				t.Errorf("boot %s --dry-run --force: %d %v\n%s", dev, code, err, out)
			}
		})
	}
	out, _, code := runCLI(t, "boot", "disk", "gpu-a01-04", "-i", site, "--dry-run", "-o", "json")
	var rep bmc.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Results[0].Result != "dry-run" {
		t.Errorf("boot disk --dry-run on a protected node: %d %v\n%s", code, err, out)
	}
}
