package vm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NIC is a guest network card on a tap device.
type NIC struct {
	Tap   string // tap name (in Config.NetNS when set); it must exist
	MAC   string // e.g. 52:54:00:cb:00:01; empty: QEMU picks one
	Model string // virtio-net-pci (default) or e1000
	// ROM overrides the option ROM (e.g. /usr/lib/ipxe/qemu/efi-virtio.rom); empty: QEMU's
	// default iPXE ROM for the model.
	ROM string
	// NoROM loads no option ROM on this NIC (e.g. a second NIC that must not net boot).
	NoROM bool
	// Slot is the NIC's PCI slot (0: QEMU's next free one). A guest with udev names a
	// virtio NIC in slot 3 ens3, so a lab guest can match its inventory's names.
	Slot int
	// BootIndex puts the NIC in the firmware's boot order (bootindex); 0: none, except
	// that NetBoot makes the first NIC 1.
	BootIndex int
}

// Config is one guest.
type Config struct {
	Name     string // for logs and file names
	Dir      string // where the serial log and QMP socket go; required
	MemoryMB int    // default 384
	CPUs     int    // default 1

	// Direct kernel boot.
	Kernel  string
	Initrd  string
	Append  string // appended to "console=ttyS0 panic=-1" (no panic=-1 with AllowReboot)
	NetBoot bool   // -boot n: boot from the first NIC's iPXE ROM instead
	// Firmware is an OVMF code image for UEFI (e.g. /usr/share/OVMF/OVMF_CODE_4M.fd);
	// empty: SeaBIOS. FirmwareVars is the vars template copied for this guest.
	Firmware     string
	FirmwareVars string

	NICs []NIC
	Disk string // raw or qcow2 disk image on virtio-blk, optional
	// DiskBootIndex puts the disk in the firmware's boot order (bootindex); with a NIC's
	// BootIndex after it, SeaBIOS tries the disk and then the NIC's iPXE ROM.
	DiskBootIndex int
	// Disks are more virtio-blk disks after Disk, in this order (the guest's vdb, vdc...).
	Disks []Disk
	NetNS string // run QEMU inside this named namespace (ip netns exec)
	// AllowReboot makes a reset (QMP system_reset, a guest reboot) reboot the guest like a
	// real machine, e.g. behind a virtual BMC. By default QEMU runs with -no-reboot and the
	// kernel with panic=-1, so a guest that reboots, panics or whose /init exits ends QEMU.
	AllowReboot bool
	// Control adds a second serial port (the guest's /dev/ttyS1) on a unix socket, for
	// VM.Exec with the ControlLoop shell snippet running in the guest.
	Control   bool
	ExtraArgs []string
}

// firstDiskSlot is the PCI slot of Disk when there are more disks; Disks follow it.
const firstDiskSlot = 0x10

// Disk is one more virtio-blk disk: raw, or qcow2 by its extension; BootIndex > 0 puts
// it in the firmware's boot order (SeaBIOS numbers hard disks in that order: the first is
// BIOS drive 0x80, what iPXE's sanboot --drive 0x80 boots).
type Disk struct {
	Path      string
	BootIndex int
}

// VM is a running QEMU guest.
type VM struct {
	Config
	SerialLog     string
	QMPSocket     string
	ControlSocket string

	cmd     *exec.Cmd
	stderr  bytes.Buffer
	done    chan struct{}
	waitErr error
	stop    sync.Once
	mu      sync.Mutex
	qmp     *QMP
	ctl     *control
}

