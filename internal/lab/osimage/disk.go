package osimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The disk's layout, in 512-byte sectors. Partition numbers are part of the format: the
// deploy grows partition 3 (the last one) to the end of the node's disk.
const (
	sector      = 512
	biosStart   = 2048   // 1 = BIOS boot (EF02): GRUB's core.img for BIOS machines
	biosSectors = 2048   // 1 MiB
	espStart    = 4096   // 2 = ESP (EF00): FAT32, GRUB at EFI/BOOT/BOOTX64.EFI
	espSectors  = 131072 // 64 MiB
	rootStart   = espStart + espSectors
	tailSectors = 2048 // the backup GPT (33 sectors), rounded to 1 MiB
	// RootPartLabel is the root partition's GPT name and its file system's label.
	RootPartLabel = "root"
)

// grubCfg boots the Debian kernel through its /vmlinuz and /initrd.img links (kept by
// the kernel package across upgrades), finding the root by its file system UUID. It is
// embedded in both GRUB images and runs before any module could be read from a disk.
// {{TERMINAL}}: UEFI firmware already copies its console to the serial port (GRUB's own
// serial output would double every character); BIOS GRUB writes to both itself.
const grubCfg = `{{TERMINAL}}search --no-floppy --fs-uuid --set=root {{UUID}}
echo "racklift lab image: booting Debian from ($root)"
linux /vmlinuz root=UUID={{UUID}} ro console=tty0 console=ttyS0,115200n8
initrd /initrd.img
boot
`

// GRUB modules built into the images: nothing is loaded from a disk at boot.
var (
	grubEFIModules  = []string{"part_gpt", "ext2", "search", "search_fs_uuid", "linux", "boot", "echo", "all_video", "efi_gop"}
	grubBIOSModules = []string{"biosdisk", "part_gpt", "ext2", "search", "search_fs_uuid", "linux", "boot", "echo", "serial", "terminal"}
)

// The unit drop-in the image adds to templates/systemd/node-agent.service.
const agentDropIn = `# racklift lab image. The deploy writes the node's identity into /etc/racklift; an image
# booted without it skips the agent (one journal line) rather than failing every 30 s.
[Unit]
ConditionDirectoryNotEmpty=/etc/racklift

[Service]
# The agent's log goes to the serial console as well: the lab reads guests there.
StandardOutput=journal+console
StandardError=journal+console
`

func assemble(ctx context.Context, tmp, base string, cfg Config, img *Image) error {
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	if err := run(ctx, "tar", "-C", root, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", base); err != nil {
		return err
	}
	vmlinuz, err := os.Readlink(filepath.Join(root, "vmlinuz"))
	if err != nil {
		return fmt.Errorf("osimage: the base has no /vmlinuz link (linux-image-amd64 installed?): %w", err)
	}
	img.Kernel = strings.TrimPrefix(filepath.Base(vmlinuz), "vmlinuz-")
	img.RootUUID = uuidOf(img.Key, "root-fs")
	if err := addFiles(root, cfg, img); err != nil {
		return err
	}

	// Root file system: the tree copied in by mkfs.ext4 -d, no mount. Size: the content
	// plus room for the journal and metadata, grown by the deploy to the disk.
	content, err := treeSize(root)
	if err != nil {
		return err
	}
	rootMiB := (content*11/10)>>20 + 128
	rootImg := filepath.Join(tmp, "root.ext4")
	if err := run(ctx, "mkfs.ext4", "-q", "-F", "-L", RootPartLabel, "-U", img.RootUUID,
		"-E", "hash_seed="+img.RootUUID+",root_owner=0:0", "-m", "1", "-d", root, rootImg, fmt.Sprintf("%dM", rootMiB)); err != nil {
		return err
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}

	// ESP: FAT32 made and filled with mtools, no mount.
	efiCfg, biosCfg := filepath.Join(tmp, "grub-efi.cfg"), filepath.Join(tmp, "grub-bios.cfg")
	for file, term := range map[string]string{efiCfg: "", biosCfg: "serial --unit=0 --speed=115200\nterminal_output serial console\n"} {
		text := strings.NewReplacer("{{UUID}}", img.RootUUID, "{{TERMINAL}}", term).Replace(grubCfg)
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
	}
	efi := filepath.Join(tmp, "BOOTX64.EFI")
	if err := run(ctx, "grub-mkimage", append([]string{"-O", "x86_64-efi", "-o", efi, "-c", efiCfg, "-p", "/EFI/BOOT"}, grubEFIModules...)...); err != nil {
		return err
	}
	esp := filepath.Join(tmp, "esp.fat")
	volID := img.RootUUID[:8]
	if err := run(ctx, "mkfs.fat", "-F", "32", "-n", "ESP", "-i", volID, "-C", esp, strconv.Itoa(espSectors*sector/1024)); err != nil {
		return err
	}
	if err := run(ctx, "mmd", "-i", esp, "::/EFI", "::/EFI/BOOT"); err != nil {
		return err
	}
	if err := run(ctx, "mcopy", "-i", esp, efi, "::/EFI/BOOT/BOOTX64.EFI"); err != nil {
		return err
	}

	// BIOS: core.img (with the same embedded configuration) in partition 1.
	core := filepath.Join(tmp, "core.img")
	if err := run(ctx, "grub-mkimage", append([]string{"-O", "i386-pc", "-o", core, "-c", biosCfg, "-p", "/boot/grub"}, grubBIOSModules...)...); err != nil {
		return err
	}

	// The disk: GPT with deterministic GUIDs, partitions copied in sparsely.
	st, err := os.Stat(rootImg)
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	rootSectors := st.Size() / sector
	total := (rootStart + rootSectors + tailSectors) * sector
	raw := filepath.Join(tmp, "disk.raw")
	f, err := os.Create(raw)
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(total); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	if err := run(ctx, "sgdisk", "--clear",
		"--disk-guid="+uuidOf(img.Key, "disk"),
		fmt.Sprintf("--new=1:%d:%d", biosStart, biosStart+biosSectors-1), "--typecode=1:EF02", "--change-name=1:bios", "--partition-guid=1:"+uuidOf(img.Key, "p1"),
		fmt.Sprintf("--new=2:%d:%d", espStart, espStart+espSectors-1), "--typecode=2:EF00", "--change-name=2:esp", "--partition-guid=2:"+uuidOf(img.Key, "p2"),
		fmt.Sprintf("--new=3:%d:%d", rootStart, rootStart+rootSectors-1), "--typecode=3:8304", "--change-name=3:"+RootPartLabel, "--partition-guid=3:"+uuidOf(img.Key, "p3"),
		raw); err != nil {
		return err
	}
	for _, p := range []struct {
		file  string
		start int64
	}{{esp, espStart}, {rootImg, rootStart}} {
		if err := copySparse(f, p.start*sector, p.file); err != nil {
			return err
		}
	}
	if err := writeBIOSBoot(f, core); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	img.Size = total
	return compress(ctx, f, img)
}

