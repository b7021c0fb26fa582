package hw

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, path, v string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCollectFromFixtures(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	sys, proc := filepath.Join(root, "sys"), filepath.Join(root, "proc")
	cpu := ""
	for i := 0; i < 4; i++ { // 2 sockets × 1 core × 2 threads
		cpu += "processor\t: " + string(rune('0'+i)) + "\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\nphysical id\t: " + string(rune('0'+i/2)) + "\ncore id\t\t: 0\n\n"
	}
	write(t, filepath.Join(proc, "cpuinfo"), cpu)
	write(t, filepath.Join(proc, "meminfo"), "MemTotal:       2113683456 kB\nMemFree:        1000 kB\n")
	write(t, filepath.Join(sys, "block", "nvme0n1", "size"), "7501476528\n")
	write(t, filepath.Join(sys, "block", "nvme0n1", "device", "model"), "SAMSUNG MZQL27T6HBLA-00A07\n")
	write(t, filepath.Join(sys, "block", "nvme0n1", "queue", "rotational"), "0\n")
	write(t, filepath.Join(sys, "block", "loop0", "size"), "0\n")
	pci := filepath.Join(sys, "devices", "pci0000:00", "0000:00:03.0")
	write(t, filepath.Join(pci, "vendor"), "0x1af4\n")
	os.MkdirAll(filepath.Join(sys, "bus", "pci", "devices"), 0o755)
	os.Symlink(pci, filepath.Join(sys, "bus", "pci", "devices", "0000:00:03.0"))
	write(t, filepath.Join(pci, "virtio0", "x"), "")
	nic := filepath.Join(sys, "class", "net", "ens3")
	write(t, filepath.Join(nic, "address"), "52:54:00:04:00:01\n")
	write(t, filepath.Join(nic, "mtu"), "9000\n")
	write(t, filepath.Join(nic, "speed"), "25000\n")
	write(t, filepath.Join(nic, "operstate"), "up\n")
	os.Symlink(filepath.Join(pci, "virtio0"), filepath.Join(nic, "device"))
	write(t, filepath.Join(sys, "class", "net", "lo", "address"), "00:00:00:00:00:00\n") // no device: left out

	inv := Collect(Roots{Sys: sys, Proc: proc})
	if inv.CPU.Sockets != 2 || inv.CPU.Threads != 4 || inv.CPU.Cores != 2 || inv.CPU.Model != "Intel(R) Xeon(R) Platinum 8480+" {
		t.Errorf("cpu %+v", inv.CPU)
	}
	if inv.MemoryKB != 2113683456 {
		t.Errorf("memory %d", inv.MemoryKB)
	}
	if len(inv.Disks) != 1 || inv.Disks[0].Name != "nvme0n1" || inv.Disks[0].SizeBytes != 7501476528*512 || inv.Disks[0].Rotational {
		t.Errorf("disks %+v", inv.Disks)
	}
	if len(inv.NICs) != 1 || inv.NICs[0].MAC != "52:54:00:04:00:01" || inv.NICs[0].SpeedMbps != 25000 || inv.NICs[0].MTU != 9000 || inv.NICs[0].PCI != "0000:00:03.0" {
		t.Errorf("nics %+v", inv.NICs)
	}
	if len(inv.PCI) != 1 || inv.PCI[0].Vendor != "0x1af4" {
		t.Errorf("pci %+v", inv.PCI)
	}
}
