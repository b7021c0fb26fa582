package rack_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/initramfs"
	"github.com/racklift/racklift/pkg/inventory"
)

const (
	password = "lab-rack-pw1" // test-only; ipmi_sim takes at most 16 bytes
	helper   = "RACKLIFT_RACK_TEST_HELPER"
)

var labInventory = filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab")

// The test binary re-runs itself as a helper: inside the rack's namespace to speak to a
// BMC with pkg/bmc (its HTTP client dials from goroutines, which Go does not keep in a
// namespace), or as a process holding a rack to be killed.
func TestMain(m *testing.M) {
	switch os.Getenv(helper) {
	case "bmc":
		os.Exit(bmcHelper(os.Args[len(os.Args)-1]))
	case "rack":
		os.Exit(rackHelper())
	}
	os.Exit(m.Run())
}

// bmcHelper sets a one-time PXE boot and powers the node on, through the inventory's
// BMC target as provision would.
func bmcHelper(node string) int {
	inv, err := inventory.Load(labInventory)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	t, err := bmc.TargetFor(inv, inv.Node(node), &inventory.Secrets{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o := bmc.Options{Timeout: 60 * time.Second, Warn: io.Discard}
	for _, op := range []bmc.Op{{Boot: &bmc.Boot{Device: bmc.BootPXE}}, {Power: bmc.PowerOn}} {
		out, err := bmc.Do(context.Background(), t, op, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("%s: power=%s\n", op.Name(), out.Power)
	}
	return 0
}

func rackHelper() int {
	r, err := rack.Start(context.Background(), rack.Config{Inventory: labInventory,
		Dir: os.Getenv("RACK_DIR"), NetNS: os.Getenv("RACK_NETNS"), Password: password, MemoryMB: 128})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// A running guest too: power lab-03 on through ipmi_sim.
	if _, err := r.IPMI("lab-03").Ipmitool(context.Background(), "chassis", "power", "on"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for r.Guest("lab-03") == nil {
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Println("ready")
	select {} // killed by the test
}

func need(t *testing.T) {
	t.Helper()
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "ipmi_sim", "ipmitool", "mkfs.ext4", "ip")
}

// The lab rack: lab-01 powered on through its Redfish BMC with pkg/bmc (one-time PXE),
// lab-03 through ipmitool against ipmi_sim; each guest's iPXE ROM broadcasts DHCP on
// br-prov, each BMC counted one power-on, lab-02 stays off; Close leaves nothing.
func TestRackBootsGuestsThroughTheirBMCs(t *testing.T) {
	need(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	name := netns.Name("rack")
	r, err := rack.Start(ctx, rack.Config{Inventory: labInventory, Dir: t.TempDir(), NetNS: name,
		Password: password, MemoryMB: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	w, err := r.WatchDHCP()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, n := range []string{"lab-01", "lab-02", "lab-03"} {
		if r.Guest(n) != nil || r.PowerCycles(n) != 0 {
			t.Fatalf("%s: powered on (%d power cycles) before anyone asked", n, r.PowerCycles(n))
		}
	}
	// The switches have carrier with every guest off (provision net apply checks it).
	for _, br := range []string{rack.ProvisioningBridge, rack.StorageBridge} {
		l, err := r.NS().Link(br)
		if err != nil {
			t.Fatal(err)
		}
		if l.Attrs().OperState != netlink.OperUp || len(mustAddrs(t, r, br)) != 0 {
			t.Errorf("%s: operstate %s, IPv4 addresses %v; want up and none", br, l.Attrs().OperState, mustAddrs(t, r, br))
		}
	}
	if l, _ := r.NS().Link(rack.StorageBridge); l != nil && l.Attrs().MTU != 9000 {
		t.Errorf("%s MTU %d, want 9000", rack.StorageBridge, l.Attrs().MTU)
	}
	if disk, err := exec.Command("blkid", "-o", "value", "-s", "LABEL", filepath.Join(r.Dir(), "lab-01", "disk.img")).Output(); err == nil && strings.TrimSpace(string(disk)) != "scratch" {
		t.Errorf("lab-01 disk label %q, want scratch", disk)
	}

	// lab-01: pkg/bmc inside the namespace, the password from the environment.
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", name, os.Args[0], "-test.run=^$", "lab-01")
	cmd.Env = append(os.Environ(), helper+"=bmc", inventory.EnvName("lab-bmc", "password")+"="+password)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "power on: power=on") {
		t.Fatalf("pkg/bmc against lab-01's BMC in %s: %v\n%s", name, err, out)
	}
	// lab-03: ipmitool against ipmi_sim inside the namespace.
	sim := r.IPMI("lab-03")
	for _, args := range [][]string{{"chassis", "bootdev", "pxe"}, {"chassis", "power", "on"}} {
		if out, err := sim.Ipmitool(ctx, args...); err != nil {
			t.Fatalf("ipmitool %v: %v\n%s", args, err, out)
		}
	}

	start := time.Now()
	for _, name := range []string{"lab-01", "lab-03"} {
		n, _ := r.Node(name)
		m, err := w.Wait(ctx, n.PXEMAC)
		if err != nil {
			if g := r.Guest(n.Name); g != nil {
				t.Logf("%s serial log:\n%s", n.Name, g.LogTail(30))
			}
			t.Fatalf("%s: %v", n.Name, err)
		}
		t.Logf("%s: DHCP %s from %s on br-prov %s after the power-ons", n.Name, m.MessageType(), m.ClientHWAddr, time.Since(start).Round(time.Second))
		g := r.Guest(n.Name)
		if g == nil {
			t.Fatalf("%s: no guest running after its DHCP request", n.Name)
		}
		// iPXE names the NIC by the inventory's MAC on the console.
		re := regexp.MustCompile(`(?i)net0: ` + regexp.QuoteMeta(n.PXEMAC))
		if _, err := g.WaitForLine(re, time.Minute); err != nil {
			t.Error(err)
		}
	}
	if r.Guest("lab-02") != nil {
		t.Error("lab-02 runs: nobody powered it on")
	}
	for _, m := range w.Seen() {
		if m.ClientHWAddr.String() == "52:54:00:04:00:02" {
			t.Error("DHCP from lab-02, which is off")
		}
		if strings.HasPrefix(m.ClientHWAddr.String(), "52:54:00:04:c8:") {
			t.Errorf("DHCP from storage NIC %s on br-prov", m.ClientHWAddr)
		}
	}
	for _, n := range []string{"lab-01", "lab-03"} {
		if c := r.PowerCycles(n); c != 1 {
			t.Errorf("%s: BMC counted %d power cycles, want 1", n, c)
		}
		if b := r.Boots(n); !slices.Equal(b, []string{"Pxe"}) {
			t.Errorf("%s: guest boots %v, want [Pxe] (the one-time override)", n, b)
		}
	}
	if c := r.Redfish("lab-01").Counts(); c.PowerOn != 1 || c.BootOverrides != 1 {
		t.Errorf("lab-01 Redfish counters %+v: want one boot override and one power on", c)
	}
	if calls := sim.Calls(); !slices.Equal(calls, []string{"on boot=pxe"}) {
		t.Errorf("lab-03 ipmi_sim chassis control calls %v, want [on boot=pxe]", calls)
	}
	if st := r.Status(); len(st.Nodes) != 3 || st.Nodes[0].Power != "on" || st.Nodes[1].Power != "off" || st.Nodes[2].PowerCycles != 1 {
		t.Errorf("status %+v", st)
	}

	// ipmitool power off stops lab-03's QEMU.
	g3 := r.Guest("lab-03")
	if _, err := sim.Ipmitool(ctx, "chassis", "power", "off"); err != nil {
		t.Fatal(err)
	}
	if err := g3.Wait(30 * time.Second); err != nil {
		t.Errorf("lab-03 QEMU after ipmitool power off: %v", err)
	}

	// Powered on again with no override (used up by the first boot): SeaBIOS tries the
	// disk (ext4, no boot loader), then the NIC's iPXE ROM, as a fresh server would.
	if _, err := sim.Ipmitool(ctx, "chassis", "power", "on"); err != nil {
		t.Fatal(err)
	}
	var g *vm.VM
	for g = r.Guest("lab-03"); g == nil || g == g3; g = r.Guest("lab-03") {
		if ctx.Err() != nil {
			t.Fatal("lab-03 not started again by ipmitool power on")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := g.WaitForLine(regexp.MustCompile(`(?s)Booting from Hard Disk.*Configuring \(net0 52:54:00:04:00:03\)`), 2*time.Minute); err != nil {
		t.Error(err)
	}
	if b := r.Boots("lab-03"); !slices.Equal(b, []string{"Pxe", "default"}) {
		t.Errorf("lab-03 boots %v, want [Pxe default]", b)
	}

	pids := []int{r.Guest("lab-01").PID(), g.PID(), sim.PID()}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	assertGone(t, name, pids)
}

func mustAddrs(t *testing.T, r *rack.Rack, link string) []netlink.Addr {
	t.Helper()
	l, err := r.NS().Link(link)
	if err != nil {
		t.Fatal(err)
	}
	as, err := r.NS().Handle().AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func assertGone(t *testing.T, name string, pids []int) {
	t.Helper()
	if netns.Exists(name) {
		t.Errorf("namespace %s left behind", name)
	}
	for _, p := range pids {
		// A zombie waiting for its new parent to reap it has ended: no cmdline.
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p))
		if syscall.Kill(p, 0) == nil && len(b) > 0 {
			t.Errorf("process %d (%s) left behind", p, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// A rack whose process was SIGKILLed: Down removes its namespace and processes; a
// second Down finds nothing and succeeds.
func TestDownAfterKill(t *testing.T) {
	need(t)
	t.Parallel()
	dir, name := t.TempDir(), netns.Name("rackdown")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helper+"=rack", "RACK_DIR="+dir, "RACK_NETNS="+name)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); rack.Down(name, dir) })
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(out, buf, len("ready"))
	if !strings.Contains(string(buf[:n]), "ready") {
		cmd.Wait()
		t.Fatalf("rack helper: %q", buf[:n])
	}
	// A process of its own in the namespace, as `provision serve` is in the demo: it
	// does not die with the rack's process.
	other := exec.Command("ip", "netns", "exec", name, "sleep", "600")
	other.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill() })
	go other.Wait() // reaped as soon as Down ends it
	// `ip netns exec` enters the namespace a moment after it starts.
	var pids []int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		pids, err = netns.PIDs(name)
		if err != nil || len(pids) >= 3 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || len(pids) < 3 {
		t.Fatalf("processes in %s: %v %v (want ipmi_sim, QEMU and sleep)", name, pids, err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !netns.Exists(name) {
		t.Fatalf("namespace %s gone with its process: nothing left for Down to do", name)
	}
	if err := rack.Down("", dir); err != nil { // the name comes from the PID record
		t.Fatal(err)
	}
	assertGone(t, name, pids)
	if err := rack.Down(name, dir); err != nil {
		t.Errorf("Down with nothing there: %v", err)
	}
}

// Start refuses a namespace that is already there, and changes nothing.
func TestStartRefusesExistingNamespace(t *testing.T) {
	testenv.NeedRoot(t)
	t.Parallel()
	ns := netns.New(t)
	dir := t.TempDir()
	_, err := rack.Start(context.Background(), rack.Config{Inventory: labInventory, Dir: dir, NetNS: ns.Name, Password: password})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Start in an existing namespace: %v", err)
	}
	if !netns.Exists(ns.Name) {
		t.Error("the existing namespace was removed")
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  rack.Config
		want string
	}{
		{"no password", rack.Config{Inventory: labInventory, Dir: t.TempDir()}, "RACKLIFT_CRED_LAB_BMC_PASSWORD"},
		{"BMC not on loopback", rack.Config{Inventory: labInventory, Dir: t.TempDir(), Password: "x",
			Extra: []rack.Node{{Name: "lab-09", Address: "10.0.0.9", BMCPort: 8449, PXEMAC: "52:54:00:04:00:09"}}}, "lab-09: BMC address 10.0.0.9"},
		{"BMC port taken", rack.Config{Inventory: labInventory, Dir: t.TempDir(), Password: "x",
			Extra: []rack.Node{{Name: "lab-09", BMCPort: 8441, PXEMAC: "52:54:00:04:00:09"}}}, "lab-01 and lab-09: both BMCs on https://127.0.0.1:8441"},
		{"bad MAC", rack.Config{Inventory: labInventory, Dir: t.TempDir(), Password: "x",
			Extra: []rack.Node{{Name: "lab-09", BMCPort: 8449, PXEMAC: "52:54:00"}}}, `lab-09: MAC "52:54:00"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rack.Start(context.Background(), tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// labWithGateway is the lab inventory, whose storage network (VLAN 200) has the gateway the
// rack answers as.
func labWithGateway(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(labInventory, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "gateway: 10.204.200.1") {
		t.Fatal("lab site.yaml: the storage network (VLAN 200) has no gateway: 10.204.200.1")
	}
	return labInventory
}

// A guest with Debian's kernel on the storage trunk: untagged it gets no answer from the
// storage gateway; on a VLAN 200 sub-interface at MTU 9000 the gateway answers ARP and
// a ping filling a jumbo frame (unfragmented: the rack drops fragments).
func TestStorageGatewayAnswersInItsVLAN(t *testing.T) {
	need(t)
	t.Parallel()
	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r, err := rack.Start(context.Background(), rack.Config{Inventory: labWithGateway(t), Dir: dir,
		NetNS: netns.Name("rackgw"), Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	stor, err := r.NS().Link(rack.StorageBridge)
	if err != nil {
		t.Fatal(err)
	}
	tap := "tap-gwtest"
	if _, err := r.NS().Tap(tap, stor); err != nil {
		t.Fatal(err)
	}
	if err := r.NS().SetMTU(tap, 9000); err != nil {
		t.Fatal(err)
	}
	ir := initramfs.Initramfs{Kernel: k, Modules: []string{"virtio_pci", "virtio_net", "8021q"}, Init: `
ip link set eth0 mtu 9000 up
ip addr add 10.204.200.98/24 dev eth0
ping -c 2 -W 2 10.204.200.1 >/dev/null 2>&1 && echo UNTAGGED-ANSWERED || echo UNTAGGED-SILENT
ip addr del 10.204.200.98/24 dev eth0
ip link add link eth0 name eth0.200 type vlan id 200
ip link set eth0.200 mtu 9000 up
ip addr add 10.204.200.99/24 dev eth0.200
ping -c 2 -W 5 10.204.200.1 && echo TAGGED-OK
ping -c 1 -W 5 -s 8972 10.204.200.1 && echo JUMBO-OK
echo DONE
poweroff -f
`}
	initrd := filepath.Join(dir, "initrd.gz")
	if err := ir.Build(initrd); err != nil {
		t.Fatal(err)
	}
	g := vm.StartT(t, vm.Config{Name: "gwtest", Dir: dir, Kernel: k.Vmlinuz, Initrd: initrd, MemoryMB: 256,
		NetNS: r.NS().Name, NICs: []vm.NIC{{Tap: tap, MAC: "52:54:00:04:c8:99"}}})
	if _, err := g.WaitForLine(regexp.MustCompile(`DONE`), 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	log := g.Log()
	for _, want := range []string{"UNTAGGED-SILENT", "TAGGED-OK", "JUMBO-OK"} {
		if !strings.Contains(log, want) {
			t.Errorf("guest did not print %s; console:\n%s", want, g.LogTail(30))
		}
	}
	t.Logf("console:\n%s", g.LogTail(14))
	if arp, icmp := r.GatewayAnswers("storage"); arp < 1 || icmp < 3 {
		t.Errorf("gateway answered %d ARP and %d echo requests, want ≥1 and 3", arp, icmp)
	}
}
