// Package vm boots QEMU guests for racklift's integration tests and virtual lab, under TCG
// (no KVM here), on taps in a network namespace from internal/lab/netns.
//
//   - GuestKernel(cacheDir): Debian's stock amd64 kernel (the linux-image-*-amd64 package
//     linux-image-amd64 depends on), apt-get downloaded and unpacked once into
//     cacheDir/guest-kernel/<version>/ with modules.dep (make guest-kernel fills it).
//   - Initramfs: a gzip'd newc cpio with static busybox, an /init script (after a preamble
//     mounting /proc, /sys, /dev and loading Modules in dependency order), files, host
//     binaries with the libraries ldd lists (cgo node-agent runs), kernel modules by name.
//   - Start/StartT: qemu-system-x86_64 with direct kernel boot (Kernel/Initrd/Append) or
//     network boot (NetBoot: -boot n through QEMU's iPXE ROM, optional OVMF Firmware),
//     NICs on taps with given MACs, an optional disk, the serial console in a log file
//     (WaitForLine), a QMP socket (VM.QMP: status, powerdown, reset, stop/cont, quit),
//     a control channel (Config.Control + ControlLoop: VM.Exec runs commands in the guest)
//     and Stop, which always kills. By default a reboot or panic ends QEMU; AllowReboot
//     makes system_reset reboot like a real machine (for a virtual BMC).
//
// A typical test:
//
//	k, _ := initramfs.GuestKernel(testenv.Cache())
//	ir := initramfs.Initramfs{Kernel: k, Modules: []string{"virtio_net", "8021q"},
//		Binaries: []initramfs.File{{Host: filepath.Join(testenv.Bin(t), "node-agent")}},
//		Init: "node-agent check ...; echo DONE; poweroff -f\n"}
//	ir.Build(filepath.Join(dir, "initrd.gz"))
//	ns := netns.New(t); br, _ := ns.Bridge(netns.IfName("br"), 9000)
//	tap := netns.IfName("tap"); ns.Tap(tap, br)
//	g := vm.StartT(t, vm.Config{Name: "n1", Kernel: k.Vmlinuz, Initrd: ..., NetNS: ns.Name,
//		NICs: []vm.NIC{{Tap: tap, MAC: "52:54:00:cb:00:01"}}})
//	g.WaitForLine(regexp.MustCompile(`DONE`), 3*time.Minute)
//
// A guest with 256 MiB boots Debian's kernel to /init in about 20 s under TCG here; give
// WaitForLine minutes, not seconds, on a busy machine.
package vm
