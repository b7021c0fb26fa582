package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Installed is what Install did after the image was verified.
type Installed struct {
	Root     string // the root partition's device
	RootSize int64  // bytes, after growing
	ESP      string // the EFI system partition's device, "" when none
	// Boot says how the disk boots: "removable path", "UEFI boot entry Boot0004 and removable path", "BIOS boot partition".
	Boot []string
}

// BootError is a deployed disk with no way to boot.
type BootError struct{ Device, Why string }

func (e *BootError) Error() string {
	return fmt.Sprintf("disk %s has no boot path: %s (the image must carry %s on its ESP, or a BIOS boot partition)", e.Device, e.Why, RemovableLoader)
}

// Install finishes a verified image on device: the backup GPT moved to the end, the last
// (root) partition and its ext4 filesystem grown to the disk, files written onto the
// root (always unmounted again), and a boot path checked (and a UEFI boot entry added
// when the machine booted with UEFI and efibootmgr is there).
func (m Machine) Install(ctx context.Context, device string, files []File, log *slog.Logger) (Installed, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var in Installed
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return in, err
	}
	var g *GPT
	var root Partition
	size, err := fileSize(f)
	if err == nil {
		g, err = FixGPT(f, size, true)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = m.boot(ctx, f, g, device, &in, log)
	}
	if err == nil {
		rereadPartitions(f)
		root, _ = g.Last()
		in.RootSize = int64(root.LastLBA-root.FirstLBA+1) * g.Sector
	}
	f.Close()
	if err != nil {
		return in, fmt.Errorf("%s: %w", device, err)
	}
	partDev := m.PartitionDevice
	if partDev == nil {
		partDev = kernelPartition
	}
	dev, release, err := partDev(ctx, device, root, g.Sector)
	if err != nil {
		return in, err
	}
	defer release()
	in.Root = dev
	if err := growExt4(ctx, in.Root, log); err != nil {
		return in, err
	}
	if err := writeFiles(in.Root, files); err != nil {
		return in, err
	}
	return in, nil
}

// boot checks the disk has a boot path and adds the UEFI entry where it can.
func (m Machine) boot(ctx context.Context, f *os.File, g *GPT, device string, in *Installed, log *slog.Logger) error {
	var esp *Partition
	for i, p := range g.Partitions {
		if p.IsESP() && esp == nil {
			esp = &g.Partitions[i]
		}
		if p.IsBIOSBoot() {
			in.Boot = append(in.Boot, "BIOS boot partition")
		}
	}
	if esp == nil {
		if len(in.Boot) == 0 {
			return &BootError{Device: device, Why: "no EFI system partition and no BIOS boot partition"}
		}
		return nil
	}
	in.ESP = PartitionPath(device, esp.Number)
	r := io.NewSectionReader(f, int64(esp.FirstLBA)*g.Sector, int64(esp.LastLBA-esp.FirstLBA+1)*g.Sector)
	n, err := fatFile(r, RemovableLoader)
	if err != nil || n == 0 {
		why := fmt.Sprintf("ESP %s has no %s", in.ESP, RemovableLoader)
		if err != nil {
			why += ": " + err.Error()
		}
		return &BootError{Device: device, Why: why}
	}
	in.Boot = append(in.Boot, "UEFI removable path "+RemovableLoader)
	if entry, err := m.bootEntry(ctx, device, esp.Number); err != nil {
		// The removable path still boots: a missing entry is a note, not a failure.
		log.Warn("no UEFI boot entry added (the removable path boots)", "error", err.Error())
	} else if entry != "" {
		in.Boot = append(in.Boot, "UEFI boot entry "+entry)
	}
	return nil
}

var bootLineRE = regexp.MustCompile(`(?m)^Boot([0-9A-Fa-f]{4})\*? (.*)$`)

// BootLabel is the label of the UEFI boot entry the deploy adds.
const BootLabel = "racklift"