// addFiles puts node-agent, its unit and the image's per-build configuration into root.
func addFiles(root string, cfg Config, img *Image) error {
	agent, err := os.ReadFile(cfg.Agent)
	if err != nil {
		return fmt.Errorf("osimage: node-agent: %w", err)
	}
	files := []struct {
		path string
		mode os.FileMode
		data []byte
	}{
		{"usr/local/bin/node-agent", 0o755, agent},
		{"etc/systemd/system/node-agent.service", 0o644, cfg.Unit},
		{"etc/systemd/system/node-agent.service.d/racklift-image.conf", 0o644, []byte(agentDropIn)},
		{"etc/fstab", 0o644, []byte("# racklift lab image: the root by its file system UUID (partition 3, PARTLABEL root)\n" +
			"UUID=" + img.RootUUID + " / ext4 errors=remount-ro 0 1\n")},
		{"etc/racklift-image", 0o644, []byte("IMAGE=" + img.Name + "\nROOT_UUID=" + img.RootUUID + "\n")},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return fmt.Errorf("osimage: %w", err)
		}
	}
	// systemctl enable, as a link: WantedBy=multi-user.target.
	wants := filepath.Join(root, "etc/systemd/system/multi-user.target.wants")
	if err := os.MkdirAll(wants, 0o755); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	if err := os.Symlink("/etc/systemd/system/node-agent.service", filepath.Join(wants, "node-agent.service")); err != nil {
		return fmt.Errorf("osimage: enable node-agent: %w", err)
	}
	// Masked: e2scrub_reap (LVM snapshot clean-up; no LVM here) held multi-user.target
	// back for minutes on a loaded TCG guest.
	for _, unit := range maskedUnits {
		os.Remove(filepath.Join(root, "etc/systemd/system/multi-user.target.wants", unit))
		if err := os.Symlink("/dev/null", filepath.Join(root, "etc/systemd/system", unit)); err != nil {
			return fmt.Errorf("osimage: mask %s: %w", unit, err)
		}
	}
	return nil
}

// maskedUnits are services of the base's packages the image does not run.
var maskedUnits = []string{"e2scrub_reap.service", "e2scrub_all.timer"}

