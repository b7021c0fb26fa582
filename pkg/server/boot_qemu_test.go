package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/initramfs"
)

// The QEMU boots of the acceptance: a guest whose MAC is in a test inventory boots
// DHCP → iPXE → HTTP script → kernel + initrd → an init that calls serve back, with
// `provision serve` (the built binary) running in a network namespace. Addresses are
// in the boot area's 10.202.0.0/16.

const guestInit = `
chmod 0755 /etc/udhcpc.script
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 1; done
ip link set eth0 up
server=$(sed -n 's/.*racklift\.server=\([^ ]*\).*/\1/p' /proc/cmdline)
node=$(sed -n 's/.*racklift\.node=\([^ ]*\).*/\1/p' /proc/cmdline)
mac=$(cat /sys/class/net/eth0/address)
echo "racklift-guest: node=$node server=$server mac=$mac"
udhcpc -i eth0 -n -q -t 20 -T 2 -s /etc/udhcpc.script || echo "racklift-guest: no DHCP lease"
ip -4 addr show dev eth0
for i in 1 2 3 4 5; do
  if wget -q -O /tmp/cb "$server/callback/$mac?stage=booted"; then echo "RACKLIFT-CALLBACK-OK $(cat /tmp/cb)"; break; fi
  sleep 2
done
poweroff -f
`

const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -n "$router" ] && ip route add default via "$router"
  echo "racklift-guest: lease $ip/$mask"
  ;;
esac
exit 0
`

// guestFiles builds (once per test binary) the kernel and initramfs the guests boot.
var guestFiles = sync.OnceValues(func() (string, error) {
	k, err := initramfs.GuestKernel(testenv.Cache())
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "racklift-boot-art-")
	if err != nil {
		return "", err
	}
	g := filepath.Join(dir, "guest")
	if err := os.MkdirAll(g, 0o755); err != nil {
		return "", err
	}
	kb, err := os.ReadFile(k.Vmlinuz)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(g, "vmlinuz"), kb, 0o644); err != nil {
		return "", err
	}
	ir := initramfs.Initramfs{Kernel: k, Modules: []string{"virtio_pci", "virtio_net"}, Init: guestInit,
		Contents: map[string][]byte{"/etc/udhcpc.script": []byte(udhcpcScript)}}
	if err := ir.Build(filepath.Join(g, "initrd.img")); err != nil {
		return "", err
	}
	return dir, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if dir, err := guestFiles(); err == nil && dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// bootNet is one namespace with a bridge, serve and (in proxy mode) dnsmasq.
type bootNet struct {
	t        *testing.T
	ns       *netns.NS
	br       string
	subnet   int // 10.202.<subnet>.0/24
	dir      string
	inv      string
	state    string
	serveLog string
}

func inventoryFor(mode string, subnet int, macs ...string) (site, rack string) {
	site = fmt.Sprintf(`site: boot-test
defaults:
  profile: netboot
  bmc:
    credentials: test-bmc
credentials:
  - name: test-bmc
    username: admin
networks:
  - name: prov
    cidr: 10.202.%[1]d.0/24
    server: 10.202.%[1]d.1
    role: provisioning
    dhcp:
      mode: %[2]s
      range: 10.202.%[1]d.100-10.202.%[1]d.150
      lease: 1h
profiles:
  - name: netboot
    boot:
      kernel: guest/vmlinuz
      initrd: guest/initrd.img
      cmdline: console=ttyS0 panic=-1
`, subnet, mode)
	rack = "rack: r1\nnodes:\n"
	for i, mac := range macs {
		rack += fmt.Sprintf(`  - name: boot-%02d
    unit: %d
    bmc: {address: 127.0.0.1, port: 8443}
    interfaces:
      - {name: eth0, mac: "%s", network: prov, address: 10.202.%d.%d, pxe: true}
