package lifecycle

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/state"
)

// DiskCycle makes the fake BMC a DiskPower: disk boots count under "disk/NODE".
func (p *power) DiskCycle(ctx context.Context, t Target) error {
	p.mu.Lock()
	p.cycles["disk/"+t.Name]++
	err := p.fail["disk/"+t.Name]
	p.mu.Unlock()
	return err
}

var (
	wantSHA  = strings.Repeat("ab", 32)
	otherSHA = strings.Repeat("cd", 32)
)

func dtgt(name string) Target {
	t := tgt(name)
	t.Deploy = &expect.Deploy{Image: "debian.raw.zst", URL: "http://10.1.0.1:8080/artifacts/debian.raw.zst", SHA256: wantSHA,
		RootDevice: expect.RootDeviceHints{MinSizeGiB: 100}}
	return t
}

// report is an agent's report from src with an optional deploy section.
func report(t *testing.T, src string, pass bool, d *check.DeployResult) []byte {
	t.Helper()
	st := check.Pass
	if !pass {
		st = check.Fail
	}
	r := check.Report{Node: "n1", Results: []check.Result{{Name: "storage./data.write", Status: st}}, Failed: !pass,
		BootSource: src, OS: "Debian GNU/Linux 13 (trixie)", Kernel: "6.12.48-amd64", Deploy: d}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (r *rig) report(raw []byte, pass bool) Phase {
	r.t.Helper()
	p, err := r.m.Report("n1", raw, pass, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// toValidating brings n1 (with an image) from up to validating.
func (r *rig) toValidating(o UpOptions) {
	r.t.Helper()
	if _, err := r.m.Up([]Target{dtgt("n1")}, o); err != nil {
		r.t.Fatal(err)
	}
	r.tick()
	for _, k := range []Kind{DHCPAck, HTTPKernel, AgentHello, AgentExpect} {
		r.handle("n1", k)
	}
	if p := Phase(r.node("n1").Phase); p != Validating {
		r.t.Fatalf("phase %s, want validating", p)
	}
}

var verified = &check.DeployResult{Image: "debian.raw.zst", Device: "/dev/vda", Bytes: 2 << 30, Seconds: 20, MBps: 107.4, SHA256: wantSHA, Verified: true,
	Disks: []check.DiskChoice{{Device: "/dev/vda", SizeBytes: 200 << 30, Chosen: true, Why: "smallest matching disk"}}}

func TestDeployPhases(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.toValidating(UpOptions{})
	if d := DeployFor(r.node("n1"), dtgt("n1")); d == nil || d.Reprovision || d.SHA256 != wantSHA {
		t.Fatalf("deploy sent to the agent = %+v, want the image without reprovision", d)
	}
	steps := []struct {
		name  string
		do    func()
		want  Phase
		local bool // serve answers its iPXE with the local disk
		disk  int  // BMC disk boots so far
	}{
		{name: "ramdisk checks pass", do: func() { r.report(report(t, check.BootRamdisk, true, nil), true) }, want: Deploying},
		{name: "deploy verified", do: func() { r.report(report(t, check.BootRamdisk, true, verified), true) }, want: Rebooting, local: true},
		{name: "tick: disk boot via BMC", do: r.tick, want: Rebooting, local: true, disk: 1},
		{name: "tick again: no second disk boot", do: r.tick, want: Rebooting, local: true, disk: 1},
		{name: "installed agent says hello", do: func() { r.handle("n1", AgentHello) }, want: Installed, local: true, disk: 1},
		{name: "disk report passes", do: func() { r.report(report(t, check.BootDisk, true, nil), true) }, want: Ready, local: true, disk: 1},
		{name: "up again: nothing", do: func() {
			if ds := r.up(dtgt("n1")); ds[0].Action != Skip {
				t.Errorf("up on a ready deployed node = %+v, want skip", ds[0])
			}
			r.tick()
		}, want: Ready, local: true, disk: 1},
	}
	for _, s := range steps {
		r.clock.Add(time.Second)
		s.do()
		n := r.node("n1")
		if Phase(n.Phase) != s.want || BootsLocal(n) != s.local || r.power.count("disk/n1") != s.disk {
			t.Fatalf("%s: phase %s local %v disk boots %d; want %s %v %d (reason %q)", s.name, n.Phase, BootsLocal(n), r.power.count("disk/n1"), s.want, s.local, s.disk, n.Reason)
		}
	}
	n := r.node("n1")
	if n.Deployed == nil || n.Deployed.SHA256 != wantSHA || n.Deployed.Run != 1 || n.Deployed.Device != "/dev/vda" || n.Deployed.Reboot.DoneAt.IsZero() {
		t.Fatalf("deployed record %+v", n.Deployed)
	}
	if r.power.count("n1") != 1 {
		t.Errorf("PXE power cycles = %d, want 1", r.power.count("n1"))
	}
	var kinds []string
	for _, e := range n.Recent {
		kinds = append(kinds, e.Kind)
	}
	for _, k := range []Kind{DeployStarted, DeployDone, DiskIssued, DiskOK, InstalledHello, NodeReady} {
		if !strings.Contains(strings.Join(kinds, " "), string(k)) {
			t.Errorf("events %v lack %s", kinds, k)
		}
	}

	// --reprovision: network boot again, the agent may overwrite the disk, one redeploy.
	ds, err := r.m.Up([]Target{dtgt("n1")}, UpOptions{Reprovision: true})
	if err != nil || ds[0].Action != Start {
		t.Fatalf("up --reprovision = %+v, %v", ds, err)
	}
	r.tick()
	n = r.node("n1")
	if BootsLocal(n) || r.power.count("n1") != 2 {
		t.Fatalf("reprovision: local %v, PXE cycles %d; want network boot, 2", BootsLocal(n), r.power.count("n1"))
	}
	if d := DeployFor(n, dtgt("n1")); d == nil || !d.Reprovision {
		t.Fatalf("reprovision deploy = %+v, want Reprovision", d)
	}
	for _, k := range []Kind{DHCPAck, AgentHello, AgentExpect} {
		r.handle("n1", k)
	}
	r.report(report(t, check.BootRamdisk, true, verified), true)
	r.tick()
	r.report(report(t, check.BootDisk, true, nil), true)
	n = r.node("n1")
	if Phase(n.Phase) != Ready || n.Deployed.Run != 2 || r.power.count("disk/n1") != 2 {
		t.Fatalf("after the redeploy: phase %s deployed run %d disk boots %d; want ready, 2, 2", n.Phase, n.Deployed.Run, r.power.count("disk/n1"))
	}
}

func TestDeployFailuresAreNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		deploy *check.DeployResult
		want   []string
	}{
		{name: "checksum mismatch", deploy: &check.DeployResult{Image: "debian.raw.zst", Device: "/dev/vda", Bytes: 2 << 30, SHA256: otherSHA, Error: "sha256 mismatch"},
			want: []string{"checksum mismatch", "expected sha256 " + wantSHA, "got " + otherSHA, "http://10.1.0.1:8080/artifacts/debian.raw.zst"}},
		{name: "checksum mismatch, named by the agent", deploy: &check.DeployResult{Device: "/dev/vda", Bytes: 2 << 30, SHA256: otherSHA, Failure: check.FailChecksum},
			want: []string{"checksum mismatch", "got " + otherSHA}},
		{name: "verified, but not the profile's image", deploy: &check.DeployResult{Device: "/dev/vda", Bytes: 2 << 30, SHA256: otherSHA, Verified: true},
			want: []string{"checksum mismatch", "expected sha256 " + wantSHA}},
		{name: "image not found", deploy: &check.DeployResult{Device: "/dev/vda", Failure: check.FailImage, Error: "GET http://10.1.0.1:8080/artifacts/debian.raw.zst: 404 Not Found"},
			want: []string{"image not found", "http://10.1.0.1:8080/artifacts/debian.raw.zst", "404 Not Found"}},
		{name: "image not found, inferred", deploy: &check.DeployResult{Device: "/dev/vda", Error: "GET …: 404 Not Found",
			Disks: []check.DiskChoice{{Device: "/dev/vda", Chosen: true}}}, want: []string{"image not found", "404 Not Found"}},
		{name: "no disk matches", deploy: &check.DeployResult{Error: "no disk matches", Disks: []check.DiskChoice{
			{Device: "/dev/vda", SizeBytes: 4 << 30, Model: "QEMU HARDDISK", Why: "4.0 GiB is below min_size_gib 100"},
			{Device: "/dev/sr0", SizeBytes: 1 << 30, Removable: true, Why: "removable"}}},
			want: []string{"no disk matches the root device hints (at least 100 GiB)", "/dev/vda 4.0 GiB QEMU HARDDISK (4.0 GiB is below min_size_gib 100)", "/dev/sr0 1.0 GiB (removable)"}},
		{name: "disk write error", deploy: &check.DeployResult{Device: "/dev/vda", Bytes: 1 << 20, Error: "write /dev/vda at offset 1048576: input/output error",
			Disks: []check.DiskChoice{{Device: "/dev/vda", Chosen: true}}},
			want: []string{"disk write error on /dev/vda", "offset 1048576", "input/output error"}},
		{name: "install after the verified write", deploy: &check.DeployResult{Device: "/dev/vda", Bytes: 2 << 30, SHA256: wantSHA, Verified: true,
			Error: "ESP /dev/vda1 has no EFI/BOOT/BOOTX64.EFI", Disks: []check.DiskChoice{{Device: "/dev/vda", Chosen: true}}},
			want: []string{"failed after the image was written to /dev/vda and its sha256 verified", "no EFI/BOOT/BOOTX64.EFI"}},
		{name: "control characters from the node are dropped", deploy: &check.DeployResult{Device: "/dev/vda\x1b[2J", Bytes: 1, Error: "bad\x07 write"},
			want: []string{`disk write error on /dev/vda\x1b[2J`, `bad\x07 write`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{})
			r.toValidating(UpOptions{})
			// The agent's checks passed; its deploy did not (it deploys only after passing checks).
			if p := r.report(report(t, check.BootRamdisk, true, tc.deploy), true); p != Failed {
				t.Fatalf("phase %s, want failed", p)
			}
			n := r.node("n1")
			for _, w := range tc.want {
				if !strings.Contains(n.Reason, w) {
					t.Errorf("reason %q\nlacks %q", n.Reason, w)
				}
			}
			if strings.ContainsAny(n.Reason, "\x1b\x07") {
				t.Errorf("reason carries control characters: %q", n.Reason)
			}
			if n.Deployed != nil || BootsLocal(n) {
				t.Errorf("a failed deploy left deployed=%+v (local boot %v)", n.Deployed, BootsLocal(n))
			}
			r.tick()
			if r.power.count("disk/n1") != 0 {
				t.Error("the disk of a failed deploy was booted")
			}
		})
	}
}

