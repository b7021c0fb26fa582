package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// GiB is the unit of the size hints.
const GiB = 1 << 30

// Machine is where the deploy reads the disks from; the zero value is the real machine,
// tests point it at a fake sysfs tree and device directory.
type Machine struct {
	SysBlock string // default /sys/block
	Dev      string // where the device nodes are, default /dev
	ByPath   string // default /dev/disk/by-path
	EFIVars  string // default /sys/firmware/efi/efivars: present when booted with UEFI
	// PartitionDevice gives the device of partition p of disk (sector: its sector size)
	// and a release for it; nil: the kernel's node (vda2, nvme0n1p2) once it appears.
	// Tests on kernels without GPT support use a loop device over the range.
	PartitionDevice func(ctx context.Context, disk string, p Partition, sector int64) (string, func(), error)
}

func (m Machine) sysBlock() string { return or(m.SysBlock, "/sys/block") }
func (m Machine) dev() string      { return or(m.Dev, "/dev") }
func (m Machine) byPath() string   { return or(m.ByPath, "/dev/disk/by-path") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Disk is one whole disk as sysfs describes it.
type Disk struct {
	Name      string // vda, nvme0n1
	Path      string // the device node, /dev/vda
	SizeBytes int64
	Model     string
	Serial    string
	WWN       string
	ByPath    string // the /dev/disk/by-path name, "" when none
	Removable bool
	ReadOnly  bool
}

// skipDisk are block devices that are never a deploy target.
func skipDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "zram", "dm-", "sr", "md", "nbd", "fd"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Disks lists the machine's whole disks, sorted by name.
func (m Machine) Disks() ([]Disk, error) {
	ents, err := os.ReadDir(m.sysBlock())
	if err != nil {
		return nil, fmt.Errorf("list disks: %w", err)
	}
	byPath := map[string]string{}
	if links, err := os.ReadDir(m.byPath()); err == nil {
		for _, l := range links {
			if strings.Contains(l.Name(), "-part") {
				continue
			}
			if t, err := os.Readlink(filepath.Join(m.byPath(), l.Name())); err == nil {
				// Several paths may name one disk (e.g. -ata- and -sas-): keep the first.
				if _, seen := byPath[filepath.Base(t)]; !seen {
					byPath[filepath.Base(t)] = l.Name()
				}
			}
		}
	}
	var out []Disk
	for _, e := range ents {
		n := e.Name()
		if skipDisk(n) {
			continue
		}
		p := filepath.Join(m.sysBlock(), n)
		sectors, _ := strconv.ParseInt(sysRead(p, "size"), 10, 64)
		out = append(out, Disk{
			Name:      n,
			Path:      filepath.Join(m.dev(), n),
			SizeBytes: sectors * 512, // sysfs counts 512-byte sectors whatever the disk's block size
			Model:     sysRead(p, "device/model"),
			Serial:    firstOf(sysRead(p, "device/serial"), sysRead(p, "serial")),
			WWN:       firstOf(sysRead(p, "device/wwid"), sysRead(p, "wwid")),
			ByPath:    firstOf(byPath[n], pathID(p, n)),
			Removable: sysRead(p, "removable") == "1",
			ReadOnly:  sysRead(p, "ro") == "1",
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

var pciAddrRE = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// pathID is udev's by-path name of a virtio or NVMe disk, worked out from sysfs for a
// ramdisk without udev (whose /dev/disk/by-path links are then missing): the PCI
// function the disk hangs off, "pci-0000:00:05.0" for virtio-blk and
// "pci-0000:41:00.0-nvme-1" for an NVMe namespace. Other buses (SATA, SAS) need udev.
func pathID(sysDisk, name string) string {
	dev, err := filepath.EvalSymlinks(filepath.Join(sysDisk, "device"))
	if err != nil {
		return ""
	}
	var pci string
	virtio := false
	for _, part := range strings.Split(filepath.ToSlash(dev), "/") {
		if pciAddrRE.MatchString(part) {
			pci = part
		}
		if strings.HasPrefix(part, "virtio") {
			virtio = true
		}
	}
	switch {
	case pci == "":
		return ""
	case strings.HasPrefix(name, "nvme"):
		if nsid := sysRead(sysDisk, "nsid"); nsid != "" {
			return "pci-" + pci + "-nvme-" + nsid
		}
	case virtio:
		return "pci-" + pci
	}
	return ""
}

// sysRead reads a sysfs attribute, bounded and trimmed; "" when absent.
func sysRead(dir, name string) string {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 512))
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, string(b)))
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// NoDiskError is a deploy with no disk to write to: none matches the hints, several
// match without "smallest", or the one chosen holds data on a run that is not a
// reprovision. Disks is every disk seen and why it was not chosen.
type NoDiskError struct {
	Hints  expect.RootDeviceHints
	Reason string
	Disks  []check.DiskChoice
}

func (e *NoDiskError) Error() string {
	var seen []string
	for _, d := range e.Disks {
		seen = append(seen, fmt.Sprintf("%s %s (%s)", d.Device, sizeString(d.SizeBytes), d.Why))
	}
	if len(seen) == 0 {
		seen = []string{"none"}
	}
	return fmt.Sprintf("%s; root device hints %s; disks seen: %s", e.Reason, e.Hints.String(), strings.Join(seen, "; "))
}

func sizeString(b int64) string {
	if b >= GiB {
		return fmt.Sprintf("%.1f GiB", float64(b)/GiB)
	}
	return fmt.Sprintf("%d MiB", b>>20)
}

// mismatch says why d fails the hints for an image of need bytes; "" when it matches.
func mismatch(h expect.RootDeviceHints, d Disk, need int64) string {
	switch {
	case d.ReadOnly:
		return "read-only"
	case d.SizeBytes == 0:
		return "no medium (size 0)"
	case need > 0 && d.SizeBytes < need:
		return fmt.Sprintf("smaller than the image (%s)", sizeString(need))
	case h.MinSizeGiB > 0 && d.SizeBytes < h.MinSizeGiB*GiB:
		return fmt.Sprintf("smaller than min_size_gib %d", h.MinSizeGiB)
	case h.MaxSizeGiB > 0 && d.SizeBytes > h.MaxSizeGiB*GiB:
		return fmt.Sprintf("larger than max_size_gib %d", h.MaxSizeGiB)
	case h.Model != "" && !strings.EqualFold(strings.TrimSpace(h.Model), d.Model):
		return fmt.Sprintf("model %q is not %q", d.Model, h.Model)
	case h.Serial != "" && !strings.EqualFold(strings.TrimSpace(h.Serial), d.Serial):
		return fmt.Sprintf("serial %q is not %q", d.Serial, h.Serial)
	case h.WWN != "" && !wwnEqual(h.WWN, d.WWN):
		return fmt.Sprintf("wwn %q is not %q", d.WWN, h.WWN)
	case h.ByPath != "" && strings.TrimPrefix(h.ByPath, "/dev/disk/by-path/") != d.ByPath:
		return fmt.Sprintf("by-path %q is not %q", d.ByPath, h.ByPath)
	case d.Removable && h.Serial == "" && h.WWN == "" && h.ByPath == "":
		// A USB stick or virtual CD is only a target when named by identity.
		return "removable (name it by serial, wwn or by_path to use it)"
	}
	return ""
}

// wwnEqual compares WWNs as sysfs (naa.5000…) and udev (0x5000…) write them.
func wwnEqual(a, b string) bool { return b != "" && expect.NormWWN(a) == expect.NormWWN(b) }

// Choose picks the disk for an image of need raw bytes (0: unknown) by the hints. Every
// disk seen comes back with why it was or was not chosen. The chosen disk must not hold
// a partition table or filesystem unless reprovision; sig reads that (Signature on the
// real machine).
func Choose(disks []Disk, h expect.RootDeviceHints, need int64, reprovision bool, sig func(path string) (string, error)) (Disk, []check.DiskChoice, error) {
	choices := make([]check.DiskChoice, len(disks))
	var match []int
	for i, d := range disks {
		choices[i] = check.DiskChoice{Device: d.Path, SizeBytes: d.SizeBytes, Model: d.Model, Serial: d.Serial,
			WWN: d.WWN, ByPath: d.ByPath, Removable: d.Removable}
		if why := mismatch(h, d, need); why != "" {
			choices[i].Why = why
			continue
		}
		match = append(match, i)
	}
	fail := func(reason string) (Disk, []check.DiskChoice, error) {
		return Disk{}, choices, &NoDiskError{Hints: h, Reason: reason, Disks: choices}
	}
	if len(match) == 0 {
		return fail("no disk matches the hints")
	}
	if len(match) > 1 && !h.TakesSmallest() {
		for _, i := range match {
			choices[i].Why = "matches, as do others"
		}
		return fail(fmt.Sprintf("%d disks match the hints (add a hint, or smallest: true)", len(match)))
	}
	sort.SliceStable(match, func(a, b int) bool { return disks[match[a]].SizeBytes < disks[match[b]].SizeBytes })
	pick := match[0]
	for _, i := range match[1:] {
		choices[i].Why = "matches, but larger than " + disks[pick].Name
	}
	why := "the only disk matching the hints"
	if len(match) > 1 {
		why = "smallest disk matching the hints"
	}
	if sig != nil {
		s, err := sig(disks[pick].Path)
		if err != nil {
			choices[pick].Why = "cannot read it: " + err.Error()
			return fail("the chosen disk cannot be read")
		}
		if s != "" {
			if !reprovision {
				choices[pick].Why = fmt.Sprintf("matches, but holds %s: not a reprovision", s)
				return fail(fmt.Sprintf("disk %s holds %s; refusing to overwrite it (reprovision to replace it)", disks[pick].Path, s))
			}
			why += fmt.Sprintf("; holds %s, overwritten: reprovision", s)
		}
	}
	choices[pick].Chosen, choices[pick].Why = true, why
	return disks[pick], choices, nil
}

// Signature names the partition table or filesystem at the start of the device at path
// ("" when the first 68 KiB hold none of the known ones).
func Signature(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, 68<<10)
	n, err := io.ReadFull(f, b)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", err
	}
	return SignatureOf(b[:n]), nil
}

// SignatureOf is Signature on the device's first bytes.
func SignatureOf(b []byte) string {
	at := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && bytes.Equal(b[off:off+len(magic)], []byte(magic))
	}
	switch {
	case at(512, "EFI PART") || at(4096, "EFI PART"):
		return "a GPT partition table"
	case at(1080, "\x53\xef"):
		return "an ext2/3/4 filesystem"
	case at(0, "XFSB"):
		return "an XFS filesystem"
	case at(65600, "_BHRfS_M"):
		return "a btrfs filesystem"
	case at(0, "LUKS\xba\xbe"):
		return "a LUKS volume"
	case at(536, "LVM2 001") || at(24, "LVM2 001"):
		return "an LVM physical volume"
	case at(4086, "SWAPSPACE2"):
		return "swap"
	case at(32769, "CD001"):
		return "an ISO 9660 filesystem"
	case at(510, "\x55\xaa"):
		if at(82, "FAT32") || at(54, "FAT1") {
			return "a FAT filesystem"
		}
		return "an MBR partition table"
	}
	return ""
}
