// Package hw inventories a node's hardware from sysfs and procfs (PCI devices, disks,
// NICs, memory, CPUs), enough for the server to tell what is in the rack before any OS is
// installed: it runs in the agent ramdisk with nothing but the kernel. The types it fills
// are the report's (check.Hardware), so the server reads them without linking the agent.
package hw

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/racklift/racklift/pkg/check"
)

// Roots are where Collect reads; tests point them at fixtures.
type Roots struct {
	Sys  string // default /sys
	Proc string // default /proc
}

// Collect reads the hardware inventory. Missing files leave fields empty: a partial
// inventory is more use to an operator than none.
func Collect(r Roots) *check.Hardware {
	if r.Sys == "" {
		r.Sys = "/sys"
	}
	if r.Proc == "" {
		r.Proc = "/proc"
	}
	inv := &check.Hardware{}
	inv.Hostname, _ = os.Hostname()
	inv.CPU = cpuInfo(filepath.Join(r.Proc, "cpuinfo"))
	inv.MemoryKB = memTotal(filepath.Join(r.Proc, "meminfo"))
	inv.Disks = disks(filepath.Join(r.Sys, "block"))
	inv.NICs = nics(filepath.Join(r.Sys, "class", "net"))
	inv.PCI = pciDevices(filepath.Join(r.Sys, "bus", "pci", "devices"))
	return inv
}

func read(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func cpuInfo(path string) check.CPU {
	var c check.CPU
	f, err := os.Open(path)
	if err != nil {
		return c
	}
	defer f.Close()
	sockets := map[string]bool{}
	cores := map[string]bool{}
	phys := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			c.Threads++
			phys = "0"
		case "model name":
			if c.Model == "" {
				c.Model = v
			}
		case "physical id":
			phys = v
			sockets[v] = true
		case "core id":
			cores[phys+"/"+v] = true
		}
	}
	c.Sockets = max(len(sockets), min(c.Threads, 1))
	c.Cores = len(cores)
	if c.Cores == 0 {
		c.Cores = c.Threads // VMs often leave core ids out
	}
	return c
}

func memTotal(path string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func disks(dir string) []check.Disk {
	ents, _ := os.ReadDir(dir)
	out := []check.Disk{}
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, "loop") || strings.HasPrefix(n, "ram") || strings.HasPrefix(n, "zram") || strings.HasPrefix(n, "dm-") {
			continue
		}
		p := filepath.Join(dir, n)
		sectors, _ := strconv.ParseUint(read(filepath.Join(p, "size")), 10, 64)
		d := check.Disk{
			Name:       n,
			SizeBytes:  sectors * 512, // sysfs size is always in 512-byte sectors
			Model:      read(filepath.Join(p, "device", "model")),
			Serial:     firstNonEmpty(read(filepath.Join(p, "device", "serial")), read(filepath.Join(p, "serial"))),
			Rotational: read(filepath.Join(p, "queue", "rotational")) == "1",
		}
		out = append(out, d)
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func nics(dir string) []check.NIC {
	ents, _ := os.ReadDir(dir)
	out := []check.NIC{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		// Only interfaces with a device: leaves out lo, bridges, veths, VLANs and taps.
		dev, err := filepath.EvalSymlinks(filepath.Join(p, "device"))
		if err != nil {
			continue
		}
		n := check.NIC{Name: e.Name(), MAC: read(filepath.Join(p, "address")), State: read(filepath.Join(p, "operstate"))}
		n.MTU, _ = strconv.Atoi(read(filepath.Join(p, "mtu")))
		if s, err := strconv.Atoi(read(filepath.Join(p, "speed"))); err == nil && s > 0 {
			n.SpeedMbps = s
		}
		if drv, err := os.Readlink(filepath.Join(p, "device", "driver")); err == nil {
			n.Driver = filepath.Base(drv)
		}
		if strings.Contains(dev, "/pci") {
			n.PCI = pciAncestor(dev)
		}
		out = append(out, n)
	}
	return out
}

// pciAncestor is the nearest PCI address in a sysfs device path (virtio NICs sit
// under their PCI function as virtioN).
func pciAncestor(dev string) string {
	parts := strings.Split(dev, "/")
	for i := len(parts) - 1; i >= 0; i-- {
		if strings.Count(parts[i], ":") == 2 && strings.Contains(parts[i], ".") {
			return parts[i]
		}
	}
	return ""
}

func pciDevices(dir string) []check.PCIDevice {
	ents, _ := os.ReadDir(dir)
	out := []check.PCIDevice{}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		d := check.PCIDevice{Address: e.Name(), Vendor: read(filepath.Join(p, "vendor")), Device: read(filepath.Join(p, "device")), Class: read(filepath.Join(p, "class"))}
		if drv, err := os.Readlink(filepath.Join(p, "driver")); err == nil {
			d.Driver = filepath.Base(drv)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}
