package osimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

// writeBIOSBoot must leave what grub-bios-setup leaves: boot.img's code in the MBR
// pointing at core.img's first sector, the protective MBR's partition table and
// signature untouched, and core.img's first block list covering the rest of core.img.
func TestWriteBIOSBoot(t *testing.T) {
	testenv.NeedCommand(t, "sgdisk", "grub-mkimage")
	testenv.NeedFile(t, "/usr/lib/grub/i386-pc/boot.img")
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "grub.cfg")
	if err := os.WriteFile(cfg, []byte("echo hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	core := filepath.Join(dir, "core.img")
	if err := run(context.Background(), "grub-mkimage", append([]string{"-O", "i386-pc", "-o", core, "-c", cfg, "-p", "/boot/grub"}, grubBIOSModules...)...); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.img")
	if err := os.WriteFile(big, make([]byte, (biosSectors+1)*sector), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, core, wantErr string
	}{
		{name: "core.img fits", core: core},
		{name: "core.img larger than the BIOS boot partition", core: big, wantErr: "BIOS boot partition holds 2048"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disk := filepath.Join(t.TempDir(), "disk.raw")
			f, err := os.Create(disk)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(16 << 20); err != nil {
				t.Fatal(err)
			}
			if err := run(context.Background(), "sgdisk", "--clear", "--new=1:2048:4095", "--typecode=1:EF02", "--new=2:4096:0", disk); err != nil {
				t.Fatal(err)
			}
			before := make([]byte, sector)
			f.ReadAt(before, 0)
			err = writeBIOSBoot(f, tc.core)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				after := make([]byte, sector)
				f.ReadAt(after, 0)
				if !bytes.Equal(before, after) {
					t.Error("a refused core.img changed the MBR")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mbr := make([]byte, sector)
			f.ReadAt(mbr, 0)
			boot, _ := os.ReadFile("/usr/lib/grub/i386-pc/boot.img")
			if got := binary.LittleEndian.Uint64(mbr[0x5c:]); got != biosStart {
				t.Errorf("boot.img kernel sector %d, want %d", got, biosStart)
			}
			if !bytes.Equal(mbr[0x1b8:], before[0x1b8:]) {
				t.Error("partition table or signature changed")
			}
			if mbr[0x1c2] != 0xee || mbr[0x1fe] != 0x55 || mbr[0x1ff] != 0xaa {
				t.Errorf("protective MBR lost: type %#x, signature %x", mbr[0x1c2], mbr[0x1fe:])
			}
			if !bytes.Equal(mbr[:0x5c], boot[:0x5c]) || mbr[0x66] != 0x90 || mbr[0x67] != 0x90 {
				t.Error("boot.img code not in the MBR (or the drive check not patched)")
			}
			want, _ := os.ReadFile(tc.core)
			got := make([]byte, len(want))
			f.ReadAt(got, biosStart*sector)
			nsec := (len(want) + sector - 1) / sector
			bl := got[sector-12 : sector]
			if s, n := binary.LittleEndian.Uint64(bl), binary.LittleEndian.Uint16(bl[8:]); s != biosStart+1 || int(n) != nsec-1 {
				t.Errorf("core.img block list start %d len %d, want %d and %d", s, n, biosStart+1, nsec-1)
			}
			if !bytes.Equal(got[sector:], want[sector:]) || !bytes.Equal(got[:sector-12], want[:sector-12]) {
				t.Error("core.img not copied into partition 1")
			}
		})
	}
}

// The disk's GUIDs and the root file system's UUID are derived from the image key:
// same inputs, same disk; valid version-4 UUIDs that mkfs.ext4 and sgdisk accept.
func TestUUIDOf(t *testing.T) {
	t.Parallel()
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b, c := uuidOf("k1", "root-fs"), uuidOf("k1", "root-fs"), uuidOf("k1", "disk")
	if a != b || a == c || uuidOf("k2", "root-fs") == a {
		t.Errorf("uuidOf not stable or not distinct: %s %s %s", a, b, c)
	}
	for _, u := range []string{a, c} {
		if !re.MatchString(u) {
			t.Errorf("%q is not a version-4 UUID", u)
		}
	}
}

// The base (minutes of mmdebstrap) is rebuilt exactly when what goes into it changes:
// the package list, the apt sources; not when nothing did.
func TestBaseKey(t *testing.T) {
	src := []byte("Types: deb\nURIs: http://deb.debian.org/debian\n")
	key := baseKey(src)
	saved := Packages
	t.Cleanup(func() { Packages = saved })
	for _, tc := range []struct {
		name     string
		packages []string
		sources  []byte
		same     bool
	}{
		{name: "same inputs", packages: saved, sources: src, same: true},
		{name: "another apt mirror", packages: saved, sources: []byte("Types: deb\nURIs: http://mirror.example/debian\n")},
		{name: "a package added", packages: append(append([]string{}, saved...), "curl"), sources: src},
	} {
		Packages = tc.packages
		if got := baseKey(tc.sources); (got == key) != tc.same {
			t.Errorf("%s: base key %s, first %s: same=%v, want %v", tc.name, got, key, got == key, tc.same)
		}
	}
}
