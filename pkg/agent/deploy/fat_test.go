package deploy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

func TestFATFindsRemovableLoader(t *testing.T) {
	testenv.NeedCommand(t, "mkfs.vfat", "mmd", "mcopy")
	loader := make([]byte, 70000) // spans several clusters
	for _, tc := range []struct {
		name  string
		mkfs  []string
		mib   int64
		files []string
		want  string // "" = found
	}{
		{name: "FAT12", mkfs: []string{"-F", "12"}, mib: 4, files: []string{"EFI/BOOT/BOOTX64.EFI"}},
		{name: "FAT16", mkfs: []string{"-F", "16"}, mib: 32, files: []string{"EFI/BOOT/BOOTX64.EFI"}},
		{name: "FAT32", mkfs: []string{"-F", "32"}, mib: 64, files: []string{"EFI/debian/grubx64.efi", "EFI/BOOT/BOOTX64.EFI"}},
		{name: "lowercase name from mcopy", mkfs: []string{"-F", "16"}, mib: 32, files: []string{"EFI/BOOT/bootx64.efi"}},
		{name: "only the distribution's loader", mkfs: []string{"-F", "32"}, mib: 64, files: []string{"EFI/debian/grubx64.efi"}, want: "no EFI/BOOT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "esp.img")
			src := filepath.Join(dir, "loader")
			os.WriteFile(src, loader, 0o644)
			run(t, "mkfs.vfat", append(append([]string{"-C"}, tc.mkfs...), img, strconv.FormatInt(tc.mib*1024, 10))...)
			made := map[string]bool{}
			for _, f := range tc.files {
				parts := strings.Split(f, "/")
				for i := 1; i < len(parts); i++ {
					d := strings.Join(parts[:i], "/")
					if !made[d] {
						run(t, "mmd", "-i", img, "::"+d)
						made[d] = true
					}
				}
				run(t, "mcopy", "-i", img, src, "::"+f)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			size, err := fatFile(f, RemovableLoader)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("err = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(loader)) {
				t.Fatalf("size = %d, want %d", size, len(loader))
			}
		})
	}
}
