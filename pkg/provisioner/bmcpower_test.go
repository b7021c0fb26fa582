package provisioner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/provisioner"
)

// TestPXECyclePowersOnAnOffNode: a node that is off is powered on, one that is on is
// power-cycled, both after a one-time UEFI PXE override. Regression (issue 20): an off
// node sent a power cycle, which many BMCs refuse or ignore for a system that is off.
func TestPXECyclePowersOnAnOffNode(t *testing.T) {
	t.Parallel()
	const pass = "lab-Secret-7"
	f, err := lab.StartFleet(2, func(int) lab.Config { return lab.Config{Username: "admin", Password: pass} })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	dir := t.TempDir()
	site := lab.Site{Name: "lab", Nodes: lab.NodesFor("node", f.BMCs)}
	for i, b := range f.BMCs {
		site.Nodes[i].TLS = "fingerprint:" + b.Fingerprint()
	}
	if err := site.Write(dir); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	sec := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(sec, []byte("lab-bmc:\n  password: "+pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.BMCs[1].Machine().PowerOn(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p := &provisioner.BMCPower{
		Inventory: func() *inventory.Inventory { return inv },
		Secrets:   &inventory.Secrets{File: sec},
		Options:   bmc.Options{Timeout: 10e9},
	}
	for i, b := range f.BMCs {
		name := site.Nodes[i].Name
		if err := p.PXECycle(ctx, lifecycle.Target{Name: name}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		c := b.Counts()
		wantOn, wantCycle := int64(1), int64(0) // node 1 was off
		if i == 1 {
			wantOn, wantCycle = 0, 1
		}
		if c.PowerOn != wantOn || c.PowerCycle != wantCycle || c.ForceRestart != 0 || c.ForceOff != 0 {
			t.Errorf("%s: the BMC got %+v; want %d power on and %d power cycle", name, c, wantOn, wantCycle)
		}
		m := b.Machine().(*lab.MemMachine)
		if on, _ := m.On(ctx); !on || m.LastBoot() != "Pxe" {
			t.Errorf("%s: on=%v, booted from %q; want on, from the Pxe override", name, on, m.LastBoot())
		}
	}
	if err := p.PXECycle(ctx, lifecycle.Target{Name: "node-0099"}); err == nil {
		t.Error("PXECycle of a node outside the inventory succeeded")
	}
}
