package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/expect"
)

type fakeDisk struct {
	name, model, serial, wwid, byPath string
	gib                               int64
	removable                         bool
}

// fakeMachine writes a sysfs tree and a by-path directory for disks.
func fakeMachine(t *testing.T, disks []fakeDisk) Machine {
	t.Helper()
	root := t.TempDir()
	m := Machine{SysBlock: filepath.Join(root, "sys/block"), Dev: filepath.Join(root, "dev"), ByPath: filepath.Join(root, "dev/disk/by-path")}
	for _, dir := range []string{m.SysBlock, m.ByPath} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := func(p, v string) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range disks {
		p := filepath.Join(m.SysBlock, d.name)
		w(filepath.Join(p, "size"), itoa(d.gib*GiB/512))
		rem := "0"
		if d.removable {
			rem = "1"
		}
		w(filepath.Join(p, "removable"), rem)
		if d.model != "" {
			w(filepath.Join(p, "device/model"), d.model+"   ") // sysfs pads models with blanks
		}
		if d.serial != "" {
			w(filepath.Join(p, "serial"), d.serial)
		}
		if d.wwid != "" {
			w(filepath.Join(p, "device/wwid"), d.wwid)
		}
		if d.byPath != "" {
			if err := os.Symlink("../../"+d.name, filepath.Join(m.ByPath, d.byPath)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../../"+d.name+"1", filepath.Join(m.ByPath, d.byPath+"-part1")); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var rack = []fakeDisk{
	{name: "loop0", gib: 1},
	{name: "nvme0n1", gib: 3576, model: "SAMSUNG MZQL23T8HCLS", serial: "S64HNE0R500001", wwid: "eui.36434830525000010025384500000001", byPath: "pci-0000:41:00.0-nvme-1"},
	{name: "nvme1n1", gib: 3576, model: "SAMSUNG MZQL23T8HCLS", serial: "S64HNE0R500002", wwid: "eui.36434830525000020025384500000001", byPath: "pci-0000:42:00.0-nvme-1"},
	{name: "sda", gib: 447, model: "Micron_5300_MTFDDAK480TDS", serial: "2112312345AB", wwid: "naa.500a0751312345ab", byPath: "pci-0000:00:17.0-ata-1"},
	{name: "sdb", gib: 29, model: "Ultra Fit", serial: "4C530001", removable: true, byPath: "pci-0000:00:14.0-usb-0:1:1.0-scsi-0:0:0:0"},
	{name: "sr0", gib: 1},
}

func TestChooseByHints(t *testing.T) {
	m := fakeMachine(t, rack)
	disks, err := m.Disks()
	if err != nil {
		t.Fatal(err)
	}
	if len(disks) != 4 {
		t.Fatalf("Disks() = %d disks, want 4 (loop and sr skipped): %+v", len(disks), disks)
	}
	for _, tc := range []struct {
		name    string
		hints   expect.RootDeviceHints
		need    int64
		want    string // chosen disk name; "" for an error
		wantErr string
	}{
		{name: "no hints: smallest non-removable", want: "sda"},
		{name: "image larger than sda", need: 500 * GiB, want: "nvme0n1"},
		{name: "min size", hints: expect.RootDeviceHints{MinSizeGiB: 1000, Smallest: true}, want: "nvme0n1"},
		{name: "max size", hints: expect.RootDeviceHints{MaxSizeGiB: 500}, want: "sda"},
		{name: "size range matches nothing", hints: expect.RootDeviceHints{MinSizeGiB: 500, MaxSizeGiB: 1000}, wantErr: "no disk matches the hints"},
		{name: "model, case and padding ignored", hints: expect.RootDeviceHints{Model: "micron_5300_mtfddak480tds"}, want: "sda"},
		{name: "model matching two without smallest", hints: expect.RootDeviceHints{Model: "SAMSUNG MZQL23T8HCLS"}, wantErr: "2 disks match the hints"},
		{name: "model matching two with smallest takes the first", hints: expect.RootDeviceHints{Model: "SAMSUNG MZQL23T8HCLS", Smallest: true}, want: "nvme0n1"},
		{name: "serial", hints: expect.RootDeviceHints{Serial: "S64HNE0R500002"}, want: "nvme1n1"},
		{name: "wwn as udev writes it", hints: expect.RootDeviceHints{WWN: "0x500a0751312345ab"}, want: "sda"},
		{name: "by-path", hints: expect.RootDeviceHints{ByPath: "pci-0000:42:00.0-nvme-1"}, want: "nvme1n1"},
		{name: "by-path with its directory", hints: expect.RootDeviceHints{ByPath: "/dev/disk/by-path/pci-0000:41:00.0-nvme-1"}, want: "nvme0n1"},
		{name: "removable only by identity", hints: expect.RootDeviceHints{Serial: "4C530001"}, want: "sdb"},
		{name: "removable refused by size alone", hints: expect.RootDeviceHints{MaxSizeGiB: 30}, wantErr: "no disk matches"},
		{name: "serial of no disk", hints: expect.RootDeviceHints{Serial: "NOPE"}, wantErr: `serial "2112312345AB" is not "NOPE"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, choices, err := Choose(disks, tc.hints, tc.need, false, nil)
			if len(choices) != len(disks) {
				t.Fatalf("choices = %d, want one per disk (%d)", len(choices), len(disks))
			}
			for _, c := range choices {
				if c.Why == "" {
					t.Errorf("disk %s has no why", c.Device)
				}
			}
			if tc.wantErr != "" {
				var nd *NoDiskError
				if !errors.As(err, &nd) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want a NoDiskError containing %q", err, tc.wantErr)
				}
				for _, dd := range disks {
					if !strings.Contains(err.Error(), dd.Path) {
						t.Errorf("error does not name disk %s: %v", dd.Path, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != tc.want {
				t.Fatalf("chose %s, want %s; choices %+v", d.Name, tc.want, choices)
			}
			chosen := 0
			for _, c := range choices {
				if c.Chosen {
					chosen++
					if c.Device != d.Path {
						t.Errorf("choice marked %s, returned %s", c.Device, d.Path)
					}
				}
			}
			if chosen != 1 {
				t.Errorf("%d choices marked chosen, want 1", chosen)
			}
		})
	}
}

func TestChooseRefusesDiskWithData(t *testing.T) {
	m := fakeMachine(t, rack[:4])
	disks, err := m.Disks()
	if err != nil {
		t.Fatal(err)
	}
	sig := func(path string) (string, error) {
		if strings.HasSuffix(path, "/sda") {
			return "an ext2/3/4 filesystem", nil
		}
		return "", nil
	}
	_, choices, err := Choose(disks, expect.RootDeviceHints{}, 0, false, sig)
	if err == nil || !strings.Contains(err.Error(), "holds an ext2/3/4 filesystem") || !strings.Contains(err.Error(), "not a reprovision") {
		t.Fatalf("err = %v, want the ext4 on sda refused", err)
	}
	for _, c := range choices {
		if c.Chosen {
			t.Errorf("%s chosen on a refusal", c.Device)
		}
	}
	d, choices, err := Choose(disks, expect.RootDeviceHints{}, 0, true, sig)
	if err != nil || d.Name != "sda" {
		t.Fatalf("reprovision: %v %v", d.Name, err)
	}
	if !strings.Contains(choices[len(choices)-1].Why, "overwritten: reprovision") {
		t.Errorf("why = %q", choices[len(choices)-1].Why)
	}
}

func TestSignatureOf(t *testing.T) {
	blank := func() []byte { return make([]byte, 68<<10) }
	put := func(off int, s string) []byte { b := blank(); copy(b[off:], s); return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{name: "blank", b: blank(), want: ""},
		{name: "gpt", b: put(512, "EFI PART"), want: "a GPT partition table"},
		{name: "gpt 4k", b: put(4096, "EFI PART"), want: "a GPT partition table"},
		{name: "ext4", b: put(1080, "\x53\xef"), want: "an ext2/3/4 filesystem"},
		{name: "xfs", b: put(0, "XFSB"), want: "an XFS filesystem"},
		{name: "btrfs", b: put(65600, "_BHRfS_M"), want: "a btrfs filesystem"},
		{name: "mbr", b: put(510, "\x55\xaa"), want: "an MBR partition table"},
		{name: "short read", b: []byte("EFI"), want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SignatureOf(tc.b); got != tc.want {
				t.Fatalf("SignatureOf = %q, want %q", got, tc.want)
			}
		})
	}
}

// Without udev's links (the busybox ramdisk) the by-path name of virtio and NVMe disks
// comes from sysfs, as udev's path_id names them.
func TestByPathWithoutUdev(t *testing.T) {
	root := t.TempDir()
	m := Machine{SysBlock: filepath.Join(root, "sys/block"), Dev: filepath.Join(root, "dev"), ByPath: filepath.Join(root, "dev/disk/by-path")}
	devices := filepath.Join(root, "sys/devices/pci0000:00")
	for _, d := range []struct{ name, device, nsid string }{
		{name: "vda", device: "0000:00:05.0/virtio2"},
		{name: "nvme0n1", device: "0000:00:01.1/0000:41:00.0/nvme/nvme0", nsid: "1"},
		{name: "sda", device: "0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"},
	} {
		dir := filepath.Join(m.SysBlock, d.name)
		os.MkdirAll(dir, 0o755)
		os.MkdirAll(filepath.Join(devices, d.device), 0o755)
		os.WriteFile(filepath.Join(dir, "size"), []byte("2097152\n"), 0o644)
		if err := os.Symlink(filepath.Join(devices, d.device), filepath.Join(dir, "device")); err != nil {
			t.Fatal(err)
		}
		if d.nsid != "" {
			os.WriteFile(filepath.Join(dir, "nsid"), []byte(d.nsid+"\n"), 0o644)
		}
	}
	disks, err := m.Disks()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"vda": "pci-0000:00:05.0", "nvme0n1": "pci-0000:41:00.0-nvme-1", "sda": ""}
	for _, d := range disks {
		if d.ByPath != want[d.Name] {
			t.Errorf("%s: ByPath = %q, want %q", d.Name, d.ByPath, want[d.Name])
		}
	}
	got, _, err := Choose(disks, expect.RootDeviceHints{ByPath: "pci-0000:41:00.0-nvme-1"}, 0, false, nil)
	if err != nil || got.Name != "nvme0n1" {
		t.Fatalf("by_path hint chose %s, %v", got.Name, err)
	}
}
