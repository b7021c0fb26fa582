package dhcp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/inventory"
)

func TestDnsmasqFor(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
	// The example site's networks all answer DHCP themselves: nothing for dnsmasq.
	if _, err := DnsmasqFor(inv, inv.Nodes, DnsmasqSelection{}); !errors.Is(err, ErrNothingForDnsmasq) {
		t.Errorf("mode reservation only: %v, want ErrNothingForDnsmasq", err)
	}
	a01, err := inv.SelectAny([]string{"rack=a01"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := DnsmasqFor(inv, a01, DnsmasqSelection{All: true, HTTPPort: 9000})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := e.Write(&b); err != nil {
		t.Fatal(err)
	}
	if e.Nodes() != 4 || strings.Count(b.String(), "dhcp-host=") != 4 || !strings.Contains(b.String(), ":9000/ipxe/") {
		t.Errorf("--all rack=a01: %d nodes\n%s", e.Nodes(), b.String())
	}
}

// Proxy exports take each network's dhcp.range from the inventory.
func TestDnsmasqForRanges(t *testing.T) {
	t.Parallel()
	src := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab")
	dir := t.TempDir()
	site, err := os.ReadFile(filepath.Join(src, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	site = []byte(strings.Replace(string(site), "      mode: reservation\n", "      mode: reservation\n      range: 10.204.0.100-10.204.0.200\n", 1))
	rack, err := os.ReadFile(filepath.Join(src, "racks", "lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "racks"), 0o755)
	os.WriteFile(filepath.Join(dir, "site.yaml"), site, 0o644)
	os.WriteFile(filepath.Join(dir, "racks", "lab.yaml"), rack, 0o644)
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := DnsmasqFor(inv, inv.Nodes, DnsmasqSelection{All: true, Proxy: true})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := e.Write(&b); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if !strings.Contains(b.String(), "dhcp-range=set:net-provisioning,10.204.0.100,10.204.0.200,") || strings.Contains(b.String(), "dhcp-boot") {
		t.Errorf("proxy export:\n%s", b.String())
	}
}

func TestDiscoveredText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	WriteDiscovered(&b, nil, "/var/lib/racklift")
	if b.String() != "no discovered machines in /var/lib/racklift (serve records MACs it does not answer there)\n" {
		t.Errorf("none: %q", b.String())
	}
	recs := []*Record{{MAC: "52:54:00:02:00:99", Client: "UEFI x86-64", Network: "prov", Count: 3}}
	b.Reset()
	WriteDiscovered(&b, recs, "/x")
	if lines := strings.Split(strings.TrimSpace(b.String()), "\n"); len(lines) != 4 || !strings.Contains(lines[1], "52:54:00:02:00:99") ||
		!strings.Contains(lines[1], " - ") || !strings.HasSuffix(lines[1], "3") || lines[3] != "add one to the inventory: provision discovered --stanza" {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	WriteStanzas(&b, recs)
	if !strings.HasPrefix(b.String(), "# paste under a rack's nodes:") || !strings.Contains(b.String(), recs[0].Stanza()) {
		t.Errorf("stanzas:\n%s", b.String())
	}
}
