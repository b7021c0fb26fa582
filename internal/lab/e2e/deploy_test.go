package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/cli"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
)

// labImage is `make image`'s output: the lab's OS image (zstd) and the sha256 of its raw
// bytes beside it.
func labImage(t *testing.T) (path, sha string) {
	t.Helper()
	path = filepath.Join(testenv.Cache(), "image", "racklift-lab.raw.zst")
	testenv.NeedFile(t, path) // make image
	b, err := os.ReadFile(path + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) == 0 || len(f[0]) != 64 {
		t.Fatalf("%s.sha256: no sha256 in %q", path, b)
	}
	return path, f[0]
}

// withImages puts the lab image under the rig's artifacts twice (good, and with one
// byte changed in the middle of its compressed stream: a checksum mismatch once the
// agent has written it), and gives each node its own profile: lab-01 the good image,
// lab-02 the corrupted one, lab-03 hints no disk matches.
func (r *Rig) withImages(t *testing.T) string {
	t.Helper()
	path, sha := labImage(t)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(r.arts, "images")
	os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "lab.raw.zst"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	// zstd checks its frames' content checksum only when the frame has one: flip a byte
	// in a literal far from the headers and the decoded bytes (or the decoder) differ.
	bad := append([]byte(nil), b...)
	bad[len(bad)/2] ^= 0x5a
	if err := os.WriteFile(filepath.Join(dir, "corrupt.raw.zst"), bad, 0o644); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(r.inv, "site.yaml")
	s, err := os.ReadFile(site)
	if err != nil {
		t.Fatal(err)
	}
	profile := func(name, artifact, hints string) string {
		return "  - name: " + name + "\n    boot:\n      kernel: lab/vmlinuz\n      initrd: lab/initrd.img\n" +
			"      cmdline: console=ttyS0,115200n8 panic=10 racklift.mount=/dev/vda:/scratch\n" +
			"    image: {file: images/" + artifact + ", sha256: " + sha + ", root_device: " + hints + "}\n" +
			"    expect: {networks: [provisioning, storage]}\n"
	}
	profiles := profile("lab-good", "lab.raw.zst", "{min_size_gib: 2}") +
		profile("lab-corrupt", "corrupt.raw.zst", "{min_size_gib: 2}") +
		profile("lab-nodisk", "lab.raw.zst", "{min_size_gib: 100}")
	out := strings.Replace(string(s), "profiles:\n", "profiles:\n"+profiles, 1)
	if err := os.WriteFile(site, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	rackFile := filepath.Join(r.inv, "racks", "lab.yaml")
	rb, err := os.ReadFile(rackFile)
	if err != nil {
		t.Fatal(err)
	}
	rs := string(rb)
	for node, p := range map[string]string{"lab-01": "lab-good", "lab-02": "lab-corrupt", "lab-03": "lab-nodisk"} {
		rs = strings.Replace(rs, "  - name: "+node+"\n", "  - name: "+node+"\n    profile: "+p+"\n", 1)
	}
	if err := os.WriteFile(rackFile, []byte(rs), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := r.provision(context.Background(), "validate", "-i", r.inv); code != 0 {
		t.Fatalf("the deploy inventory does not validate:\n%s", out)
	}
	return sha
}

func (r *Rig) deploys(ctx context.Context, node string) int {
	out, _, _ := r.provision(ctx, "events", node)
	return strings.Count(out, string(lifecycle.DeployDone))
}

// TestRackDeployEndToEnd is issue 13's end-to-end line on the lab rack:
//  1. up all: lab-01 deploys the lab image (serve is SIGKILLed while it deploys and
//     restarted), reboots into it and its installed agent reports from its disk: ready,
//     one deploy, two power actions (PXE, then disk); lab-02's image is corrupted: failed
//     with both sums, its disk never booted; lab-03's hints match no disk: failed naming
//     the disks it saw;
//  2. up lab-01 again: nothing, no power action;
//  3. up --reprovision lab-01: one more deploy, ready from its disk again.
func TestRackDeployEndToEnd(t *testing.T) {
	// Needs the OS image: make test builds it first (make image), as does make test-deploy,
	// which runs only this test.
	r := NewRig(t)
	sha := r.withImages(t)
	r.StartServe()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	// An attacker on the provisioning segment: the boot scripts go over plain HTTP.
	sniff, err := r.rack.Sniff()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sniff.Close() })

	upDone := make(chan int, 1)
	go func() {
		_, _, code := r.provision(ctx, "up", "all", "-o", "json")
		upDone <- code
	}()
	r.waitFor("lab-01 deploying", 20*time.Minute, func() bool {
		p := r.status(ctx)["lab-01"].Phase
		if p == lifecycle.Failed || p == lifecycle.Ready {
			t.Fatalf("lab-01 %s before serve could be killed during its deploy: %s", p, r.status(ctx)["lab-01"].Reason)
		}
		return p == lifecycle.Deploying || p == lifecycle.Rebooting
	})
	t.Logf("killing serve (SIGKILL) with lab-01 %s", r.status(ctx)["lab-01"].Phase)
	r.killServe()
	time.Sleep(3 * time.Second)
	r.StartServe()
	select {
	case code := <-upDone:
		if code != cli.CodeSomeFailed {
			t.Errorf("up all: exit %d, want 4 (some failed: lab-02 and lab-03)", code)
		}
	case <-ctx.Done():
		t.Fatal("up all did not finish")
	}

	st := r.status(ctx)
	if n := st["lab-01"]; n.Phase != lifecycle.Ready || n.BootSource != check.BootDisk || n.Deployed == nil || n.Deployed.SHA256 != sha {
		t.Fatalf("lab-01: %s from %q, deployed %+v (%s); want ready from its disk with the image", n.Phase, n.BootSource, n.Deployed, n.Reason)
	}
	if d, c := r.deploys(ctx, "lab-01"), r.rack.PowerCycles("lab-01"); d != 1 || c != 2 {
		t.Errorf("lab-01: %d deploys, %d power actions; want 1 and 2", d, c)
	}
	// The flipped byte is caught by zstd's own check (an image failure) or, when the
	// decoder passes it through, by the sha256 (both sums named): never a disk error.
	why := st["lab-02"].Reason
	bothSums := strings.Contains(why, "checksum mismatch") && strings.Contains(why, "expected sha256 "+sha) && strings.Contains(why, ", got ")
	damaged := strings.Contains(why, "the image is damaged")
	if n := st["lab-02"]; n.Phase != lifecycle.Failed || !(bothSums || damaged) {
		t.Errorf("lab-02 (corrupted image): %s %q; want failed naming the damaged image or both sums", n.Phase, n.Reason)
	} else if n.Deployed != nil || r.rack.PowerCycles("lab-02") != 1 {
		t.Errorf("lab-02: deployed %+v, %d power actions; its half-written disk must never boot", n.Deployed, r.rack.PowerCycles("lab-02"))
	}
	if n := st["lab-03"]; n.Phase != lifecycle.Failed || !strings.Contains(n.Reason, "no disk matches the root device hints (at least 100 GiB)") || !strings.Contains(n.Reason, "/dev/vdb") {
		t.Errorf("lab-03 (hints match no disk): %s %q; want failed naming the disks", n.Phase, n.Reason)
	}
	out, _, _ := r.provision(ctx, "report", "lab-01")
	for _, want := range []string{"boot source: disk", "deploy: image lab", "onto /dev/vdb", "sha256 " + sha + " verified", "disks seen:"} {
		if !strings.Contains(out, want) {
			t.Errorf("provision report lab-01 lacks %q:\n%s", want, out)
		}
	}
	// Issue 12's QEMU line: the installed daemon reported with the node's own certificate
	// (the agent API takes nothing else), and the bootstrap its ramdisk used, taken off
	// the wire, is refused when replayed, with the replay recorded.
	if n := st["lab-01"]; !strings.Contains(n.Certificate, "(run 1)") || strings.Contains(n.Certificate, "revoked") {
		t.Errorf("lab-01 reported from its disk with certificate %q; want its run-1 certificate, live", n.Certificate)
	}
	node, _ := r.rack.Node("lab-01")
	seen := sniff.Secrets(node.PXEMAC)
	if len(seen) == 0 {
		t.Fatalf("no bootstrap secret seen on the wire to lab-01 (%s): the replay cannot be tried", node.PXEMAC)
	}
	_, csr, err := pki.NewKeyAndCSR("lab-01")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.CertRequest{Bootstrap: seen[len(seen)-1], CSR: string(csr)})
	if code, err := r.agentPost("lab-01", r.caPin(), "bootstrap", string(body)); err != nil || code != 401 {
		t.Errorf("lab-01's ramdisk bootstrap replayed after its deploy: %d (%v), want 401", code, err)
	}
	if ev, _, _ := r.provision(ctx, "events", "lab-01"); !strings.Contains(ev, "bootstrap.replayed") {
		t.Errorf("the replayed bootstrap is not in lab-01's events:\n%s", ev)
	}
	if t.Failed() {
		t.FailNow()
	}

	// 2. up again on the ready node: nothing.
	before := r.rack.PowerCycles("lab-01")
	res, _, code := r.Up(ctx, "lab-01")
	if code != 0 || len(res.Decisions) != 1 || res.Decisions[0].Action != lifecycle.Skip || len(res.Nodes) != 0 {
		t.Fatalf("up lab-01 again: exit %d, decisions %+v, followed %+v; want lab-01 skipped (ready)", code, res.Decisions, res.Nodes)
	}
	time.Sleep(5 * time.Second)
	if c := r.rack.PowerCycles("lab-01"); c != before {
		t.Fatalf("up on ready lab-01 made %d power actions, want none", c-before)
	}

	// 3. --reprovision: one more deploy.
	res, errOut, code := r.Up(ctx, "--reprovision", "lab-01")
	if code != 0 {
		t.Fatalf("up --reprovision lab-01: exit %d\n%s\n%+v", code, errOut, res.Nodes)
	}
	st = r.status(ctx)
	if n := st["lab-01"]; n.Phase != lifecycle.Ready || n.BootSource != check.BootDisk || n.Deployed == nil || n.Deployed.Run != 2 {
		t.Errorf("lab-01 after --reprovision: %s from %q, deployed %+v", n.Phase, n.BootSource, n.Deployed)
	}
	if d, c := r.deploys(ctx, "lab-01"), r.rack.PowerCycles("lab-01")-before; d != 2 || c != 2 {
		t.Errorf("lab-01 after --reprovision: %d deploys in all, %d more power actions; want 2 and 2", d, c)
	}
}
