package provisioner_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/apitest"
	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
)

func deployRack(t *testing.T, n int) *apitest.Rack {
	t.Helper()
	r := apitest.NewRack(t, n, 0, nil)
	r.Image = apitest.ImageLine
	r.WriteInventory(n)
	return r
}

func up(t *testing.T, c *api.Client, req api.UpRequest) []lifecycle.Decision {
	t.Helper()
	resp, err := c.Up(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Decisions
}

func boots(r *apitest.Rack, i int) []string {
	return r.Fleet.BMCs[i].Machine().(*lab.MemMachine).Boots()
}

// A node with an image: ramdisk checks, deploy, the BMC's disk boot, the installed
// system's report from its disk: ready. Up again changes nothing; --reprovision deploys
// once more.
func TestCoreDeployReachesReady(t *testing.T) {
	t.Parallel()
	r := deployRack(t, 2)
	r.Start()
	c := r.Client()
	up(t, c, api.UpRequest{Selectors: []string{"all"}})
	got := r.WaitDone(c, apitest.Names(2)...)
	for i := range 2 {
		name := apitest.NodeName(i)
		n := got[name]
		if n.Phase != lifecycle.Ready || n.BootSource != check.BootDisk || n.Deployed == nil || n.Deployed.SHA256 != apitest.ImageSHA256 {
			t.Fatalf("%s: %+v (reason %q), want ready from its disk with the image", name, n, n.Reason)
		}
		if d, a := r.Deploys(name), r.PowerActions(i); d != 1 || a != 2 {
			t.Errorf("%s: %d deploys, %d power actions; want 1 and 2 (PXE, then disk)", name, d, a)
		}
		if b := boots(r, i); !slices.Equal(b, []string{lab.BootPxe, lab.BootHdd}) {
			t.Errorf("%s: boots %v, want Pxe then Hdd", name, b)
		}
	}
	d, err := c.Node(context.Background(), apitest.NodeName(0))
	if err != nil || d.Deploy == nil || !d.Deploy.Verified || d.Deploy.Device != "/dev/vda" || d.Report.BootSource != check.BootDisk {
		t.Fatalf("report of node 1: %+v, %v; want the disk's report with the deploy kept", d, err)
	}

	// up again: nothing.
	if ds := up(t, c, api.UpRequest{Selectors: []string{"all"}}); ds[0].Action != lifecycle.Skip || ds[1].Action != lifecycle.Skip {
		t.Fatalf("up on ready nodes = %+v, want skip", ds)
	}
	time.Sleep(300 * time.Millisecond) // a few ticks
	if a := r.PowerActions(0) + r.PowerActions(1); a != 4 {
		t.Fatalf("power actions after up on ready nodes: %d, want still 4", a)
	}

	// Power-cycled by hand (no boot override): it boots its disk and its installed
	// system reports again; it stays ready, deployed once.
	reportAt := got[apitest.NodeName(0)].ReportAt
	if err := r.Fleet.BMCs[0].Machine().(*lab.MemMachine).Reset(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d, err := c.Node(context.Background(), apitest.NodeName(0))
		if err == nil && d.ReportAt.After(reportAt) {
			if d.Phase != lifecycle.Ready || d.Report.BootSource != check.BootDisk || r.Deploys(apitest.NodeName(0)) != 1 {
				t.Fatalf("after a power cycle: %s, report from %q, %d deploys; want ready from its disk, 1", d.Phase, d.Report.BootSource, r.Deploys(apitest.NodeName(0)))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no report from lab-01's disk after its power cycle: %+v, %v", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// --reprovision: one more deploy of that node only.
	name := apitest.NodeName(0)
	if ds := up(t, c, api.UpRequest{Selectors: []string{name}, Reprovision: true}); ds[0].Action != lifecycle.Start {
		t.Fatalf("up --reprovision = %+v", ds)
	}
	waitPhase(t, c, name, lifecycle.Powering, lifecycle.PXE, lifecycle.Booting, lifecycle.Agent, lifecycle.Validating, lifecycle.Deploying, lifecycle.Rebooting, lifecycle.Installed)
	got = r.WaitDone(c, name)
	if n := got[name]; n.Phase != lifecycle.Ready || n.Run != 2 || n.Deployed == nil || n.Deployed.Run != 2 {
		t.Fatalf("after --reprovision: %+v (reason %q)", n, n.Reason)
	}
	if r.Deploys(name) != 2 || r.Deploys(apitest.NodeName(1)) != 1 || r.PowerActions(0) != 4 || r.PowerActions(1) != 2 {
		t.Errorf("deploys %d/%d, power actions %d/%d; want 2/1 and 4/2", r.Deploys(name), r.Deploys(apitest.NodeName(1)), r.PowerActions(0), r.PowerActions(1))
	}
}

// waitPhase waits until node has left the given phases (an up just started).
func waitPhase(t *testing.T, c *api.Client, node string, active ...lifecycle.Phase) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		d, err := c.Node(context.Background(), node)
		if err == nil && !slices.Contains(active, d.Phase) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s still in %v", node, active)
}

func TestCoreDeployFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(r *apitest.Rack)
		want   []string
		deploy int // disk writes
	}{
		{name: "checksum mismatch", setup: func(r *apitest.Rack) { r.DeployFault = map[string]string{apitest.NodeName(0): check.FailChecksum} },
			want: []string{"checksum mismatch", "expected sha256 " + apitest.ImageSHA256, "got " + strings.Repeat("0b", 32)}, deploy: 1},
		{name: "no disk matches", setup: func(r *apitest.Rack) { r.DeployFault = map[string]string{apitest.NodeName(0): check.FailNoDisk} },
			want: []string{"no disk matches the root device hints (at least 2 GiB)", "/dev/vda 4.0 GiB QEMU HARDDISK (4.0 GiB is below min_size_gib 2)"}},
		{name: "installed system never reports", setup: func(r *apitest.Rack) {
			r.SilentDisk = map[string]bool{apitest.NodeName(0): true}
			r.Lifecycle.Timeouts[lifecycle.Rebooting] = 2 * time.Second
		}, want: []string{"rebooting: installed system never reported", "within 2s", "last event: bmc.disk.ok"}, deploy: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := deployRack(t, 1)
			tc.setup(r)
			r.Start()
			c := r.Client()
			up(t, c, api.UpRequest{Selectors: []string{"all"}})
			n := r.WaitDone(c, apitest.NodeName(0))[apitest.NodeName(0)]
			if n.Phase != lifecycle.Failed {
				t.Fatalf("phase %s, want failed", n.Phase)
			}
			for _, w := range tc.want {
				if !strings.Contains(n.Reason, w) {
					t.Errorf("reason %q\nlacks %q", n.Reason, w)
				}
			}
			if r.Deploys(apitest.NodeName(0)) != tc.deploy {
				t.Errorf("disk writes %d, want %d", r.Deploys(apitest.NodeName(0)), tc.deploy)
			}
			// Nothing booted from a half-written disk; the silent one was booted once.
			if b := boots(r, 0); slices.Contains(b, lab.BootHdd) != (tc.deploy == 1 && tc.name != "checksum mismatch") {
				t.Errorf("boots %v", b)
			}
		})
	}
}