// writeBIOSBoot does what grub-bios-setup does for a core.img embedded in a BIOS boot
// partition, on a file instead of a device: GRUB's boot.img in the MBR's code area
// (the protective MBR's partition table stays) pointing at core.img's first sector, and
// core.img in partition 1 with its first block list covering the rest of it.
func writeBIOSBoot(disk *os.File, core string) error {
	bootImg, err := os.ReadFile("/usr/lib/grub/i386-pc/boot.img")
	if err != nil {
		return fmt.Errorf("osimage: BIOS boot: %w (grub-pc-bin installed?)", err)
	}
	coreImg, err := os.ReadFile(core)
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	const (
		kernelSector = 0x5c  // GRUB_BOOT_MACHINE_KERNEL_SECTOR: LBA of core.img (8 bytes)
		bootDrive    = 0x64  // GRUB_BOOT_MACHINE_BOOT_DRIVE: 0xff = the drive the BIOS booted
		driveCheck   = 0x66  // GRUB_BOOT_MACHINE_DRIVE_CHECK: a jmp; NOPs for a hard disk
		codeEnd      = 0x1b8 // the MBR's code area ends at the disk signature
		listSize     = 12    // struct grub_boot_blocklist { u64 start; u16 len; u16 segment }
	)
	if len(bootImg) != sector || bootImg[driveCheck] != 0xeb || bootImg[bootDrive] != 0xff {
		return fmt.Errorf("osimage: /usr/lib/grub/i386-pc/boot.img: not the layout this builder knows (GRUB 2.0x boot.img)")
	}
	nsec := (len(coreImg) + sector - 1) / sector
	if nsec > biosSectors {
		return fmt.Errorf("osimage: core.img is %d sectors, the BIOS boot partition holds %d", nsec, biosSectors)
	}
	img := make([]byte, nsec*sector)
	copy(img, coreImg)
	bl := img[sector-listSize : sector]
	binary.LittleEndian.PutUint64(bl[0:], biosStart+1)
	binary.LittleEndian.PutUint16(bl[8:], uint16(nsec-1))
	if seg := binary.LittleEndian.Uint16(bl[10:]); seg != 0x820 {
		return fmt.Errorf("osimage: core.img's first block list has segment %#x, want 0x820 (diskboot.img layout changed)", seg)
	}
	if _, err := disk.WriteAt(img, biosStart*sector); err != nil {
		return fmt.Errorf("osimage: write core.img: %w", err)
	}
	mbr := make([]byte, sector)
	if _, err := disk.ReadAt(mbr, 0); err != nil {
		return fmt.Errorf("osimage: read MBR: %w", err)
	}
	copy(mbr[:codeEnd], bootImg[:codeEnd])
	binary.LittleEndian.PutUint64(mbr[kernelSector:], biosStart)
	mbr[driveCheck], mbr[driveCheck+1] = 0x90, 0x90
	if _, err := disk.WriteAt(mbr, 0); err != nil {
		return fmt.Errorf("osimage: write MBR: %w", err)
	}
	return nil
}

// compress writes img.Path (zstd) from the raw disk, hashing the raw bytes on the way.
func compress(ctx context.Context, raw *os.File, img *Image) error {
	if _, err := raw.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	tmp := img.Path + ".partial"
	defer os.Remove(tmp)
	h := sha256.New()
	cmd := exec.CommandContext(ctx, "zstd", "-q", "-T0", "-f", "-o", tmp)
	cmd.Stdin = io.TeeReader(raw, h)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("osimage: zstd: %w: %s", err, strings.TrimSpace(out.String()))
	}
	img.SHA256 = hex.EncodeToString(h.Sum(nil))
	st, err := os.Stat(tmp)
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	img.CompressedSize = st.Size()
	if err := os.Rename(tmp, img.Path); err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	return nil
}

// copySparse copies src into dst at off, skipping all-zero blocks (dst is a fresh sparse
// file, so they read as zeros already).
func copySparse(dst *os.File, off int64, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("osimage: %w", err)
	}
	defer in.Close()
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	for pos := off; ; {
		n, err := io.ReadFull(in, buf)
		if n > 0 && !bytes.Equal(buf[:n], zero[:n]) {
			if _, werr := dst.WriteAt(buf[:n], pos); werr != nil {
				return fmt.Errorf("osimage: write %s at %d: %w", filepath.Base(src), pos, werr)
			}
		}
		pos += int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("osimage: read %s: %w", src, err)
		}
	}
}

// treeSize is the bytes a tree needs in 4 KiB blocks, plus a block per inode.
func treeSize(root string) (int64, error) {
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n += 4096
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += (info.Size() + 4095) &^ 4095
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("osimage: size of the root tree: %w", err)
	}
	return n, nil
}

// uuidOf derives a stable UUID (version 4 layout) from the image key: rebuilding the
// same inputs gives the same disk.
func uuidOf(key, what string) string {
	b, _ := hex.DecodeString(hashOf("uuid", key, what)[:32])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if _, lerr := exec.LookPath(name); lerr != nil {
			return fmt.Errorf("osimage: %s not found (run scripts/install-deps as root: scripts/packages/image.txt)", name)
		}
		return fmt.Errorf("osimage: %s %s: %w\n%s", name, strings.Join(args, " "), err, lastLines(out.String(), 20))
	}
	return nil
}

// RootOffset is the byte offset of the root partition (3) in the raw image.
const RootOffset = rootStart * sector
