package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/inventory"
)

// TestNetworkWithoutDHCPPlansModeOff: a PXE network with no dhcp: section is served by
// another DHCP server: serve's plan says mode off (answer nothing) with the default
// lease, never reservation. Regression (issue 20): a missing dhcp: planned another
// mode, and serve answered DHCP on a network that has its own server.
func TestNetworkWithoutDHCPPlansModeOff(t *testing.T) {
	t.Parallel()
	src := filepath.Join("..", "..", "inventory", "examples", "lab")
	dir := t.TempDir()
	site, err := os.ReadFile(filepath.Join(src, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const dhcp = "    dhcp:\n      mode: reservation\n      lease: 1h\n"
	if !strings.Contains(string(site), dhcp) {
		t.Fatalf("the lab example changed: no %q", dhcp)
	}
	rack, err := os.ReadFile(filepath.Join(src, "racks", "lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "racks"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "site.yaml"), []byte(strings.Replace(string(site), dhcp, "", 1)), 0o644))
	must(os.WriteFile(filepath.Join(dir, "racks", "lab.yaml"), rack, 0o644))
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(inv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) == 0 {
		t.Fatal("no nodes planned")
	}
	for _, np := range p.Nodes {
		r := np.Reservation
		if r.Mode != "off" || r.LeaseSeconds != int(DefaultLease/time.Second) {
			t.Errorf("%s: mode %q lease %ds; want off with the default %ds", np.Node, r.Mode, r.LeaseSeconds, int(DefaultLease/time.Second))
		}
	}
	// The example itself, with its dhcp: section, plans reservation with its lease.
	p, err = Build(examples(t, "lab"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r := p.Nodes[0].Reservation; r.Mode != "reservation" || r.LeaseSeconds != 3600 {
		t.Errorf("with dhcp: mode %q lease %d; want reservation, 3600", r.Mode, r.LeaseSeconds)
	}
}
