package netsetup_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/initramfs"
)

// guestSite is a two-node inventory: each node PXE boots on an untagged provisioning
// network and has a storage NIC on VLAN {{VLAN}} at MTU 9000; each expects the other as a
// peer. The guests' kernel calls the NICs eth0/eth1: the node agent finds them by MAC.
const guestSite = `site: net-guests
defaults:
  role: compute
  profile: vlan
  bmc: {credentials: lab-bmc}
tls: {insecure: true}
credentials:
  - {name: lab-bmc, username: admin}
networks:
  - name: provisioning
    cidr: 10.203.0.0/24
    server: 10.203.0.1
    role: provisioning
    dhcp: {mode: reservation, lease: 1h}
  - name: storage
    vlan: {{VLAN}}
    cidr: 10.203.200.0/24
    mtu: 9000
    role: storage
profiles:
  - name: vlan
    boot: {kernel: lab/vmlinuz, initrd: lab/initrd.img}
    expect:
      peers: [vm-a, vm-b]
`

const guestRack = `rack: r1
nodes:
  - name: vm-a
    unit: 1
    bmc: {address: 127.0.0.1, port: 18441}
    interfaces:
      - {name: ens3, mac: "52:54:00:cb:00:0a", network: provisioning, address: 10.203.0.11, pxe: true}
      - {name: ens4, mac: "52:54:00:cb:c8:0a", network: storage, address: 10.203.200.11}
  - name: vm-b
    unit: 2
    bmc: {address: 127.0.0.1, port: 18442}
    interfaces:
      - {name: ens3, mac: "52:54:00:cb:00:0b", network: provisioning, address: 10.203.0.12, pxe: true}
      - {name: ens4, mac: "52:54:00:cb:c8:0b", network: storage, address: 10.203.200.12}
`

type guest struct {
	name, pxeMAC, pxeAddr, storageMAC string
	vm                                *vm.VM
}

