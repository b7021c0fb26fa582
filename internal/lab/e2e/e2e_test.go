package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/lifecycle"
)

// lab04 is a fourth machine cabled and behind its BMC, but not in the inventory until
// the test adds it while serve runs.
var lab04 = rack.Node{Name: "lab-04", BMCPort: 8444, PXEMAC: "52:54:00:04:00:04", StorageMAC: "52:54:00:04:c8:04"}

const lab04Stanza = `  - name: lab-04
    unit: 4
    bmc: {address: 127.0.0.1, protocol: redfish, port: 8444, vendor: racklift-virtual}
    interfaces:
      - {name: ens3, mac: "52:54:00:04:00:04", network: provisioning, address: 10.204.0.14, pxe: true}
      - {name: ens4, mac: "52:54:00:04:c8:04", network: storage, address: 10.204.200.14}
`

// withNode puts a node stanza at the end of a rack file's nodes list (the first blank line
// after "nodes:"; other sections such as switches: may follow it).
func withNode(rack, stanza string) string {
	at := strings.Index(rack, "\nnodes:\n")
	if at < 0 {
		return rack + stanza
	}
	end := strings.Index(rack[at:], "\n\n")
	if end < 0 {
		return rack + stanza
	}
	end += at + 1
	return rack[:end] + stanza + rack[end:]
}

// secretArg is a bootstrap secret as the kernel command line carries it: the guests'
// consoles must never show one (quiet).
var secretArg = regexp.MustCompile(`racklift\.bootstrap=(\S+)`)