`, i+1, i+1, mac, subnet, 11+i)
	}
	return site, rack
}

func newBootNet(t *testing.T, mode string, subnet int, macs ...string) *bootNet {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.Slow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64", "ip", "dnsmasq", "curl")
	bin := filepath.Join(testenv.Bin(t), "provision")
	testenv.NeedFile(t, bin)
	for _, f := range []string{"undionly.kpxe", "ipxe.efi"} {
		testenv.NeedFile(t, "/usr/lib/ipxe/"+f)
	}
	b := &bootNet{t: t, subnet: subnet, dir: t.TempDir()}
	b.inv = filepath.Join(b.dir, "inventory")
	b.state = filepath.Join(b.dir, "state")
	site, rack := inventoryFor(mode, subnet, macs...)
	must(t, os.MkdirAll(filepath.Join(b.inv, "racks"), 0o755))
	must(t, os.WriteFile(filepath.Join(b.inv, "site.yaml"), []byte(site), 0o644))
	must(t, os.WriteFile(filepath.Join(b.inv, "racks", "r1.yaml"), []byte(rack), 0o644))
	pxe := filepath.Join(b.dir, "pxe")
	must(t, os.MkdirAll(pxe, 0o755))
	for _, f := range []string{"undionly.kpxe", "ipxe.efi", "snponly.efi"} {
		data, err := os.ReadFile("/usr/lib/ipxe/" + f)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(pxe, f), data, 0o644))
	}
	art, err := guestFiles()
	if err != nil {
		t.Fatalf("guest kernel and initramfs: %v", err)
	}

	b.ns = netns.New(t)
	b.br = netns.IfName("rlbr")
	if _, err := b.ns.Bridge(b.br, 0); err != nil {
		t.Fatal(err)
	}
	must(t, b.ns.AddAddr(b.br, fmt.Sprintf("10.202.%d.1/24", subnet)))

	ctx, cancel := context.WithCancel(context.Background())
	if mode == "proxy" {
		conf := filepath.Join(b.dir, "dnsmasq.conf")
		out, err := exec.Command(bin, "export", "dnsmasq", "-i", b.inv, "--proxy", "--all", "-f", conf).CombinedOutput()
		if err != nil {
			t.Fatalf("provision export dnsmasq --proxy: %v: %s", err, out)
		}
		dm := b.ns.Command(ctx, "dnsmasq", "--keep-in-foreground", "--conf-file="+conf, "--interface="+b.br,
			"--bind-interfaces", "--except-interface=lo", "--dhcp-leasefile="+filepath.Join(b.dir, "leases"),
			"--pid-file="+filepath.Join(b.dir, "dnsmasq.pid"), "--user=root", "--log-facility="+filepath.Join(b.dir, "dnsmasq.log"))
		must(t, dm.Start())
		t.Cleanup(func() {
			dm.Process.Kill()
			dm.Wait()
			if t.Failed() {
				l, _ := os.ReadFile(filepath.Join(b.dir, "dnsmasq.log"))
				t.Logf("dnsmasq log:\n%s", tailLines(string(l), 40))
			}
		})
	}

	b.serveLog = filepath.Join(b.dir, "serve.log")
	logf, err := os.Create(b.serveLog)
	must(t, err)
	serve := b.ns.Command(ctx, bin, "serve", "-i", b.inv, "--interface", b.br, "--pxe-dir", pxe,
		"--artifacts", art, "--state-dir", b.state, "--log-format", "json")
	serve.Stdout, serve.Stderr = logf, logf
	must(t, serve.Start())
	t.Cleanup(func() {
		cancel()
		serve.Wait()
		logf.Close()
		if t.Failed() {
			l, _ := os.ReadFile(b.serveLog)
			t.Logf("serve log:\n%s", tailLines(string(l), 60))
		}
	})
	waitLog(t, b.serveLog, `"msg":"serving"`, 30*time.Second)
	return b
}

func (b *bootNet) guest(name, mac string, cfg vm.Config) *vm.VM {
	b.t.Helper()
	br, err := b.ns.Link(b.br)
	must(b.t, err)
	tap := netns.IfName("rltap")
	if _, err := b.ns.Tap(tap, br); err != nil {
		b.t.Fatal(err)
	}
	cfg.Name, cfg.NetBoot, cfg.NetNS = name, true, b.ns.Name
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 384
	}
	cfg.NICs = []vm.NIC{{Tap: tap, MAC: mac}}
	return vm.StartT(b.t, cfg)
}

type event struct {
	Msg    string `json:"msg"`
	Event  string `json:"event"`
	Node   string `json:"node"`
	MAC    string `json:"mac"`
	Detail string `json:"detail"`
	Error  string `json:"error"`
}

// events reads serve's structured log: its "boot event" lines.
func (b *bootNet) events() []event {
	f, err := os.Open(b.serveLog)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	var out []event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Msg == "boot event" {
			out = append(out, e)
		}
	}
	return out
}

// step is an expected event: kind, and a substring of its detail.
type step struct{ kind, detail string }

// assertInOrder checks that the node's successful events hold steps as a subsequence.
func (b *bootNet) assertInOrder(node string, steps ...step) {
	b.t.Helper()
	var got []string
	i := 0
	for _, e := range b.events() {
		if e.Node != node {
			continue
		}
		got = append(got, e.Event+" "+e.Detail+" "+e.Error)
		if i < len(steps) && e.Error == "" && e.Event == steps[i].kind && strings.Contains(e.Detail, steps[i].detail) {
			i++
		}
	}
	if i < len(steps) {
		b.t.Fatalf("node %s: events lack %v (after %v) in order; got:\n%s", node, steps[i], steps[:i], strings.Join(got, "\n"))
	}
}

func TestQEMUBootBIOSReservation(t *testing.T) {
	t.Parallel()
	const mac, stranger = "52:54:00:02:01:01", "52:54:00:02:01:99"
	b := newBootNet(t, "reservation", 1, mac)
	g := b.guest("bios", mac, vm.Config{})
	u := b.guest("stranger", stranger, vm.Config{MemoryMB: 256})
	if _, err := g.WaitForLine(regexp.MustCompile(`RACKLIFT-CALLBACK-OK ok boot-01 booted`), 8*time.Minute); err != nil {
		t.Fatalf("guest did not call back: %v", err)
	}
	b.assertInOrder("boot-01",
		step{"dhcp.offer", "http://10.202.1.1:8080/ipxe/" + mac},
		step{"dhcp.ack", "http://10.202.1.1:8080/ipxe/" + mac},
		step{"http.script", "boot"},
		step{"http.artifact", "/artifacts/guest/vmlinuz"},
		step{"http.artifact", "/artifacts/guest/initrd.img"},
		step{"dhcp.ack", ""}, // the guest's own udhcpc
		step{"http.callback", "booted"},
	)
	// The stranger asked and was never answered; it is listed as discovered.
	var asked bool
	for _, e := range b.events() {
		if e.MAC == stranger && (e.Event == "dhcp.offer" || e.Event == "dhcp.ack") {
			t.Fatalf("serve answered the MAC not in the inventory: %+v", e)
		}
		asked = asked || (e.MAC == stranger && e.Event == "dhcp.discovered")
	}
	if !asked {
		t.Fatalf("no dhcp.discovered event for %s", stranger)
	}
	out, err := exec.Command(filepath.Join(testenv.Bin(t), "provision"), "discovered", "--state-dir", b.state, "--stanza").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte(`mac: "`+stranger+`"`)) {
		t.Fatalf("provision discovered --stanza: %v\n%s", err, out)
	}
	if strings.Contains(u.Log(), "racklift-guest") {
		t.Fatalf("the stranger booted a kernel:\n%s", u.LogTail(20))
	}
	// The same story from /metrics and /api/events, read inside the namespace.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	metrics, err := b.ns.Run(ctx, "curl", "-fsS", "http://10.202.1.1:8080/metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`racklift_boot_events_total{kind="dhcp.offer",outcome="ok"}`,
		`racklift_boot_events_total{kind="dhcp.discovered",outcome="error"}`,
		`racklift_boot_events_total{kind="http.callback",outcome="ok"} 1`,
		`racklift_boot_bytes_total{kind="http.artifact"}`,
		"racklift_serve_nodes 1",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	api, err := b.ns.Run(ctx, "curl", "-fsS", "http://10.202.1.1:8080/api/events?node=boot-01")
	if err != nil {
		t.Fatal(err)
	}
	var evs []struct {
		Kind string `json:"kind"`
		Node string `json:"node"`
	}
	if err := json.Unmarshal([]byte(api), &evs); err != nil || len(evs) < 7 || evs[len(evs)-1].Kind != "http.callback" {
		t.Errorf("/api/events?node=boot-01: %v\n%s", err, api)
	}
	for _, e := range evs {
		if e.Node != "boot-01" {
			t.Errorf("/api/events?node=boot-01 returned an event of %q", e.Node)
		}
	}
}

func TestQEMUBootUEFIFirmwarePXE(t *testing.T) {
	t.Parallel()
	const code, vars = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
	testenv.NeedFile(t, code)
	testenv.NeedFile(t, vars)
	const mac = "52:54:00:02:02:01"
	b := newBootNet(t, "reservation", 2, mac)
	// No iPXE option ROM on the NIC: OVMF's own virtio-net driver and PXE client boot.
	g := b.guest("uefi", mac, vm.Config{Firmware: code, FirmwareVars: vars, MemoryMB: 512,
		ExtraArgs: []string{"-global", "virtio-net-pci.romfile="}})
	if _, err := g.WaitForLine(regexp.MustCompile(`RACKLIFT-CALLBACK-OK ok boot-01 booted`), 10*time.Minute); err != nil {
		t.Fatalf("guest did not call back: %v", err)
	}
	b.assertInOrder("boot-01",
		step{"dhcp.offer", "ipxe.efi"}, // OVMF's own PXE client, arch 7
		step{"tftp.transfer", "ipxe.efi"},
		step{"dhcp.ack", "http://10.202.2.1:8080/ipxe/" + mac}, // iPXE, loaded over TFTP
		step{"http.script", "boot"},
		step{"http.artifact", "/artifacts/guest/vmlinuz"},
		step{"http.artifact", "/artifacts/guest/initrd.img"},
		step{"http.callback", "booted"},
	)
}

func TestQEMUBootProxyWithDnsmasq(t *testing.T) {
	t.Parallel()
	const mac = "52:54:00:02:03:01"
	b := newBootNet(t, "proxy", 3, mac)
	g := b.guest("proxy", mac, vm.Config{})
	m, err := g.WaitForLine(regexp.MustCompile(`racklift-guest: lease (10\.202\.3\.\d+)/24`), 8*time.Minute)
	if err != nil {
		t.Fatalf("guest got no lease from dnsmasq: %v", err)
	}
	if _, err := g.WaitForLine(regexp.MustCompile(`RACKLIFT-CALLBACK-OK ok boot-01 booted`), 2*time.Minute); err != nil {
		t.Fatalf("guest did not call back: %v", err)
	}
	b.assertInOrder("boot-01",
		step{"dhcp.offer", "http://10.202.3.1:8080/ipxe/" + mac}, // proxyDHCP: boot options only
		step{"http.script", "boot"},
		step{"http.artifact", "/artifacts/guest/vmlinuz"},
		step{"http.artifact", "/artifacts/guest/initrd.img"},
		step{"http.callback", "booted"},
	)
	// The address came from dnsmasq's range, not from the inventory's reservation.
	if m[1] == "10.202.3.11" {
		t.Fatalf("guest got the reservation address %s: proxy mode must not hand out addresses", m[1])
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitLog(t *testing.T, file, substr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(file)
		if bytes.Contains(b, []byte(substr)) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b, _ := os.ReadFile(file)
	t.Fatalf("%s never said %s:\n%s", file, substr, tailLines(string(b), 30))
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