// Start launches QEMU under TCG (no KVM here), serial console to Dir/<name>.serial.log.
func Start(ctx context.Context, cfg Config) (*VM, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("vm %s: Config.Dir is required", cfg.Name)
	}
	if cfg.Name == "" {
		cfg.Name = "guest"
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 384
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 1
	}
	v := &VM{Config: cfg, done: make(chan struct{})}
	v.SerialLog = filepath.Join(cfg.Dir, cfg.Name+".serial.log")
	v.QMPSocket = filepath.Join(cfg.Dir, cfg.Name+".qmp")
	if len(v.QMPSocket) > 100 { // sun_path is 108 bytes
		d, err := os.MkdirTemp("", "rlqmp")
		if err != nil {
			return nil, err
		}
		v.QMPSocket = filepath.Join(d, "qmp")
	}
	os.Remove(v.QMPSocket)
	if cfg.Control {
		v.ControlSocket = v.QMPSocket + ".ctl" // QMPSocket is at most 100 bytes; sun_path holds 108
		os.Remove(v.ControlSocket)
	}
	if err := os.WriteFile(v.SerialLog, nil, 0o644); err != nil {
		return nil, err
	}
	args := []string{
		"-name", cfg.Name,
		"-accel", "tcg",
		"-m", strconv.Itoa(cfg.MemoryMB),
		"-smp", strconv.Itoa(cfg.CPUs),
		"-nographic", "-nodefaults", "-no-user-config",
		"-serial", "file:" + v.SerialLog,
		"-monitor", "none",
		"-qmp", "unix:" + v.QMPSocket + ",server=on,wait=off",
	}
	if !cfg.AllowReboot {
		args = append(args, "-no-reboot")
	}
	if cfg.Control {
		args = append(args, "-serial", "unix:"+v.ControlSocket+",server=on,wait=off")
	}
	if cfg.Firmware != "" {
		args = append(args, "-drive", "if=pflash,format=raw,readonly=on,file="+cfg.Firmware)
		if cfg.FirmwareVars != "" {
			vars := filepath.Join(cfg.Dir, cfg.Name+".vars.fd")
			b, err := os.ReadFile(cfg.FirmwareVars)
			if err != nil {
				return nil, fmt.Errorf("vm %s: firmware vars: %w", cfg.Name, err)
			}
			if err := os.WriteFile(vars, b, 0o644); err != nil {
				return nil, err
			}
			args = append(args, "-drive", "if=pflash,format=raw,file="+vars)
		}
	}
	if cfg.Kernel != "" {
		args = append(args, "-kernel", cfg.Kernel)
		if cfg.Initrd != "" {
			args = append(args, "-initrd", cfg.Initrd)
		}
		// TCG guests on a busy host stall for seconds: no soft-lockup or RCU-stall reports.
		base := "console=ttyS0 nowatchdog rcupdate.rcu_cpu_stall_suppress=1 "
		if !cfg.AllowReboot {
			base += "panic=-1 "
		}
		args = append(args, "-append", strings.TrimSpace(base+cfg.Append))
	}
	if cfg.NetBoot {
		args = append(args, "-boot", "n")
	}
	for i, n := range cfg.NICs {
		model := n.Model
		if model == "" {
			model = "virtio-net-pci"
		}
		id := fmt.Sprintf("net%d", i)
		args = append(args, "-netdev", fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no", id, n.Tap))
		dev := fmt.Sprintf("%s,netdev=%s", model, id)
		if n.MAC != "" {
			dev += ",mac=" + n.MAC
		}
		if n.Slot > 0 {
			dev += fmt.Sprintf(",addr=%#x", n.Slot)
		}
		switch {
		case n.NoROM:
			dev += ",romfile="
		case n.ROM != "":
			dev += ",romfile=" + n.ROM
		case !cfg.NetBoot && cfg.Firmware == "" && n.BootIndex == 0:
			dev += ",romfile=" // direct kernel boot: skip the iPXE ROM's seconds at boot
		}
		switch {
		case n.BootIndex > 0:
			dev += fmt.Sprintf(",bootindex=%d", n.BootIndex)
		case cfg.NetBoot && i == 0:
			dev += ",bootindex=1"
		}
		args = append(args, "-device", dev)
	}
	if cfg.Disk != "" {
		format := "raw"
		if strings.HasSuffix(cfg.Disk, ".qcow2") {
			format = "qcow2"
		}
		switch {
		case cfg.DiskBootIndex > 0 || len(cfg.Disks) > 0:
			// With more disks, fixed PCI slots keep Disk the guest's vda (the kernel
			// names virtio disks in slot order; automatic slots do not keep that order).
			dev := "virtio-blk-pci,drive=disk0"
			if len(cfg.Disks) > 0 {
				dev += fmt.Sprintf(",addr=%#x", firstDiskSlot)
			}
			if cfg.DiskBootIndex > 0 {
				dev += fmt.Sprintf(",bootindex=%d", cfg.DiskBootIndex)
			}
			args = append(args, "-drive", "if=none,id=disk0,format="+format+",file="+cfg.Disk, "-device", dev)
		default:
			args = append(args, "-drive", "if=virtio,format="+format+",file="+cfg.Disk)
		}
	}
	for i, d := range cfg.Disks {
		format := "raw"
		if strings.HasSuffix(d.Path, ".qcow2") {
			format = "qcow2"
		}
		dev := fmt.Sprintf("virtio-blk-pci,drive=disk%d,addr=%#x", i+1, firstDiskSlot+1+i)
		if d.BootIndex > 0 {
			dev += fmt.Sprintf(",bootindex=%d", d.BootIndex)
		}
		args = append(args, "-drive", fmt.Sprintf("if=none,id=disk%d,format=%s,file=%s", i+1, format, d.Path), "-device", dev)
	}
	args = append(args, cfg.ExtraArgs...)

	name, cargs := "qemu-system-x86_64", args
	if cfg.NetNS != "" {
		name, cargs = "ip", append([]string{"netns", "exec", cfg.NetNS, "qemu-system-x86_64"}, args...)
	}
	// Not CommandContext: Stop kills the whole process group, and ctx ends the guest too.
	v.cmd = exec.Command(name, cargs...)
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	v.cmd.Stdout = &v.stderr
	v.cmd.Stderr = &v.stderr
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("vm %s: start qemu: %w", cfg.Name, err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			v.Stop()
		case <-v.done:
		}
	}()
	return v, nil
}

