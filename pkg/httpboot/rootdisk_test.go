package httpboot

import (
	"bytes"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/expect"
)

// fakeDisk is one /sys/block entry.
type fakeDisk struct {
	name, model, serial, wwid string
	gib                       int64
	removable                 bool
}

// fakeMachine writes a sysfs and /dev tree the script reads through RACKLIFT_SYS and
// RACKLIFT_DEV.
func fakeMachine(t *testing.T, disks []fakeDisk) (sys, dev string) {
	t.Helper()
	root := t.TempDir()
	sys, dev = filepath.Join(root, "sys"), filepath.Join(root, "dev")
	must(t, os.MkdirAll(filepath.Join(dev, "disk", "by-path"), 0o755))
	for _, d := range disks {
		dir := filepath.Join(sys, "block", d.name)
		must(t, os.MkdirAll(filepath.Join(dir, "device"), 0o755))
		w := func(p, v string) { must(t, os.WriteFile(filepath.Join(dir, p), []byte(v+"\n"), 0o644)) }
		w("size", strconv.FormatInt(d.gib<<30/512, 10))
		w("ro", "0")
		w("removable", map[bool]string{true: "1", false: "0"}[d.removable])
		w("device/model", d.model+"   ")
		w("device/serial", d.serial)
		w("device/wwid", d.wwid)
		must(t, os.WriteFile(filepath.Join(dev, d.name), nil, 0o644))
	}
	return sys, dev
}

// dgx: two M.2 boot NVMe, two U.2 data NVMe, a USB stick, a loop device.
var dgx = []fakeDisk{
	{name: "nvme0n1", model: "SAMSUNG MZ1L21T9HCLS", serial: "S6AXNA0W100001", wwid: "eui.0025388b11b22c01", gib: 1788},
	{name: "nvme1n1", model: "SAMSUNG MZ1L21T9HCLS", serial: "S6AXNA0W100002", wwid: "eui.0025388b11b22c02", gib: 1788},
	{name: "nvme2n1", model: "SAMSUNG MZQL23T8HCLS", serial: "S64HNE0T200001", wwid: "eui.36344830526000010025384500000001", gib: 3576},
	{name: "nvme3n1", model: "SAMSUNG MZQL23T8HCLS", serial: "S64HNE0T200002", wwid: "eui.36344830526000010025384500000002", gib: 3576},
	{name: "sda", model: "Cruzer Blade", serial: "4C530001", gib: 15, removable: true},
	{name: "loop0", gib: 1},
}

// The installers' disk picker chooses as the image deploy does, on a DGX-like machine:
// the hints of the example site take an M.2 boot drive, never a data NVMe; no match, or
// an ambiguous match, stops the install naming every disk; a quote in a hint is data.
func TestRootDiskScriptPicks(t *testing.T) {
	sh := "sh"
	if _, err := osexec.LookPath(sh); err != nil {
		t.Skip("no sh")
	}
	sys, dev := fakeMachine(t, dgx)
	if err := os.Symlink("../../nvme3n1", filepath.Join(dev, "disk", "by-path", "pci-0000:c4:00.0-nvme-1")); err != nil {
		t.Fatal(err)
	}
	pwned := filepath.Join(t.TempDir(), "pwned")
	for _, tc := range []struct {
		name    string
		hints   expect.RootDeviceHints
		want    string // the disk, or "" for a refusal
		wantErr []string
	}{
		{name: "no hints: the smallest non-removable", want: "nvme0n1"},
		{name: "example site: boot drives", hints: expect.RootDeviceHints{MaxSizeGiB: 2000, Smallest: true}, want: "nvme0n1"},
		{name: "data drives by size", hints: expect.RootDeviceHints{MinSizeGiB: 3000, Smallest: true}, want: "nvme2n1"},
		{name: "serial, case and spaces", hints: expect.RootDeviceHints{Serial: " s6axna0w100002 "}, want: "nvme1n1"},
		{name: "wwn as udev writes it", hints: expect.RootDeviceHints{WWN: "0x36344830526000010025384500000002"}, want: "nvme3n1"},
		{name: "by-path", hints: expect.RootDeviceHints{ByPath: "/dev/disk/by-path/pci-0000:c4:00.0-nvme-1"}, want: "nvme3n1"},
		{name: "removable only by identity", hints: expect.RootDeviceHints{Serial: "4C530001"}, want: "sda"},
		{name: "removable not by size", hints: expect.RootDeviceHints{MaxSizeGiB: 100}, wantErr: []string{"no disk matches", "max_size_gib=100", "sda (removable)", "nvme0n1 (larger than max_size_gib)"}},
		{name: "two match, no smallest", hints: expect.RootDeviceHints{Model: "samsung mzql23t8hcls"}, wantErr: []string{"2 disks match", "nvme2n1 (matches)", "nvme3n1 (matches)", "smallest: true"}},
		{name: "nothing that large", hints: expect.RootDeviceHints{MinSizeGiB: 10000}, wantErr: []string{"no disk matches", "min_size_gib=10000", "nvme3n1 (smaller than min_size_gib)"}},
		{name: "a quote in a hint is data", hints: expect.RootDeviceHints{Model: "x'; touch " + pwned + "; '"}, wantErr: []string{"no disk matches"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			script := RootDiskScript(tc.hints) + "racklift_root_disk\n"
			cmd := osexec.Command(sh, "-c", script)
			cmd.Env = append(os.Environ(), "RACKLIFT_SYS="+sys, "RACKLIFT_DEV="+dev)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			got := strings.TrimSpace(stdout.String())
			if tc.want != "" {
				if err != nil || got != filepath.Join(dev, tc.want) {
					t.Fatalf("picked %q (%v, %s), want %s", got, err, stderr.String(), tc.want)
				}
				return
			}
			if err == nil || got != "" {
				t.Fatalf("picked %q, want a refusal", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("refusal lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	if _, err := os.Stat(pwned); err == nil {
		t.Error("a hint ran as a shell command")
	}
}

// Both installers take their disk from the picker: kickstart never clears every disk,
// autoinstall matches the picked path; the example site's hints reach the script.
func TestInstallersUseRootDiskHints(t *testing.T) {
	t.Parallel()
	in := NewInstalls(needAgentUnit(t))
	np := examplePlan(t, "site").Nodes[0]
	if np.Boot.RootDevice.MaxSizeGiB != 2000 {
		t.Fatalf("the example site's root_device did not reach the plan: %+v", np.Boot.RootDevice)
	}
	for tmpl, want := range map[string][]string{
		"kickstart":          {"%include /tmp/racklift-disk.ks", "disk=$(racklift_root_disk) || exit 1", "clearpart --all --initlabel --drives=$disk", "ignoredisk --only-use=$disk", "max=2147483648000"},
		"ubuntu-autoinstall": {"path: /dev/racklift-root-disk", "disk=$(racklift_root_disk) || exit 1", "/autoinstall.yaml", "max=2147483648000"},
	} {
		c := *np
		c.Boot.Install = tmpl
		file := "user-data"
		if tmpl == "kickstart" {
			file = "ks.cfg"
		}
		out, err := in.Render(&c, file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s lacks %q:\n%s", tmpl, w, out)
			}
		}
		if strings.Contains(string(out), "clearpart --all --initlabel\n") {
			t.Errorf("%s clears every disk", tmpl)
		}
	}
}
