package vm_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/initramfs"
)

// The cpio the builder writes is one the system cpio can list, with the applets,
// the device nodes and the /init the kernel looks for.
func TestInitramfsListsWithCpio(t *testing.T) {
	testenv.NeedCommand(t, "cpio", "busybox")
	dir := t.TempDir()
	out := filepath.Join(dir, "initrd.gz")
	b := initramfs.Initramfs{
		Init:     "echo hello\n",
		Contents: map[string][]byte{"/etc/racklift/expect.yaml": []byte("x: 1\n")},
		Binaries: []initramfs.File{{Host: "/bin/true", Guest: "/usr/bin/true"}},
	}
	if err := b.Build(out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	cmd := exec.Command("cpio", "-itv")
	cmd.Stdin = bytes.NewReader(raw)
	list, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, list)
	}
	for _, want := range []string{" init\n", " bin/busybox\n", "bin/sh -> busybox", "dev/console", "etc/racklift/expect.yaml", "usr/bin/true", "libc.so.6"} {
		if !strings.Contains(string(list), want) {
			t.Errorf("cpio listing lacks %q", want)
		}
	}
	if !strings.Contains(string(list), "crw-------") {
		t.Errorf("dev/console is not a character device:\n%s", grep(string(list), "console"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Boot Debian's kernel with a busybox init under TCG: the marker reaches the serial log,
// 8021q loads and a VLAN link appears, QMP answers, and the guest powers off.
func TestBootDebianKernelVLAN(t *testing.T) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "apt-get", "dpkg", "depmod", "busybox")
	t.Parallel()
	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initrd := filepath.Join(dir, "initrd.gz")
	b := initramfs.Initramfs{
		Kernel:  k,
		Modules: []string{"8021q", "virtio_net", "virtio_pci"},
		Init: `echo "RACKLIFT-MARKER kernel=$(uname -r)"
ip link show
ip link set eth0 up
ip link add link eth0 name eth0.200 type vlan id 200 && ip -d link show eth0.200
echo "RACKLIFT-VLAN $(cat /proc/net/vlan/config 2>/dev/null | grep -c eth0.200)"
` + vm.ControlLoop,
	}
	if err := b.Build(initrd); err != nil {
		t.Fatal(err)
	}
	ns := netns.New(t)
	br, err := ns.Bridge(netns.IfName("br"), 0)
	if err != nil {
		t.Fatal(err)
	}
	tap := netns.IfName("tap")
	if _, err := ns.Tap(tap, br); err != nil {
		t.Fatal(err)
	}
	g := vm.StartT(t, vm.Config{
		Name: "boot", Dir: dir, Kernel: k.Vmlinuz, Initrd: initrd, Append: "quiet",
		MemoryMB: 256, NetNS: ns.Name,
		NICs:    []vm.NIC{{Tap: tap, MAC: "52:54:00:cb:00:01"}},
		Control: true,
	})
	q, err := g.QMP()
	if err != nil {
		t.Fatal(err)
	}
	if st, running, err := q.Status(); err != nil || !running {
		t.Errorf("query-status: %q running=%v err=%v, want running", st, running, err)
	}
	m, err := g.WaitForLine(regexp.MustCompile(`RACKLIFT-MARKER kernel=(\S+)`), 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != k.Version {
		t.Errorf("guest runs kernel %q, want %q", m[1], k.Version)
	}
	m, err = g.WaitForLine(regexp.MustCompile(`RACKLIFT-VLAN (\d+)`), 3*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "1" {
		t.Errorf("eth0.200 not in /proc/net/vlan/config (count %s); log:\n%s", m[1], g.LogTail(30))
	}
	// The control channel runs commands and returns their output and status.
	if _, err := g.WaitForLine(regexp.MustCompile(vm.ControlReady), 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	out, rc, err := g.Exec("cat /sys/class/net/eth0/address; false", 2*time.Minute)
	if err != nil || rc != 1 || strings.TrimSpace(out) != "52:54:00:cb:00:01" {
		t.Errorf("Exec: out %q rc %d err %v, want the NIC's MAC and status 1", out, rc, err)
	}
	if _, _, err := g.Exec("poweroff -f", 30*time.Second); err == nil {
		t.Log("poweroff answered before QEMU exited")
	}
	if err := g.Wait(2 * time.Minute); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
}

// Network boot through QEMU's iPXE ROM on a tap: with no DHCP server in the namespace
// iPXE reports the NIC (by its MAC) and its DHCP attempt on the serial console.
func TestNetBootReachesIPXE(t *testing.T) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	t.Parallel()
	for _, tc := range []struct {
		name, code, vars string
	}{
		{name: "bios"},
		{name: "uefi", code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				testenv.NeedFile(t, tc.code)
			}
			t.Parallel()
			ns := netns.New(t)
			br, err := ns.Bridge(netns.IfName("br"), 0)
			if err != nil {
				t.Fatal(err)
			}
			tap := netns.IfName("tap")
			if _, err := ns.Tap(tap, br); err != nil {
				t.Fatal(err)
			}
			g := vm.StartT(t, vm.Config{Name: "pxe-" + tc.name, NetBoot: true, NetNS: ns.Name, MemoryMB: 256,
				Firmware: tc.code, FirmwareVars: tc.vars, AllowReboot: true,
				NICs: []vm.NIC{{Tap: tap, MAC: "52:54:00:cb:01:02"}}})
			if _, err := g.WaitForLine(regexp.MustCompile(`(?i)net0: 52:54:00:cb:01:02`), 3*time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := g.WaitForLine(regexp.MustCompile(`Configuring \(net0 52:54:00:cb:01:02\)|DHCP`), 3*time.Minute); err != nil {
				t.Fatal(err)
			}
			q, err := g.QMP()
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Stop(); err != nil {
				t.Fatal(err)
			}
			if st, running, _ := q.Status(); running || st != "paused" {
				t.Errorf("after stop: %s running=%v, want paused", st, running)
			}
			if err := q.Cont(); err != nil {
				t.Fatal(err)
			}
			// A reset (a BMC's power cycle) reboots into the firmware again, QEMU stays up.
			if err := q.Reset(); err != nil {
				t.Fatal(err)
			}
			if _, err := g.WaitForLine(regexp.MustCompile(`(?s)(net0: 52:54:00:cb:01:02.*){2}`), 3*time.Minute); err != nil {
				t.Fatalf("no second boot after system_reset: %v", err)
			}
			if err := q.Quit(); err != nil {
				t.Fatal(err)
			}
			if err := g.Wait(time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
}