// StartT starts a guest for a test and stops it when the test ends; on failure the serial
// log's tail is written to the test log.
func StartT(t testing.TB, cfg Config) *VM {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	v, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v.Stop()
		if t.Failed() {
			t.Logf("vm %s serial log tail:\n%s", v.Name, v.LogTail(40))
		}
	})
	return v
}

// PID is QEMU's process id (ip execs QEMU when Config.NetNS is set, so it is QEMU's).
func (v *VM) PID() int {
	if v.cmd.Process == nil {
		return 0
	}
	return v.cmd.Process.Pid
}

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Wait waits for QEMU to exit (e.g. after the guest powers off) or the timeout.
func (v *VM) Wait(timeout time.Duration) error {
	select {
	case <-v.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("vm %s: still running after %s", v.Name, timeout)
	}
}

// Stop kills QEMU (and anything in its process group) and waits for it. Always safe.
func (v *VM) Stop() {
	v.stop.Do(func() {
		v.mu.Lock()
		if v.qmp != nil {
			v.qmp.Close()
		}
		if v.ctl != nil {
			v.ctl.conn.Close()
		}
		v.mu.Unlock()
		if v.cmd.Process != nil {
			syscall.Kill(-v.cmd.Process.Pid, syscall.SIGKILL)
		}
		<-v.done
		os.Remove(v.QMPSocket)
		if v.ControlSocket != "" {
			os.Remove(v.ControlSocket)
		}
	})
}

// QMP returns a connected QMP client (one per VM, reused).
func (v *VM) QMP() (*QMP, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.qmp != nil {
		return v.qmp, nil
	}
	q, err := DialQMP(v.QMPSocket, 30*time.Second)
	if err != nil {
		return nil, fmt.Errorf("vm %s: %w", v.Name, err)
	}
	v.qmp = q
	return q, nil
}

// Log is the serial console output so far.
func (v *VM) Log() string {
	b, _ := os.ReadFile(v.SerialLog)
	return string(b)
}

// LogTail is the last n lines of the serial log, plus QEMU's own stderr when it said anything.
func (v *VM) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(v.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	select {
	case <-v.done:
		if e := strings.TrimSpace(v.stderr.String()); e != "" {
			s += "\nqemu: " + e
		}
	default:
	}
	return s
}

// WaitForLine waits until a line of the serial log matches re and returns the submatches
// of the first match. It fails early when QEMU exits.
func (v *VM) WaitForLine(re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(v.Log()); m != nil {
			return m, nil
		}
		select {
		case <-v.done:
			if m := re.FindStringSubmatch(v.Log()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("vm %s: QEMU exited (%v) before the serial log matched %q; last lines:\n%s",
				v.Name, v.waitErr, re, v.LogTail(30))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("vm %s: serial log did not match %q within %s; last lines:\n%s",
				v.Name, re, timeout, v.LogTail(30))
		}
	}
}