// serve killed while the node writes its disk: the restarted one takes the deploy's
// report and finishes; the node was deployed and power-cycled once each.
func TestCoreDeployRestartDuringDeploying(t *testing.T) {
	t.Parallel()
	r := deployRack(t, 1)
	r.DeployHold = make(chan struct{})
	r.Start()
	c := r.Client()
	name := apitest.NodeName(0)
	up(t, c, api.UpRequest{Selectors: []string{"all"}})
	waitPhase(t, c, name, lifecycle.Enrolled, lifecycle.Powering, lifecycle.PXE, lifecycle.Booting, lifecycle.Agent, lifecycle.Validating)
	if d, _ := c.Node(context.Background(), name); d.Phase != lifecycle.Deploying {
		t.Fatalf("phase %s, want deploying", d.Phase)
	}
	r.Kill()
	close(r.DeployHold) // the agent reports while serve is down, and retries
	time.Sleep(200 * time.Millisecond)
	r.Start()
	c = r.Client()
	n := r.WaitDone(c, name)[name]
	if n.Phase != lifecycle.Ready || n.BootSource != check.BootDisk {
		t.Fatalf("%+v (reason %q), want ready from its disk", n, n.Reason)
	}
	if r.Deploys(name) != 1 || r.PowerActions(0) != 2 {
		t.Errorf("deploys %d, power actions %d; want 1 and 2", r.Deploys(name), r.PowerActions(0))
	}
}

// A protected node is refused by up, and its agent, if it network-boots anyway, is sent
// no deploy; its unprotected sibling gets the image.
func TestCoreDeployProtected(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 0, nil)
	r.Image = apitest.ImageLine
	r.Protected = map[string]bool{apitest.NodeName(0): true}
	r.WriteInventory(2)
	r.Start()
	c := r.Client()
	ds := up(t, c, api.UpRequest{Selectors: []string{"all"}})
	if ds[0].Action != lifecycle.Refused || ds[1].Action != lifecycle.Start {
		t.Fatalf("up = %+v, want the protected node refused", ds)
	}
	if x, err := r.Expect(apitest.NodeName(0)); err != nil || x.Deploy != nil {
		t.Fatalf("protected node's expectations: deploy %+v, %v; want none", x.Deploy, err)
	}
	if x, err := r.Expect(apitest.NodeName(1)); err != nil || x.Deploy == nil || x.Deploy.Reprovision || !strings.HasSuffix(x.Deploy.URL, "/artifacts/lab/debian.raw.zst") {
		t.Fatalf("sibling's expectations: deploy %+v, %v", x.Deploy, err)
	}
	r.WaitDone(c, apitest.NodeName(1))
	if r.PowerActions(0) != 0 || r.Deploys(apitest.NodeName(0)) != 0 || r.BootsLocal(apitest.NodeName(0)) {
		t.Errorf("protected node: %d power actions, %d deploys", r.PowerActions(0), r.Deploys(apitest.NodeName(0)))
	}
	if !r.BootsLocal(apitest.NodeName(1)) {
		t.Error("the deployed sibling does not get the local-disk script")
	}
}