func TestDeployTimeoutsFailWithoutRetry(t *testing.T) {
	t.Parallel()
	limits := map[Phase]time.Duration{Deploying: 3 * time.Minute, Rebooting: 4 * time.Minute, Installed: 5 * time.Minute}
	for _, tc := range []struct {
		phase Phase
		want  []string
	}{
		{Deploying, []string{"deploying", "did not report the deploy of image debian.raw.zst within 3m0s"}},
		{Rebooting, []string{"installed system never reported", "within 4m0s", "last event: bmc.disk.ok"}},
		{Installed, []string{"installed system never reported", "within 5m0s", "last event: installed.hello"}},
	} {
		t.Run(string(tc.phase), func(t *testing.T) {
			t.Parallel()
			r := newRig(t, Config{Timeouts: limits, MaxAttempts: 3})
			r.toValidating(UpOptions{})
			r.report(report(t, check.BootRamdisk, true, nil), true)
			if tc.phase != Deploying {
				r.report(report(t, check.BootRamdisk, true, verified), true)
				r.tick()
			}
			if tc.phase == Installed {
				r.handle("n1", AgentHello)
			}
			if p := Phase(r.node("n1").Phase); p != tc.phase {
				t.Fatalf("phase %s, want %s", p, tc.phase)
			}
			r.clock.Add(limits[tc.phase])
			r.tick()
			if p := Phase(r.node("n1").Phase); p != tc.phase {
				t.Fatalf("at the limit: %s", p)
			}
			r.clock.Add(time.Second)
			r.tick()
			n := r.node("n1")
			if Phase(n.Phase) != Failed || n.Attempt != 1 || r.power.count("n1") != 1 {
				t.Fatalf("after the timeout: phase %s attempt %d PXE cycles %d; want failed, 1, 1", n.Phase, n.Attempt, r.power.count("n1"))
			}
			for _, w := range tc.want {
				if !strings.Contains(n.Reason, w) {
					t.Errorf("reason %q\nlacks %q", n.Reason, w)
				}
			}
		})
	}
}

