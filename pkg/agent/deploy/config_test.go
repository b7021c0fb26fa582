package deploy

import (
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/expect"
)

func TestNodeConfig(t *testing.T) {
	nets := []expect.Network{
		{Name: "provisioning", Role: "provisioning", Interface: "eth0", MAC: "52:54:00:AA:00:01"},
		{Name: "storage", Role: "storage", Interface: "eth1", MAC: "52:54:00:aa:00:02", VLAN: 200, MTU: 9000, Address: "10.20.0.11/24", Gateway: "10.20.0.1"},
		{Name: "compute", Role: "compute", Interface: "eth1", VLAN: 300, MTU: 1500, Address: "10.30.0.11/24"},
		{Name: "mgmt", Role: "management", Interface: "eth2", Address: "10.40.0.11/24"},
		{Name: "bmc", Role: "bmc", Interface: "bmc0", Address: "10.0.0.11/24"},
	}
	files, err := NodeConfig("gpu-01.lab", nets)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range files {
		got[f.Path] = string(f.Data)
	}
	for _, tc := range []struct {
		path string
		want []string
		not  []string
	}{
		{path: "/etc/hostname", want: []string{"gpu-01.lab\n"}},
		{path: "/etc/hosts", want: []string{"127.0.1.1\tgpu-01.lab gpu-01\n"}},
		{path: NetworkDir + "/10-racklift-eth0.network", want: []string{"MACAddress=52:54:00:aa:00:01", "Type=ether", "DHCP=ipv4"}},
		{path: NetworkDir + "/10-racklift-eth1.network", want: []string{"MACAddress=52:54:00:aa:00:02", "MTUBytes=9000", "VLAN=eth1.200", "VLAN=eth1.300", "LinkLocalAddressing=no"}, not: []string{"DHCP", "\nAddress="}},
		{path: NetworkDir + "/10-racklift-eth1.200.netdev", want: []string{"Name=eth1.200", "Kind=vlan", "MTUBytes=9000", "[VLAN]\nId=200"}},
		{path: NetworkDir + "/10-racklift-eth1.200.network", want: []string{"Name=eth1.200", "Address=10.20.0.11/24", "MTUBytes=9000"}, not: []string{"Gateway"}},
		{path: NetworkDir + "/10-racklift-eth1.300.network", want: []string{"Address=10.30.0.11/24", "MTUBytes=1500"}},
		{path: NetworkDir + "/10-racklift-eth2.network", want: []string{"Name=eth2", "Address=10.40.0.11/24"}},
		{path: NetworkDir + "/99-racklift-dhcp.network", want: []string{"Type=ether", "DHCP=ipv4"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, ok := got[tc.path]
			if !ok {
				t.Fatalf("no %s among %d files", tc.path, len(files))
			}
			for _, w := range tc.want {
				if !strings.Contains(s, w) {
					t.Errorf("%s lacks %q:\n%s", tc.path, w, s)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(s, n) {
					t.Errorf("%s has %q:\n%s", tc.path, n, s)
				}
			}
		})
	}
	for p := range got {
		if strings.Contains(p, "bmc0") {
			t.Errorf("the BMC's network got a file: %s", p)
		}
	}
}

func TestNodeConfigStaticGateway(t *testing.T) {
	files, err := NodeConfig("n1", []expect.Network{
		{Name: "a", Interface: "eth0", Address: "10.1.0.5/24", Gateway: "10.1.0.1"},
		{Name: "b", Interface: "eth1", Address: "10.2.0.5/24", Gateway: "10.2.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		n += strings.Count(string(f.Data), "Gateway=")
	}
	if n != 1 {
		t.Fatalf("%d Gateway= lines, want one default route", n)
	}
}

func TestNodeConfigRefusesBadData(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hostname string
		nw       expect.Network
		want     string
	}{
		{name: "hostname with newline", hostname: "a\nb", want: `hostname "a\nb"`},
		{name: "interface with a slash", hostname: "n1", nw: expect.Network{Name: "s", Interface: "../etc"}, want: `network s: interface "../etc"`},
		{name: "interface with newline", hostname: "n1", nw: expect.Network{Name: "s", Interface: "eth0\n[Network]"}, want: "network s: interface"},
		{name: "bad address", hostname: "n1", nw: expect.Network{Name: "s", Interface: "eth0", Address: "10.0.0.1/24\nDNS=1.1.1.1"}, want: "network s on eth0: address"},
		{name: "bad MAC", hostname: "n1", nw: expect.Network{Name: "s", Interface: "eth0", MAC: "zz"}, want: `network s on eth0: MAC "zz"`},
		{name: "VLAN out of range", hostname: "n1", nw: expect.Network{Name: "s", Interface: "eth0", VLAN: 5000}, want: "VLAN 5000"},
		{name: "MTU too small", hostname: "n1", nw: expect.Network{Name: "s", Interface: "eth0", MTU: 100}, want: "MTU 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var nets []expect.Network
			if tc.nw.Name != "" {
				nets = append(nets, tc.nw)
			}
			_, err := NodeConfig(tc.hostname, nets)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
