package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

func TestExpectationsForExampleSite(t *testing.T) {
	t.Parallel()
	inv := examples(t, "site")
	e, err := ExpectationsFor(inv, "gpu-a01-01")
	if err != nil {
		t.Fatal(err)
	}
	if e.Node != "gpu-a01-01" || e.GPU == nil || e.GPU.Count != 8 || e.GPU.Model != "H100 80GB HBM3" || e.GPU.MinDriver != "550.54.15" {
		t.Fatalf("GPU expectations %+v", e.GPU)
	}
	if len(e.Storage) != 2 || e.Storage[1].Mount != "/mnt/datasets" || e.Storage[1].Nconnect != 8 {
		t.Fatalf("storage %+v", e.Storage)
	}
	var names []string
	for _, n := range e.Networks {
		names = append(names, n.Name)
	}
	if strings.Join(names, ",") != "provisioning,storage,compute" {
		t.Fatalf("networks %v", names)
	}
	st := e.Networks[1]
	if st.VLAN != 200 || st.MTU != 9000 || st.Interface != "enp25s0f0np0" || st.MAC != "b8:3f:d2:a1:01:20" || st.Address != "10.20.0.11/22" {
		t.Fatalf("storage network %+v", st)
	}
	if e.StorageMTU() != 9000 {
		t.Fatalf("StorageMTU = %d", e.StorageMTU())
	}
	if _, err := ExpectationsFor(inv, "no-such-node"); err == nil || !strings.Contains(err.Error(), `node "no-such-node" is not in the inventory`) {
		t.Fatalf("unknown node: %v", err)
	}
}

// peerSite has two nodes that expect each other on the storage network, and a profile
// naming a network one node has no interface on.
const peerSite = `site: peers
defaults:
  profile: gpu
  bmc: {protocol: redfish, credentials: c}
credentials:
  - {name: c, username: root}
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}
  - {name: storage, vlan: 200, cidr: 10.2.0.0/24, gateway: 10.2.0.1, mtu: 9000, role: storage}
  - {name: compute, vlan: 300, cidr: 10.3.0.0/24, mtu: 9000, role: compute}
profiles:
  - name: gpu
    expect: {networks: [storage, compute], peers: [a, b]}
racks:
  - rack: r1
    nodes:
      - name: a
        unit: 1
        bmc: {address: 10.9.0.1}
        interfaces:
          - {name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}
          - {name: e1, mac: "02:00:00:00:01:01", network: storage, address: 10.2.0.11}
      - name: b
        unit: 2
        bmc: {address: 10.9.0.2}
        interfaces:
          - {name: e0, mac: "02:00:00:00:00:02", network: prov, address: 10.1.0.12, pxe: true}
          - {name: e1, mac: "02:00:00:00:01:02", network: storage, address: 10.2.0.12}
          - {name: e2, mac: "02:00:00:00:02:02", network: compute, address: 10.3.0.12}
`

func TestExpectationsForPeersAndNamedNetworks(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(peerSite), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		node string
		want []expect.Network
	}{
		{node: "a", want: []expect.Network{
			{Name: "storage", Role: "storage", VLAN: 200, Interface: "e1", MAC: "02:00:00:00:01:01", Address: "10.2.0.11/24",
				Gateway: "10.2.0.1", MTU: 9000, Peers: []string{"b=10.2.0.12"}},
			// a has no compute interface: still listed, so the network check says it is missing.
			{Name: "compute", Role: "compute", VLAN: 300, MTU: 9000},
		}},
		{node: "b", want: []expect.Network{
			{Name: "storage", Role: "storage", VLAN: 200, Interface: "e1", MAC: "02:00:00:00:01:02", Address: "10.2.0.12/24",
				Gateway: "10.2.0.1", MTU: 9000, Peers: []string{"a=10.2.0.11"}},
			{Name: "compute", Role: "compute", VLAN: 300, Interface: "e2", MAC: "02:00:00:00:02:02", Address: "10.3.0.12/24", MTU: 9000},
		}},
	} {
		t.Run(tc.node, func(t *testing.T) {
			e, err := ExpectationsFor(inv, tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Networks, tc.want) {
				t.Errorf("networks\n got %+v\nwant %+v", e.Networks, tc.want)
			}
		})
	}
	nets, err := NodeNetworks(inv, inv.Node("a"))
	if err != nil || len(nets) != 2 || nets[0].Name != "prov" || nets[0].Peers[0] != "b=10.1.0.12" {
		t.Errorf("NodeNetworks(a) = %+v, %v", nets, err)
	}
}

func TestHostNetworks(t *testing.T) {
	t.Parallel()
	inv := examples(t, "site")
	p, err := Build(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := HostNetworks(inv, p.Host, "eno9")
	want := []expect.Network{
		{Name: "provisioning", Role: "provisioning", VLAN: 100, Interface: "eno9", Address: "10.10.0.2/22", Gateway: "10.10.0.1", MTU: 1500},
	}
	if len(got) != len(p.Host) || !reflect.DeepEqual(got[:1], want) {
		t.Errorf("HostNetworks\n got %+v\nwant %+v…", got, want)
	}
}

// A profile's image becomes the node's Deploy: a path is served from serve's artifacts at
// the PXE network's server address, a URL stays; the hints and sha256 pass through; a
// profile without an image deploys nothing.
func TestExpectationsForImage(t *testing.T) {
	t.Parallel()
	sum := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		name, image string
		want        *expect.Deploy
	}{
		{name: "stateless", image: ""},
		{name: "artifact path", image: "    image: {file: images/debian-13.raw.zst, sha256: " + sum + ", size: 2147483648, root_device: {min_size_gib: 100, model: SAMSUNG}}\n",
			want: &expect.Deploy{Image: "debian-13", URL: "http://10.1.0.1:8080/artifacts/images/debian-13.raw.zst", SHA256: sum, Size: 2 << 30,
				RootDevice: expect.RootDeviceHints{MinSizeGiB: 100, Model: "SAMSUNG"}, Hostname: "a"}},
		{name: "URL", image: "    image: {file: \"https://images.example/ubuntu.img.gz\", sha256: " + sum + "}\n",
			want: &expect.Deploy{Image: "ubuntu", URL: "https://images.example/ubuntu.img.gz", SHA256: sum, Hostname: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := strings.Replace(peerSite, "    expect: {networks: [storage, compute], peers: [a, b]}\n",
				"    expect: {networks: [storage, compute], peers: [a, b]}\n"+tc.image, 1)
			p := filepath.Join(t.TempDir(), "site.yaml")
			os.WriteFile(p, []byte(site), 0o644)
			inv, err := inventory.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ExpectationsFor(inv, "a")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(e.Deploy, tc.want) {
				t.Fatalf("Deploy\n got %+v\nwant %+v", e.Deploy, tc.want)
			}
		})
	}
}
