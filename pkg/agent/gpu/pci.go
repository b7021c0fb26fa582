package gpu

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// PCIGPU is an NVIDIA display or 3D controller seen on the PCI bus.
type PCIGPU struct {
	Address string // canonical 0000:1b:00.0
	Device  string // PCI device id, e.g. 0x2330
	Class   string
}

// PCIGPUs lists NVIDIA GPUs (vendor 0x10de, class 0x0300xx VGA or 0x0302xx 3D) under
// sysRoot (normally /sys). NVSwitches (class 0x0680) and audio functions are left out.
func PCIGPUs(sysRoot string) ([]PCIGPU, error) {
	dir := filepath.Join(sysRoot, "bus", "pci", "devices")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list PCI devices: %w", err)
	}
	var out []PCIGPU
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		vendor := readTrim(filepath.Join(p, "vendor"))
		if !strings.EqualFold(vendor, "0x10de") {
			continue
		}
		class := strings.ToLower(readTrim(filepath.Join(p, "class")))
		if !strings.HasPrefix(class, "0x0302") && !strings.HasPrefix(class, "0x0300") {
			continue
		}
		out = append(out, PCIGPU{Address: canonicalBusID(e.Name()), Device: readTrim(filepath.Join(p, "device")), Class: class})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// canonicalBusID writes a PCI address as sysfs does (0000:1b:00.0) whether it came from
// sysfs or from NVML ("00000000:1B:00.0").
func canonicalBusID(s string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "\x00")
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return strings.ToLower(s)
	}
	devfn := strings.SplitN(parts[2], ".", 2)
	dom, e1 := strconv.ParseUint(parts[0], 16, 32)
	bus, e2 := strconv.ParseUint(parts[1], 16, 8)
	dev, e3 := strconv.ParseUint(devfn[0], 16, 8)
	fn := uint64(0)
	var e4 error
	if len(devfn) == 2 {
		fn, e4 = strconv.ParseUint(devfn[1], 16, 8)
	}
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		return strings.ToLower(s)
	}
	return fmt.Sprintf("%04x:%02x:%02x.%x", dom, bus, dev, fn)
}