// A serve killed while the node writes its disk (or during the BMC's disk boot) resumes
// from the record: one deploy, at most one disk boot.
func TestDeployRestarts(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.toValidating(UpOptions{})
	r.report(report(t, check.BootRamdisk, true, nil), true)
	r.restart()
	r.m.SetTargets([]Target{dtgt("n1")})
	r.report(report(t, check.BootRamdisk, true, verified), true)
	// Killed after the disk boot's intent was written, before the BMC answered.
	if _, err := r.store.Update("n1", func(n *state.Node) ([]state.Event, error) {
		n.Deployed.Reboot = state.PowerRecord{Run: n.Run, Attempt: n.Attempt, IssuedAt: r.clock.Now()}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.restart()
	r.m.SetTargets([]Target{dtgt("n1")})
	r.tick()
	if c := r.power.count("disk/n1"); c != 0 {
		t.Fatalf("disk boots after a restart with the intent recorded = %d, want 0", c)
	}
	// The spooled deploy report again, then the installed system.
	if p := r.report(report(t, check.BootRamdisk, true, verified), true); p != Rebooting {
		t.Fatalf("resent deploy report: phase %s, want rebooting", p)
	}
	if p := r.report(report(t, check.BootDisk, true, nil), true); p != Ready {
		t.Fatalf("disk report: phase %s (%s)", p, r.node("n1").Reason)
	}
	if n := r.node("n1"); n.Deployed.Run != 1 || r.power.count("n1") != 1 {
		t.Errorf("deployed run %d, PXE cycles %d; want 1, 1", n.Deployed.Run, r.power.count("n1"))
	}
}

func TestDeployOddReports(t *testing.T) {
	t.Parallel()
	t.Run("disk report before any deploy", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		r.report(report(t, check.BootDisk, true, nil), true)
		if n := r.node("n1"); Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "has not deployed it in this run") {
			t.Fatalf("phase %s reason %q", n.Phase, n.Reason)
		}
	})
	t.Run("checks failed: nothing deployed", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		r.m.Report("n1", report(t, check.BootRamdisk, false, &check.DeployResult{Image: "debian.raw.zst", Error: "not deployed: the node failed its checks"}), false, "gpu.count (observed 7, expected 8)")
		if n := r.node("n1"); Phase(n.Phase) != Failed || n.Reason != "validation failed: gpu.count (observed 7, expected 8)" {
			t.Fatalf("phase %s reason %q", n.Phase, n.Reason)
		}
	})
	t.Run("the ramdisk's daemon reports again before the power cycle", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		deployed := report(t, check.BootRamdisk, true, verified)
		r.report(deployed, true)
		lingering := report(t, "", true, nil) // an agent that does not say where it runs
		for _, raw := range [][]byte{lingering, deployed} {
			if p := r.report(raw, true); p != Rebooting {
				t.Fatalf("phase %s (%s), want rebooting", p, r.node("n1").Reason)
			}
		}
		if n := r.node("n1"); string(n.Report) != string(deployed) {
			t.Errorf("the stored report is not the deploy's: %s", n.Report)
		}
		r.handle("n1", AgentHello)
		if p := r.report(report(t, "", true, nil), true); p != Ready {
			t.Fatalf("the installed system's report without boot_source: phase %s (%s), want ready", p, r.node("n1").Reason)
		}
	})
	t.Run("image fetched from serve: deploying", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		for _, detail := range []string{"/artifacts/lab/vmlinuz from 10.1.0.11", "/artifacts/debian.raw.zst.sig from 10.1.0.11"} {
			r.m.Handle(Event{Node: "n1", Kind: HTTPKernel, Detail: detail})
			if p := Phase(r.node("n1").Phase); p != Validating {
				t.Fatalf("%s: phase %s, want validating", detail, p)
			}
		}
		r.m.Handle(Event{Node: "n1", Kind: HTTPKernel, Detail: "/artifacts/debian.raw.zst from 10.1.0.11"})
		if p := Phase(r.node("n1").Phase); p != Deploying {
			t.Fatalf("phase %s, want deploying", p)
		}
		if p := r.report(report(t, check.BootRamdisk, true, verified), true); p != Rebooting {
			t.Fatalf("phase %s, want rebooting", p)
		}
	})
	t.Run("failed checks from the disk", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		r.report(report(t, check.BootRamdisk, true, verified), true)
		r.m.Report("n1", report(t, check.BootDisk, false, nil), false, "gpu.count (observed 7, expected 8)")
		if n := r.node("n1"); Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "the installed system's checks failed: gpu.count") {
			t.Fatalf("phase %s reason %q", n.Phase, n.Reason)
		}
	})
	t.Run("up on a failed deployed node deploys again over its own image", func(t *testing.T) {
		t.Parallel()
		r := newRig(t, Config{})
		r.toValidating(UpOptions{})
		r.report(report(t, check.BootRamdisk, true, verified), true)
		r.power.fail["disk/n1"] = context.DeadlineExceeded
		r.tick()
		n := r.node("n1")
		if Phase(n.Phase) != Failed || !strings.Contains(n.Reason, "did not boot node n1 from its disk") || !BootsLocal(n) {
			t.Fatalf("BMC disk boot failed: phase %s local %v reason %q", n.Phase, BootsLocal(n), n.Reason)
		}
		r.toValidating(UpOptions{}) // a new run: network boot
		n = r.node("n1")
		if BootsLocal(n) {
			t.Fatal("a new run boots the disk deployed by the last one")
		}
		if d := DeployFor(n, dtgt("n1")); d == nil || !d.Reprovision {
			t.Fatalf("deploy = %+v, want reprovision (the disk holds racklift's own image)", d)
		}
		if p := r.report(report(t, check.BootDisk, true, nil), true); p != Failed {
			t.Fatalf("a disk report before this run's deploy: phase %s, want failed", p)
		}
	})
}