// Two QEMU guests with Debian's kernel (it has 8021q) on one bridge both apply VLAN 200
// from the inventory with node-agent and reach each other at MTU 9000 with a
// don't-fragment probe. Then one is moved to VLAN 201: the other's check fails naming
// VLAN 200, the interface and the peer that went silent.
func TestTwoGuestsVLAN200(t *testing.T) {
	testenv.Slow(t)
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "apt-get", "dpkg", "depmod", "busybox", "ldd")
	agentBin := filepath.Join(testenv.Bin(t), "node-agent")
	testenv.NeedFile(t, agentBin)
	t.Parallel()

	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	site := func(vlan int) []byte { return []byte(strings.ReplaceAll(guestSite, "{{VLAN}}", fmt.Sprint(vlan))) }
	initrd := filepath.Join(dir, "initrd.gz")
	ir := initramfs.Initramfs{
		Kernel:   k,
		Modules:  []string{"virtio_pci", "virtio_net", "8021q"},
		Binaries: []initramfs.File{{Host: agentBin, Guest: "/usr/bin/node-agent"}},
		Contents: map[string][]byte{
			"/etc/racklift/inventory/site.yaml":         site(200),
			"/etc/racklift/inventory/racks/r1.yaml":     []byte(guestRack),
			"/etc/racklift/inventory-201/site.yaml":     site(201),
			"/etc/racklift/inventory-201/racks/r1.yaml": []byte(guestRack),
		},
		Init: vm.ControlLoop,
	}
	if err := ir.Build(initrd); err != nil {
		t.Fatal(err)
	}

	sw := netns.New(t)
	br, err := sw.Bridge(netns.IfName("br"), 9000)
	if err != nil {
		t.Fatal(err)
	}
	guests := []*guest{
		{name: "vm-a", pxeMAC: "52:54:00:cb:00:0a", pxeAddr: "10.203.0.11/24", storageMAC: "52:54:00:cb:c8:0a"},
		{name: "vm-b", pxeMAC: "52:54:00:cb:00:0b", pxeAddr: "10.203.0.12/24", storageMAC: "52:54:00:cb:c8:0b"},
	}
	for _, g := range guests {
		var nics []vm.NIC
		for _, mac := range []string{g.pxeMAC, g.storageMAC} {
			tap := netns.IfName("tap")
			if _, err := sw.Tap(tap, br); err != nil {
				t.Fatal(err)
			}
			if err := sw.SetMTU(tap, 9000); err != nil {
				t.Fatal(err)
			}
			nics = append(nics, vm.NIC{Tap: tap, MAC: mac})
		}
		g.vm = vm.StartT(t, vm.Config{Name: g.name, Dir: dir, Kernel: k.Vmlinuz, Initrd: initrd,
			Append: "quiet", MemoryMB: 384, NetNS: sw.Name, NICs: nics, Control: true})
	}
	// Boot both at once; then, like DHCP would, put the PXE address on the PXE NIC.
	each(t, guests, func(g *guest) error {
		if _, err := g.vm.WaitForLine(regexp.MustCompile(vm.ControlReady), 4*time.Minute); err != nil {
			return err
		}
		_, err := gexec(t, g, 0, fmt.Sprintf(`d=$(grep -l %s /sys/class/net/*/address | cut -d/ -f5) && ip addr add %s dev $d && ip link set $d up`, g.pxeMAC, g.pxeAddr))
		return err
	})

	// Both apply VLAN 200 from the inventory. The verification inside apply may catch the
	// other guest still applying, so its result is checked afterwards with `net check`.
	each(t, guests, func(g *guest) error {
		out, err := gexec(t, g, -1, "node-agent net apply -i /etc/racklift/inventory --node "+g.name)
		if err != nil {
			return err
		}
		if !strings.Contains(out, "+ link eth1.200 (storage): VLAN 200 on eth1, mtu 9000") || !strings.Contains(out, "~ mtu eth1") || !strings.Contains(out, "applied:") {
			return fmt.Errorf("%s: apply did not create eth1.200 at MTU 9000:\n%s", g.name, out)
		}
		return nil
	})
	each(t, guests, func(g *guest) error {
		rs, err := netCheck(t, g, 0)
		if err != nil {
			return err
		}
		peer := map[string]string{"vm-a": "10.203.200.12", "vm-b": "10.203.200.11"}[g.name]
		for _, name := range []string{"net.storage.vlan", "net.storage.mtu", "net.storage.address", "net.storage.peer." + peer, "net.storage.mtu_path." + peer} {
			r := result(rs, name)
			if r == nil || r.Status != check.Pass {
				return fmt.Errorf("%s: %s = %+v, want pass", g.name, name, r)
			}
		}
		if r := result(rs, "net.storage.mtu_path."+peer); !strings.Contains(r.Observed, "9000-byte DF echo answered") {
			return fmt.Errorf("%s: MTU probe observed %q", g.name, r.Observed)
		}
		return nil
	})
	// Idempotence inside the guest: a second apply changes nothing.
	if out, err := gexec(t, guests[0], 0, "node-agent net plan -i /etc/racklift/inventory --node vm-a"); err != nil || !strings.Contains(out, "no changes") {
		t.Errorf("second plan on vm-a: %v\n%s", err, out)
	}

	// vm-b is moved to VLAN 201 (its switch port, in effect, now carries another VLAN).
	out, err := gexec(t, guests[1], -1, "node-agent net apply -i /etc/racklift/inventory-201 --node vm-b --no-verify")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "- link eth1.200 (storage)") || !strings.Contains(out, "+ link eth1.201 (storage)") || !strings.Contains(out, "applied:") {
		t.Fatalf("vm-b did not move from VLAN 200 to 201:\n%s", out)
	}
	rs, err := netCheck(t, guests[0], 1)
	if err != nil {
		t.Fatal(err)
	}
	r := result(rs, "net.storage.peer.10.203.200.12")
	if r == nil || r.Status != check.Fail {
		t.Fatalf("vm-a's check of vm-b on VLAN 200: %+v, want fail", r)
	}
	for _, want := range []string{"VLAN 200", "eth1.200", "vm-b (10.203.200.12)", "no ARP reply within 6s"} {
		if !strings.Contains(r.Message, want) {
			t.Errorf("failure message %q does not name %s", r.Message, want)
		}
	}
	t.Logf("vm-a reports: %s", r.Message)
	if p := result(rs, "net.provisioning.peer.10.203.0.12"); p == nil || p.Status != check.Pass {
		t.Errorf("vm-b should still answer on the untagged provisioning network: %+v", p)
	}

	// The same life cycle as the namespace tests, with real 802.1Q on vm-a: drift by hand,
	// repaired by apply; down removes only racklift's VLAN and puts the NIC MTU back; an
	// address taken by another interface is refused, naming both.
	a := guests[0]
	plan := "node-agent net plan -i /etc/racklift/inventory --node vm-a"
	mustHave := func(out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("vm-a output lacks %q:\n%s", w, out)
			}
		}
	}
	gexec(t, a, 0, "ip link set eth1.200 mtu 1500 && ip addr flush dev eth1.200 && ip link add link eth1 name eth1.999 type vlan id 999")
	out, _ = gexec(t, a, 0, plan)
	mustHave(out, "~ mtu eth1.200 (storage): 1500 → 9000", "+ address 10.203.200.11/24 on eth1.200 (storage)")
	out, _ = gexec(t, a, 0, "node-agent net apply --no-verify -i /etc/racklift/inventory --node vm-a")
	mustHave(out, "applied:")
	out, _ = gexec(t, a, 0, plan)
	mustHave(out, "no changes")
	out, _ = gexec(t, a, 0, "node-agent net down && ip -o link")
	mustHave(out, "- link eth1.200 (storage)", "~ mtu eth1: 9000 → 1500", "eth1.999@eth1")
	if strings.Contains(out, "eth1.200@") {
		t.Errorf("down left eth1.200:\n%s", out)
	}
	out, _ = gexec(t, a, 1, "ip addr add 10.203.200.11/24 dev eth0 && node-agent net plan -i /etc/racklift/inventory --node vm-a")
	mustHave(out, "refusing to change the network", "address 10.203.200.11/24 for network storage on eth1.200 is already in use on eth0")
}

