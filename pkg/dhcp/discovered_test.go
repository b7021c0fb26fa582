package dhcp

import (
	"net"
	"strings"
	"testing"

	"github.com/insomniacslk/dhcp/iana"
	"gopkg.in/yaml.v3"
)

func TestDiscoveredPersistsAndStanzaParses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, err := OpenDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	mac, _ := net.ParseMAC("52:54:00:02:00:99")
	c := Client{Arch: iana.EFI_X86_64, HasArch: true, VendorClass: "PXEClient:Arch:00007:UNDI:003016", PXE: true}
	d.Record(mac, c, "br0", "prov")
	d.Record(mac, c, "br0", "prov")
	if err := d.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := LoadDiscovered(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Count != 2 || recs[0].MAC != mac.String() || !strings.HasPrefix(recs[0].Arch, "7 ") || recs[0].Network != "prov" {
		t.Fatalf("records %+v", recs)
	}
	// Reopening keeps them.
	d2, _ := OpenDiscovered(dir)
	if len(d2.List()) != 1 {
		t.Fatal("records lost on reopen")
	}
	// The stanza is valid YAML naming the MAC and network, pasteable under nodes:.
	var nodes []struct {
		Name       string `yaml:"name"`
		Interfaces []struct {
			MAC     string `yaml:"mac"`
			Network string `yaml:"network"`
			PXE     bool   `yaml:"pxe"`
		} `yaml:"interfaces"`
	}
	if err := yaml.Unmarshal([]byte(recs[0].Stanza()), &nodes); err != nil {
		t.Fatalf("stanza is not YAML: %v\n%s", err, recs[0].Stanza())
	}
	if len(nodes) != 1 || nodes[0].Name != "node-525400020099" || nodes[0].Interfaces[0].MAC != mac.String() || nodes[0].Interfaces[0].Network != "prov" || !nodes[0].Interfaces[0].PXE {
		t.Fatalf("stanza %+v", nodes)
	}
}
