package plan

import (
	"encoding/json"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"

	"github.com/racklift/racklift/pkg/inventory"
)

func examples(t *testing.T, name string) *inventory.Inventory {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	inv, err := inventory.Load(filepath.Join(filepath.Dir(file), "..", "..", "inventory", "examples", name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return inv
}

func TestBuildSite(t *testing.T) {
	t.Parallel()
	inv := examples(t, "site")
	p, err := Build(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != len(inv.Nodes) {
		t.Fatalf("plan has %d nodes, inventory %d", len(p.Nodes), len(inv.Nodes))
	}
	np := p.Node("gpu-a01-01")
	if np == nil {
		t.Fatal("no plan for gpu-a01-01")
	}
	r := np.Reservation
	want := Reservation{
		Mode: "reservation", Network: "provisioning", Interface: "eno1", MACString: "3c:ec:ef:a1:01:10",
		IP: netip.MustParseAddr("10.10.0.11"), Prefix: netip.MustParsePrefix("10.10.0.0/22"),
		Gateway: netip.MustParseAddr("10.10.0.1"), Domain: "cage7.sjc1.example.net", MTU: 1500,
		Hostname: "gpu-a01-01", LeaseSeconds: 12 * 3600, Server: netip.MustParseAddr("10.10.0.2"),
	}
	r.MAC, r.DNS = nil, nil
	if !reflect.DeepEqual(r, want) {
		t.Errorf("reservation\n got %+v\nwant %+v", r, want)
	}
	if len(np.Reservation.DNS) != 2 || np.Reservation.DNS[0] != netip.MustParseAddr("10.10.0.53") {
		t.Errorf("DNS = %v", np.Reservation.DNS)
	}
	b := np.Boot
	if b.ScriptURL != "http://10.10.0.2:8080/ipxe/3c:ec:ef:a1:01:10" || b.HTTPBootURL != "http://10.10.0.2:8080/pxe/ipxe.efi" {
		t.Errorf("urls: %s %s", b.ScriptURL, b.HTTPBootURL)
	}
	if b.BIOSFile != FileBIOS || b.UEFIFile != FileUEFI || b.ARM64File != FileARM64UEFI {
		t.Errorf("boot files: %+v", b)
	}
	if b.Kernel != "ubuntu-22.04/vmlinuz" || b.Initrd != "ubuntu-22.04/initrd" || b.Install != "ubuntu-autoinstall" || b.Cmdline == "" {
		t.Errorf("boot spec: %+v", b)
	}
	// A node override picks the firmware-driver iPXE build.
	if got := p.Node("gpu-a02-04").Boot; got.UEFIFile != FileUEFISNP || got.HTTPBootURL != "http://10.10.0.2:8080/pxe/snponly.efi" {
		t.Errorf("override: %+v", got)
	}
	if !p.Node("gpu-a01-04").Protected {
		t.Error("gpu-a01-04 should be protected")
	}
	// The host needs interfaces on the networks that name a server: provisioning and bmc.
	if len(p.Host) != 2 {
		t.Fatalf("host interfaces: %+v", p.Host)
	}
	if h := p.Host[0]; h.Network != "provisioning" || h.VLAN != 100 || h.MTU != 1500 || h.Address != netip.MustParsePrefix("10.10.0.2/22") {
		t.Errorf("host interface: %+v", h)
	}
	mac, _ := net.ParseMAC("c4:cb:e1:a2:03:10")
	if got := p.ByMAC(mac); got == nil || got.Node != "gpu-a02-03" {
		t.Errorf("ByMAC(%s) = %+v", mac, got)
	}
	other, _ := net.ParseMAC("94:6d:ae:a2:03:20") // storage NIC: not a PXE MAC
	if got := p.ByMAC(other); got != nil {
		t.Errorf("ByMAC(storage NIC) = %s, want none", got.Node)
	}
}

func TestBuildPortAndJSON(t *testing.T) {
	t.Parallel()
	p, err := Build(examples(t, "lab"), Options{HTTPPort: 9090})
	if err != nil {
		t.Fatal(err)
	}
	np := p.Node("lab-02")
	if np.Boot.ScriptURL != "http://10.204.0.1:9090/ipxe/52:54:00:04:00:02" {
		t.Errorf("script URL %s", np.Boot.ScriptURL)
	}
	if np.Reservation.LeaseSeconds != 3600 || np.Reservation.Gateway.IsValid() {
		t.Errorf("lab reservation %+v", np.Reservation)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var back Plan
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:04:00:03")
	if got := back.ByMAC(mac); got == nil || got.Node != "lab-03" || got.Reservation.IP != netip.MustParseAddr("10.204.0.13") {
		t.Errorf("decoded plan ByMAC = %+v", got)
	}
}
