package deploy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strings"
)

// GPT partition type GUIDs, in their on-disk (mixed-endian) byte order.
var (
	typeESP      = guidBytes("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	typeBIOSBoot = guidBytes("21686148-6449-6E6F-744E-656564454649")
)

// guidBytes is a GUID's on-disk form: the first three fields little-endian.
func guidBytes(s string) [16]byte {
	h := strings.ReplaceAll(s, "-", "")
	var raw [16]byte
	for i := range raw {
		fmt.Sscanf(h[2*i:2*i+2], "%02x", &raw[i])
	}
	var g [16]byte
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g
}

// Partition is one used GPT entry.
type Partition struct {
	Number            int // 1-based, as the kernel names it
	Type              [16]byte
	FirstLBA, LastLBA uint64
	Name              string
}

// IsESP reports whether the partition is an EFI system partition.
func (p Partition) IsESP() bool { return p.Type == typeESP }

// IsBIOSBoot reports whether the partition is a BIOS boot partition (GRUB's core image).
func (p Partition) IsBIOSBoot() bool { return p.Type == typeBIOSBoot }

// GPT is a disk's primary GPT as read.
type GPT struct {
	Sector     int64 // logical sector size: 512 or 4096
	Header     []byte
	Entries    []byte
	Partitions []Partition
}

func (g *GPT) u64(off int) uint64      { return binary.LittleEndian.Uint64(g.Header[off:]) }
func (g *GPT) u32(off int) uint32      { return binary.LittleEndian.Uint32(g.Header[off:]) }
func (g *GPT) put64(off int, v uint64) { binary.LittleEndian.PutUint64(g.Header[off:], v) }
func (g *GPT) put32(off int, v uint32) { binary.LittleEndian.PutUint32(g.Header[off:], v) }

// ReadGPT reads the primary GPT of f (a disk or an image file), finding the sector size
// by where the header sits.
func ReadGPT(f io.ReaderAt) (*GPT, error) {
	for _, ss := range []int64{512, 4096} {
		hdr := make([]byte, ss)
		if _, err := f.ReadAt(hdr, ss); err != nil {
			continue
		}
		if !bytes.Equal(hdr[:8], []byte("EFI PART")) {
			continue
		}
		g := &GPT{Sector: ss, Header: hdr}
		hsize := g.u32(12)
		if hsize < 92 || int64(hsize) > ss {
			return nil, fmt.Errorf("GPT header size %d is invalid", hsize)
		}
		if crc := g.headerCRC(); crc != g.u32(16) {
			return nil, fmt.Errorf("GPT header CRC %08x, computed %08x: the image's partition table is damaged", g.u32(16), crc)
		}
		n, esize := g.u32(80), g.u32(84)
		if n == 0 || n > 4096 || esize < 128 || esize > 4096 {
			return nil, fmt.Errorf("GPT has %d entries of %d bytes: invalid", n, esize)
		}
		g.Entries = make([]byte, int(n)*int(esize))
		if _, err := f.ReadAt(g.Entries, int64(g.u64(72))*ss); err != nil {
			return nil, fmt.Errorf("reading GPT entries: %w", err)
		}
		if crc := crc32.ChecksumIEEE(g.Entries); crc != g.u32(88) {
			return nil, fmt.Errorf("GPT entries CRC %08x, computed %08x: the image's partition table is damaged", g.u32(88), crc)
		}
		for i := 0; i < int(n); i++ {
			e := g.Entries[i*int(esize) : (i+1)*int(esize)]
			var typ [16]byte
			copy(typ[:], e[:16])
			if typ == ([16]byte{}) {
				continue
			}
			g.Partitions = append(g.Partitions, Partition{Number: i + 1, Type: typ,
				FirstLBA: binary.LittleEndian.Uint64(e[32:]), LastLBA: binary.LittleEndian.Uint64(e[40:]),
				Name: utf16Name(e[56:128])})
		}
		return g, nil
	}
	return nil, errors.New("no GPT partition table (the image must be a GPT disk image)")
}

func utf16Name(b []byte) string {
	var r []rune
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		r = append(r, rune(c))
	}
	return string(r)
}

func (g *GPT) headerCRC() uint32 {
	h := append([]byte(nil), g.Header[:g.u32(12)]...)
	binary.LittleEndian.PutUint32(h[16:], 0)
	return crc32.ChecksumIEEE(h)
}