// TestRackUpEndToEnd is issue 7's end-to-end line, on the lab rack with the real binaries:
//  1. lab-02's BMC hangs; `up all` runs, and serve is SIGKILLed mid-up and restarted:
//     up completes, lab-01 and lab-03 end ready, lab-02 failed with a reason naming its
//     BMC, and the BMCs' own counters show one power-on per node;
//  2. no bootstrap secret shows on a guest's serial console; an agent report without the
//     node's certificate, or a made-up bootstrap, is refused and changes nothing;
//  3. lab-04 is added to the inventory file while serve runs and, with lab-02's BMC
//     answering again, `up lab-02 lab-04` brings both to ready without a restart:
//     every node of the rack is then ready.
func TestRackUpEndToEnd(t *testing.T) {
	r := NewRig(t, lab04)
	r.StartServe()
	page := r.dashboard(t) // open through the whole up, serve's SIGKILL and restart
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()

	hung := r.rack.Redfish("lab-02")
	hung.SetFaults(redfish.Faults{Hang: true})

	// 1. up all, with serve killed once a node is past pxe.
	upOut := filepath.Join(r.dir, "up-all.json")
	up := exec.CommandContext(ctx, r.bin, "up", "all", "-o", "json", "--state-dir", r.stateDir)
	up.Env = r.env
	f, _ := os.Create(upOut)
	var upErr strings.Builder
	up.Stdout, up.Stderr = f, &upErr
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	upDone := make(chan error, 1)
	go func() { upDone <- up.Wait(); f.Close() }()

	// Killed once both answering nodes are past pxe (a PXE ROM whose script fetch finds
	// serve down gives up, and its node is rightly retried with a second power cycle),
	// and before both are ready.
	r.waitFor("lab-01 and lab-03 past pxe", 10*time.Minute, func() bool {
		st := r.status(ctx)
		past, ready := 0, 0
		for _, n := range []string{"lab-01", "lab-03"} {
			switch st[n].Phase {
			case lifecycle.Booting, lifecycle.Agent, lifecycle.Validating:
				past++
			case lifecycle.Ready:
				past++
				ready++
			case lifecycle.Failed:
				t.Fatalf("%s failed before serve was killed: %s", n, st[n].Reason)
			}
		}
		if ready == 2 {
			t.Fatal("lab-01 and lab-03 were both ready before serve could be killed mid-up")
		}
		return past == 2
	})
	before := r.status(ctx)
	t.Logf("killing serve (SIGKILL) mid-up: lab-01 %s, lab-02 %s, lab-03 %s", before["lab-01"].Phase, before["lab-02"].Phase, before["lab-03"].Phase)
	r.killServe()
	time.Sleep(3 * time.Second) // up notices serve is gone and waits
	r.StartServe()

	select {
	case err := <-upDone:
		code := up.ProcessState.ExitCode()
		if code != 4 {
			t.Fatalf("up all with lab-02's BMC hung: exit %d (%v), want 4 (some nodes failed)\n%s\n%s", code, err, tail(upOut, 40), upErr.String())
		}
	case <-ctx.Done():
		t.Fatal("up all did not finish")
	}
	st := r.status(ctx)
	for _, n := range []string{"lab-01", "lab-03"} {
		if st[n].Phase != lifecycle.Ready {
			t.Errorf("%s: %s (%s), want ready", n, st[n].Phase, st[n].Reason)
		}
	}
	if st["lab-02"].Phase != lifecycle.Failed || !strings.Contains(st["lab-02"].Reason, "https://127.0.0.1:8442") {
		t.Errorf("lab-02 (BMC hung): %s, reason %q; want failed naming https://127.0.0.1:8442", st["lab-02"].Phase, st["lab-02"].Reason)
	}
	for _, n := range []string{"lab-01", "lab-03"} {
		if c := r.rack.PowerCycles(n); c != 1 {
			t.Errorf("%s's BMC counted %d power cycles for one attempt across a serve SIGKILL, want 1", n, c)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	dashboardShows(t, page, map[string]lifecycle.Phase{"lab-01": lifecycle.Ready, "lab-02": lifecycle.Failed, "lab-03": lifecycle.Ready})

	// 2. No secret on the consoles; reports without the node's certificate, and a made-up
	// bootstrap, are refused.
	for _, n := range []string{"lab-01", "lab-03"} {
		if m := secretArg.FindStringSubmatch(r.rack.Guest(n).Log()); m != nil {
			t.Errorf("%s's serial console shows its bootstrap secret (racklift.bootstrap=%.4s...)", n, m[1])
		}
	}
	caPin := r.caPin()
	reportAt := st["lab-01"].ReportAt
	body := `{"node":"lab-01","agent":"forged","results":[{"name":"gpu.count","status":"fail","message":"forged"}],"failed":true}`
	for _, c := range []struct {
		what, path, body string
		want             int
	}{
		{"a report without a certificate", "report", body, 401},
		{"a made-up bootstrap", "bootstrap", `{"bootstrap":"bm90LWEtcmVhbC10b2tlbg","csr":"-----BEGIN CERTIFICATE REQUEST-----"}`, 401},
	} {
		code, err := r.agentPost("lab-01", caPin, c.path, c.body)
		if err != nil || code != c.want {
			t.Errorf("lab-01: %s: %d (%v), want %d", c.what, code, err, c.want)
		}
	}
	if n := r.status(ctx)["lab-01"]; n.Phase != lifecycle.Ready || !n.ReportAt.Equal(reportAt) {
		t.Errorf("a refused report changed lab-01: %s, report at %v (was %v)", n.Phase, n.ReportAt, reportAt)
	}

	// 3. Hot-add lab-04, un-hang lab-02, bring both up without restarting serve.
	rackFile := filepath.Join(r.inv, "racks", "lab.yaml")
	b, err := os.ReadFile(rackFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rackFile, []byte(withNode(string(b), lab04Stanza)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.waitFor("serve to enrol lab-04 from the edited inventory", 60*time.Second, func() bool {
		_, ok := r.status(ctx)["lab-04"]
		return ok
	})
	hung.SetFaults(redfish.Faults{})
	lab02Before := r.rack.PowerCycles("lab-02")
	res, errOut, code := r.Up(ctx, "lab-02", "lab-04")
	if code != 0 {
		t.Fatalf("up lab-02 lab-04: exit %d\n%s\n%+v", code, errOut, res.Nodes)
	}
	if c := r.rack.PowerCycles("lab-04"); c != 1 {
		t.Errorf("lab-04's BMC counted %d power cycles, want 1", c)
	}
	if c := r.rack.PowerCycles("lab-02") - lab02Before; c != 1 {
		t.Errorf("lab-02's BMC counted %d power cycles for its second up, want 1", c)
	}
	st = r.status(ctx)
	for _, n := range []string{"lab-01", "lab-02", "lab-03", "lab-04"} {
		if st[n].Phase != lifecycle.Ready {
			t.Errorf("%s: %s (%s), want ready", n, st[n].Phase, st[n].Reason)
		}
	}

	// The report shows what the lab profile expects: storage measured on the guest's
	// disk, the storage VLAN set up and verified in the guest.
	out, _, code := r.provision(ctx, "report", "lab-02")
	if code != 0 {
		t.Fatalf("provision report lab-02: exit %d\n%s", code, out)
	}
	for _, want := range []string{"/scratch", "MB/s", "storage", "200"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision report lab-02 lacks %q:\n%s", want, out)
		}
	}
}