// bootEntry adds a UEFI boot entry for the removable loader when the machine booted with
// UEFI (efivars present) and efibootmgr is there; "" when either is missing. Older
// racklift entries are removed first, and the boot order keeps what was there first
// (network boot stays ahead: serve answers "boot local" and sets the BMC's next boot).
func (m Machine) bootEntry(ctx context.Context, device string, part int) (string, error) {
	if _, err := os.Stat(or(m.EFIVars, "/sys/firmware/efi/efivars")); err != nil {
		return "", nil
	}
	efibootmgr, err := exec.LookPath("efibootmgr")
	if err != nil {
		return "", nil
	}
	out, err := exec.CommandContext(ctx, efibootmgr).Output()
	if err != nil {
		return "", fmt.Errorf("efibootmgr: %w", err)
	}
	var order string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "BootOrder: "); ok {
			order = strings.TrimSpace(v)
		}
	}
	for _, mm := range bootLineRE.FindAllStringSubmatch(string(out), -1) {
		if label, _, _ := strings.Cut(mm[2], "\t"); strings.TrimSpace(label) == BootLabel {
			exec.CommandContext(ctx, efibootmgr, "-q", "-b", mm[1], "-B").Run()
			order = strings.Join(slicesDelete(strings.Split(order, ","), mm[1]), ",")
		}
	}
	out, err = exec.CommandContext(ctx, efibootmgr, "-c", "-d", device, "-p", fmt.Sprint(part), "-L", BootLabel,
		"-l", `\`+strings.ReplaceAll(RemovableLoader, "/", `\`)).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("efibootmgr -c: %v: %s", err, bytes.TrimSpace(out))
	}
	var entry string
	for _, mm := range bootLineRE.FindAllStringSubmatch(string(out), -1) {
		if label, _, _ := strings.Cut(mm[2], "\t"); strings.TrimSpace(label) == BootLabel {
			entry = "Boot" + mm[1]
		}
	}
	if order != "" && entry != "" {
		exec.CommandContext(ctx, efibootmgr, "-q", "-o", order+","+strings.TrimPrefix(entry, "Boot")).Run()
	}
	return entry, nil
}

func slicesDelete(s []string, v string) []string {
	var out []string
	for _, x := range s {
		if x != v && x != "" {
			out = append(out, x)
		}
	}
	return out
}

// rereadPartitions asks the kernel to re-read a block device's partition table (the
// grown root); a regular file (tests) has none to re-read.
func rereadPartitions(f *os.File) {
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeDevice != 0 {
		for range 10 {
			if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); !errors.Is(err, unix.EBUSY) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// kernelPartition is the kernel's node for partition p of disk, once it appears.
func kernelPartition(ctx context.Context, disk string, p Partition, _ int64) (string, func(), error) {
	dev := PartitionPath(disk, p.Number)
	return dev, func() {}, waitFor(ctx, dev, 10*time.Second)
}

func waitFor(ctx context.Context, dev string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(dev); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("root partition %s did not appear within %v after re-reading the partition table", dev, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// growExt4 checks the root filesystem and grows it to its partition with e2fsprogs.
func growExt4(ctx context.Context, part string, log *slog.Logger) error {
	sig, err := Signature(part)
	if err != nil {
		return fmt.Errorf("root partition %s: %w", part, err)
	}
	if sig != "an ext2/3/4 filesystem" {
		return fmt.Errorf("root partition %s holds %q, not ext4: racklift grows only ext4 roots", part, sig)
	}
	// e2fsck exit status: 0 clean, 1 errors corrected; anything else is a broken image.
	// -y rather than -p: a ramdisk whose clock is off gets "last write time is in the
	// future", which preen mode may refuse to fix unattended.
	out, err := exec.CommandContext(ctx, "e2fsck", "-f", "-y", part).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return fmt.Errorf("e2fsck -f -y %s: %v: %s", part, err, tail(out))
	}
	start := time.Now()
	out, err = exec.CommandContext(ctx, "resize2fs", part).CombinedOutput()
	if err != nil {
		return fmt.Errorf("resize2fs %s: %v: %s", part, err, tail(out))
	}
	log.Info("root filesystem grown", "partition", part, "seconds", time.Since(start).Seconds())
	return nil
}

func tail(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// writeFiles mounts the root partition on a temporary directory, writes files inside it
// (never outside: os.Root refuses paths and links that leave it), and always unmounts.
func writeFiles(part string, files []File) (err error) {
	dir, err := os.MkdirTemp("", "racklift-root-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount(part, dir, "ext4", unix.MS_NOATIME, ""); err != nil {
		return fmt.Errorf("mount %s (ext4) on %s: %w", part, dir, err)
	}
	defer func() {
		if uerr := unix.Unmount(dir, 0); uerr != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
			if err == nil {
				err = fmt.Errorf("unmount %s: %w", dir, uerr)
			}
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range files {
		p := filepath.Clean(f.Path)
		if !filepath.IsAbs(p) || p == "/" {
			return fmt.Errorf("file %q for the installed system: not an absolute file path", f.Path)
		}
		rel := strings.TrimPrefix(p, "/")
		if err := root.MkdirAll(filepath.Dir(rel), 0o755); err != nil {
			return fmt.Errorf("installed system: %w", err)
		}
		// Write to a temporary name and rename, so a key is never half there.
		tmp := rel + ".racklift-new"
		if err := root.WriteFile(tmp, f.Data, f.Mode.Perm()); err != nil {
			return fmt.Errorf("installed system: %w", err)
		}
		if err := root.Chmod(tmp, f.Mode.Perm()); err != nil { // umask
			return fmt.Errorf("installed system: %w", err)
		}
		if err := root.Rename(tmp, rel); err != nil {
			return fmt.Errorf("installed system: %w", err)
		}
	}
	unix.Sync()
	return nil
}