func TestLockedNodesAreNeverDeployed(t *testing.T) {
	t.Parallel()
	for _, lock := range []func(*Target){
		func(t *Target) { t.Protected = true },
		func(t *Target) { t.Maintenance = true },
	} {
		r := newRig(t, Config{})
		tg := dtgt("n1")
		lock(&tg)
		r.m.SetTargets([]Target{tg})
		if ds, err := r.m.Up([]Target{tg}, UpOptions{}); err != nil || ds[0].Action != Refused {
			t.Fatalf("up = %+v, %v; want refused", ds, err)
		}
		// Network-booted by hand: its agent is sent no deploy.
		if d := DeployFor(r.node("n1"), tg); d != nil {
			t.Fatalf("locked node's deploy = %+v, want none", d)
		}
		r.tick()
		if r.power.count("n1")+r.power.count("disk/n1") != 0 {
			t.Fatal("a locked node was power-cycled")
		}
	}
}

// The image's download starting moves the node to deploying (not its end, minutes later);
// other downloads' starts are not even recorded.
func TestDeployingFromFetchStart(t *testing.T) {
	t.Parallel()
	r := newRig(t, Config{})
	r.toValidating(UpOptions{})
	before := len(r.node("n1").Recent)
	r.m.Handle(Event{Node: "n1", Kind: HTTPFetch, Detail: "/artifacts/lab/vmlinuz from 10.1.0.11"})
	if n := r.node("n1"); Phase(n.Phase) != Validating || len(n.Recent) != before {
		t.Fatalf("a kernel's download starting: phase %s, %d new events; want validating and none", n.Phase, len(n.Recent)-before)
	}
	r.m.Handle(Event{Node: "n1", Kind: HTTPFetch, Detail: "/artifacts/debian.raw.zst from 10.1.0.11"})
	if p := Phase(r.node("n1").Phase); p != Deploying {
		t.Fatalf("the image's download starting: phase %s, want deploying", p)
	}
	r.m.Handle(Event{Node: "n1", Kind: HTTPKernel, Detail: "/artifacts/debian.raw.zst from 10.1.0.11"})
	if p := r.report(report(t, check.BootRamdisk, true, verified), true); p != Rebooting {
		t.Fatalf("phase %s after the download ended and the deploy was verified, want rebooting", p)
	}
}