// gexec runs a command in the guest; want is the exit status required (-1: 0 or 1).
func gexec(t *testing.T, g *guest, want int, cmd string) (string, error) {
	out, rc, err := g.vm.Exec(cmd, 3*time.Minute)
	t.Logf("%s$ %s (rc %d)\n%s", g.name, cmd, rc, out)
	if err != nil {
		return out, err
	}
	if (want >= 0 && rc != want) || (want < 0 && rc > 1) {
		return out, fmt.Errorf("%s: %q exited %d:\n%s", g.name, cmd, rc, out)
	}
	return out, nil
}

func netCheck(t *testing.T, g *guest, want int) ([]check.Result, error) {
	// Generous probes: four TCG guests may share two busy cores under make test.
	out, err := gexec(t, g, want, "node-agent net check --probe-timeout 6s -i /etc/racklift/inventory --node "+g.name+" -o json")
	if err != nil {
		return nil, err
	}
	start := strings.Index(out, "[")
	end := strings.LastIndex(out, "]")
	if start < 0 || end < start {
		return nil, fmt.Errorf("%s: no JSON in:\n%s", g.name, out)
	}
	var rs []check.Result
	if err := json.Unmarshal([]byte(out[start:end+1]), &rs); err != nil {
		return nil, fmt.Errorf("%s: %v in:\n%s", g.name, err, out)
	}
	return rs, nil
}

func result(rs []check.Result, name string) *check.Result {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

// each runs f for every guest at once and fails the test with every error.
func each(t *testing.T, gs []*guest, f func(*guest) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(gs))
	for i, g := range gs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(g)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