// Last is the partition that ends last on the disk (the root, in the images racklift
// deploys).
func (g *GPT) Last() (Partition, bool) {
	var last Partition
	for _, p := range g.Partitions {
		if p.LastLBA > last.LastLBA {
			last = p
		}
	}
	return last, last.Number > 0
}

// FixGPT moves the backup GPT to the end of a disk of size bytes (an image written to a
// larger disk leaves it in the middle, where firmware and the kernel call the table
// damaged), and with grow extends the last partition to the new last usable sector. It
// rewrites the primary header (alternate LBA, last usable LBA, CRCs), the backup entries
// and header, the protective MBR's size, and zeroes the old backup header.
func FixGPT(f interface {
	io.ReaderAt
	io.WriterAt
}, size int64, grow bool) (*GPT, error) {
	g, err := ReadGPT(f)
	if err != nil {
		return nil, err
	}
	ss := g.Sector
	sectors := uint64(size / ss)
	entrySectors := (uint64(len(g.Entries)) + uint64(ss) - 1) / uint64(ss)
	oldAlt := g.u64(32)
	newAlt := sectors - 1
	if newAlt < oldAlt {
		return nil, fmt.Errorf("disk of %d sectors is smaller than the image's GPT (backup header at sector %d)", sectors, oldAlt)
	}
	lastUsable := newAlt - entrySectors - 1
	if grow {
		last, ok := g.Last()
		if !ok {
			return nil, errors.New("the image's GPT has no partitions")
		}
		// End on a 1 MiB boundary, as partitioners do (encryption and RAID tools warn otherwise).
		end := lastUsable
		if align := uint64(1<<20) / uint64(ss); (lastUsable+1)/align*align > last.FirstLBA+align {
			end = (lastUsable+1)/align*align - 1
		}
		if end < last.LastLBA {
			end = last.LastLBA
		}
		esize := int(g.u32(84))
		binary.LittleEndian.PutUint64(g.Entries[(last.Number-1)*esize+40:], end)
		for i := range g.Partitions {
			if g.Partitions[i].Number == last.Number {
				g.Partitions[i].LastLBA = end
			}
		}
	}
	g.put64(32, newAlt)
	g.put64(48, lastUsable)
	g.put32(88, crc32.ChecksumIEEE(g.Entries))
	g.put32(16, g.headerCRC())

	backup := append([]byte(nil), g.Header...)
	b := &GPT{Header: backup}
	b.put64(24, newAlt)              // my LBA
	b.put64(32, 1)                   // alternate: the primary
	b.put64(72, newAlt-entrySectors) // entries just before the backup header
	b.put32(16, b.headerCRC())
	writes := []struct {
		what string
		b    []byte
		lba  uint64
	}{
		{"primary GPT entries", g.Entries, g.u64(72)},
		{"backup GPT entries", g.Entries, newAlt - entrySectors},
		{"backup GPT header", backup, newAlt},
		{"primary GPT header", g.Header, 1},
	}
	if oldAlt != newAlt && oldAlt > 1 {
		writes = append(writes, struct {
			what string
			b    []byte
			lba  uint64
		}{"old backup GPT header", make([]byte, ss), oldAlt})
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.b, int64(w.lba)*ss); err != nil {
			return nil, fmt.Errorf("writing the %s at sector %d: %w", w.what, w.lba, err)
		}
	}
	// Protective MBR: the 0xEE entry covers the whole disk (capped at 2^32-1 sectors).
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err == nil && mbr[510] == 0x55 && mbr[511] == 0xaa && mbr[446+4] == 0xee {
		n := min(sectors-1, 0xffffffff)
		binary.LittleEndian.PutUint32(mbr[446+12:], uint32(n))
		if _, err := f.WriteAt(mbr[446:462], 446); err != nil {
			return nil, fmt.Errorf("writing the protective MBR: %w", err)
		}
	}
	return g, nil
}

// PartitionPath is the device node of partition n of disk (vda2, nvme0n1p2, loop0p2).
func PartitionPath(disk string, n int) string {
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		return fmt.Sprintf("%sp%d", disk, n)
	}
	return fmt.Sprintf("%s%d", disk, n)
}

// fileSize is the size of a disk or file (a block device's size is where SEEK_END goes).
func fileSize(f *os.File) (int64, error) {
	return f.Seek(0, io.SeekEnd)
}
