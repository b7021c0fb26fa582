package deploy

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/expect"
	"golang.org/x/sys/unix"
)

// testDiskImage builds a GPT disk image the way `make image` lays one out, without root:
// an 8 MiB ESP (with the removable loader unless noLoader) and a 24 MiB ext4 root made
// with mkfs.ext4 -d.
func testDiskImage(t *testing.T, noLoader bool) []byte {
	t.Helper()
	testenv.NeedCommand(t, "sgdisk", "mkfs.ext4", "mkfs.vfat", "mmd", "mcopy")
	dir := t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	for p, data := range map[string]string{
		"etc/os-release":            "PRETTY_NAME=\"racklift test image\"\n",
		"etc/hostname":              "image\n",
		"etc/systemd/network/.keep": "",
	} {
		os.MkdirAll(filepath.Join(rootfs, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(rootfs, p), []byte(data), 0o644)
	}
	root, esp, disk := filepath.Join(dir, "root.img"), filepath.Join(dir, "esp.img"), filepath.Join(dir, "disk.img")
	run(t, "mkfs.ext4", "-q", "-F", "-d", rootfs, "-L", "root", root, "24M")
	run(t, "mkfs.vfat", "-C", esp, "8192")
	if !noLoader {
		loader := filepath.Join(dir, "BOOTX64.EFI")
		os.WriteFile(loader, bytes.Repeat([]byte("MZ"), 4096), 0o644)
		run(t, "mmd", "-i", esp, "::EFI", "::EFI/BOOT")
		run(t, "mcopy", "-i", esp, loader, "::EFI/BOOT/BOOTX64.EFI")
	}
	if err := os.WriteFile(disk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(disk, 34<<20)
	run(t, "sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-n", "2:18432:+24M", "-t", "2:8300", disk)
	f, err := os.OpenFile(disk, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range []struct {
		src string
		off int64
	}{{esp, 2048 * 512}, {root, 18432 * 512}} {
		b, err := os.ReadFile(p.src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b, p.off); err != nil {
			t.Fatal(err)
		}
	}
	img, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// loopDevice attaches file (optionally a byte range of it) to a loop device, detached
// in t.Cleanup whatever happens.
func loopDevice(t *testing.T, file string, off, size int64) string {
	t.Helper()
	args := []string{"-f", "--show"}
	if size > 0 {
		args = append(args, "-o", strconv.FormatInt(off, 10), "--sizelimit", strconv.FormatInt(size, 10))
	}
	out, err := exec.Command("losetup", append(args, file)...).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %s: %v: %s", file, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	return dev
}

// loopMachine is a fake sysfs with one disk, vdz, whose device node is a symlink to a
// loop device over a 256 MiB file; partitions are loop devices over their ranges (this
// kernel may lack GPT partition support for loop devices).
func loopMachine(t *testing.T) (Machine, string) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "losetup", "e2fsck", "resize2fs", "dumpe2fs")
	dir := t.TempDir()
	backing := filepath.Join(dir, "disk")
	os.WriteFile(backing, nil, 0o600)
	if err := os.Truncate(backing, 256<<20); err != nil {
		t.Fatal(err)
	}
	loop := loopDevice(t, backing, 0, 0)
	m := fakeMachine(t, []fakeDisk{{name: "vdz", gib: 0}})
	os.WriteFile(filepath.Join(m.SysBlock, "vdz", "size"), []byte(strconv.Itoa(256<<20/512)), 0o644)
	os.MkdirAll(m.Dev, 0o755)
	if err := os.Symlink(loop, filepath.Join(m.Dev, "vdz")); err != nil {
		t.Fatal(err)
	}
	m.EFIVars = filepath.Join(dir, "no-efivars")
	m.PartitionDevice = func(ctx context.Context, disk string, p Partition, sector int64) (string, func(), error) {
		dev := loopDevice(t, loop, int64(p.FirstLBA)*sector, int64(p.LastLBA-p.FirstLBA+1)*sector)
		return dev, func() {}, nil
	}
	return m, loop
}

func TestDeployOnLoopDevice(t *testing.T) {
	m, loop := loopMachine(t)
	raw := testDiskImage(t, false)
	srv := newImageServer(t, compress(t, FormatZstd, raw), 0)
	d := &Deployer{Machine: m, Files: func(context.Context) ([]File, error) {
		return []File{{Path: "/etc/racklift/node.key", Mode: 0o600, Data: []byte("KEY")}}, nil
	}}
	exp := &expect.Expectations{
		Deploy: &expect.Deploy{Image: "test-image", URL: srv.URL + "/img", SHA256: sum(raw), Hostname: "gpu-07"},
		Networks: []expect.Network{
			{Name: "provisioning", Role: "provisioning", Interface: "eth0"},
			{Name: "storage", Role: "storage", Interface: "eth1", VLAN: 200, MTU: 9000, Address: "10.20.0.17/24"},
		},
	}
	res, err := d.Deploy(context.Background(), "gpu-07", exp)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Bytes != int64(len(raw)) || res.SHA256 != sum(raw) || res.Error != "" || res.Device != filepath.Join(m.Dev, "vdz") {
		t.Fatalf("result = %+v", res)
	}
	if len(res.Disks) != 1 || !res.Disks[0].Chosen {
		t.Fatalf("disks = %+v", res.Disks)
	}
	if out := run(t, "sgdisk", "-v", loop); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v on the deployed disk:\n%s", out)
	}

	// Mount the grown root again and read what the deploy wrote.
	f, _ := os.Open(loop)
	g, err := ReadGPT(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := g.Last()
	if got := int64(root.LastLBA-root.FirstLBA+1) * 512; got < 200<<20 {
		t.Fatalf("root partition is %d bytes, want it grown to the 256 MiB disk", got)
	}
	part := loopDevice(t, loop, int64(root.FirstLBA)*512, int64(root.LastLBA-root.FirstLBA+1)*512)
	dump := run(t, "dumpe2fs", "-h", part)
	var blocks, bsize int64
	for _, l := range strings.Split(dump, "\n") {
		if v, ok := strings.CutPrefix(l, "Block count:"); ok {
			blocks, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
		if v, ok := strings.CutPrefix(l, "Block size:"); ok {
			bsize, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if blocks*bsize < 200<<20 {
		t.Errorf("filesystem is %d bytes after the deploy, want it grown past 200 MiB", blocks*bsize)
	}
	mnt := t.TempDir()
	if err := unix.Mount(part, mnt, "ext4", unix.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	for p, want := range map[string]string{
		"etc/hostname":   "gpu-07\n",
		"etc/os-release": "racklift test image",
		"etc/systemd/network/10-racklift-eth1.200.netdev":  "Id=200",
		"etc/systemd/network/10-racklift-eth1.200.network": "Address=10.20.0.17/24",
		"etc/systemd/network/10-racklift-eth0.network":     "DHCP=ipv4",
		"etc/racklift/node.key":                            "KEY",
	} {
		b, err := os.ReadFile(filepath.Join(mnt, p))
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s = %q, %v; want %q in it", p, b, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(mnt, "etc/racklift/node.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("node.key mode %v, %v; want 0600", st.Mode(), err)
	}
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}

	// The disk now holds a partition table: a second deploy without reprovision refuses it.
	_, err = d.Deploy(context.Background(), "gpu-07", exp)
	var nd *NoDiskError
	if !errors.As(err, &nd) || !strings.Contains(err.Error(), "holds a GPT partition table") {
		t.Fatalf("second deploy: err = %v, want the disk refused", err)
	}
	exp.Deploy.Reprovision = true
	if _, err := d.Deploy(context.Background(), "gpu-07", exp); err != nil {
		t.Fatalf("reprovision: %v", err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mounts"); bytes.Contains(mounts, []byte("racklift-root-")) {
		t.Error("a racklift-root- mount is left behind")
	}
}

func TestInstallRefusesDiskWithoutBootPath(t *testing.T) {
	raw := testDiskImage(t, true)
	p := filepath.Join(t.TempDir(), "disk")
	os.WriteFile(p, raw, 0o600)
	os.Truncate(p, 64<<20)
	_, err := Machine{}.Install(context.Background(), p, nil, nil)
	var be *BootError
	if !errors.As(err, &be) || !strings.Contains(err.Error(), "has no EFI/BOOT/BOOTX64.EFI") {
		t.Fatalf("err = %v, want a BootError naming the missing loader", err)
	}
}
