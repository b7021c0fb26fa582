package deploy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// RemovableLoader is the UEFI removable-media path every racklift image carries; firmware
// boots it from the ESP without a boot entry.
const RemovableLoader = "EFI/BOOT/BOOTX64.EFI"

// fatFile finds path (8.3 components, e.g. EFI/BOOT/BOOTX64.EFI) in the FAT12/16/32
// filesystem read through r and returns its size. It reads short names only, which is
// what the removable path is: no mount, no vfat module in the ramdisk.
func fatFile(r io.ReaderAt, path string) (int64, error) {
	bpb := make([]byte, 512)
	if _, err := r.ReadAt(bpb, 0); err != nil {
		return 0, fmt.Errorf("reading the boot sector: %w", err)
	}
	if bpb[510] != 0x55 || bpb[511] != 0xaa {
		return 0, errors.New("not a FAT filesystem (no boot sector signature)")
	}
	u16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(bpb[o:])) }
	u32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(bpb[o:])) }
	bps, spc := u16(11), int64(bpb[13])
	if bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 {
		return 0, errors.New("not a FAT filesystem (bad bytes per sector or sectors per cluster)")
	}
	reserved, nfats, rootEntries := u16(14), int64(bpb[16]), u16(17)
	fatSize := u16(22)
	if fatSize == 0 {
		fatSize = u32(36)
	}
	total := u16(19)
	if total == 0 {
		total = u32(32)
	}
	rootSectors := (rootEntries*32 + bps - 1) / bps
	firstData := reserved + nfats*fatSize + rootSectors
	if fatSize == 0 || total <= firstData {
		return 0, errors.New("not a FAT filesystem (bad geometry)")
	}
	clusters := (total - firstData) / spc
	kind := 32
	switch {
	case clusters < 4085:
		kind = 12
	case clusters < 65525:
		kind = 16
	}
	fatOff := reserved * bps
	clusterSize := spc * bps
	next := func(c int64) (int64, error) {
		var b [4]byte
		switch kind {
		case 12:
			if _, err := r.ReadAt(b[:2], fatOff+c+c/2); err != nil {
				return 0, err
			}
			v := int64(binary.LittleEndian.Uint16(b[:]))
			if c%2 == 1 {
				v >>= 4
			}
			v &= 0xfff
			if v >= 0xff8 {
				return -1, nil
			}
			return v, nil
		case 16:
			if _, err := r.ReadAt(b[:2], fatOff+2*c); err != nil {
				return 0, err
			}
			v := int64(binary.LittleEndian.Uint16(b[:]))
			if v >= 0xfff8 {
				return -1, nil
			}
			return v, nil
		}
		if _, err := r.ReadAt(b[:], fatOff+4*c); err != nil {
			return 0, err
		}
		v := int64(binary.LittleEndian.Uint32(b[:]) & 0x0fffffff)
		if v >= 0x0ffffff8 {
			return -1, nil
		}
		return v, nil
	}
	// readDir returns the directory's bytes: the fixed root region (FAT12/16, cluster 0)
	// or a cluster chain, bounded so a looping chain cannot run forever.
	readDir := func(cluster int64) ([]byte, error) {
		if cluster == 0 && kind != 32 {
			b := make([]byte, rootSectors*bps)
			_, err := r.ReadAt(b, (reserved+nfats*fatSize)*bps)
			return b, err
		}
		var out []byte
		for n := 0; cluster >= 2 && n < 4096; n++ {
			b := make([]byte, clusterSize)
			if _, err := r.ReadAt(b, (firstData+(cluster-2)*spc)*bps); err != nil {
				return nil, err
			}
			out = append(out, b...)
			var err error
			if cluster, err = next(cluster); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	dir := int64(0)
	if kind == 32 {
		dir = u32(44)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, part := range parts {
		b, err := readDir(dir)
		if err != nil {
			return 0, fmt.Errorf("reading a directory: %w", err)
		}
		want := shortName(part)
		found := false
		for o := 0; o+32 <= len(b); o += 32 {
			e := b[o : o+32]
			if e[0] == 0 {
				break
			}
			if e[0] == 0xe5 || e[11] == 0x0f || e[11]&0x08 != 0 {
				continue
			}
			if string(e[:11]) != want {
				continue
			}
			isDir := e[11]&0x10 != 0
			if isDir != (i < len(parts)-1) {
				continue
			}
			dir = int64(binary.LittleEndian.Uint16(e[20:]))<<16 | int64(binary.LittleEndian.Uint16(e[26:]))
			if i == len(parts)-1 {
				return int64(binary.LittleEndian.Uint32(e[28:])), nil
			}
			found = true
			break
		}
		if !found {
			return 0, fmt.Errorf("%s: no %s", path, strings.Join(parts[:i+1], "/"))
		}
	}
	return 0, fmt.Errorf("%s: not found", path)
}

// shortName is a component as its 8.3 directory entry spells it ("BOOTX64 EFI").
func shortName(s string) string {
	base, ext, _ := strings.Cut(strings.ToUpper(s), ".")
	return fmt.Sprintf("%-8.8s%-3.3s", base, ext)
}
