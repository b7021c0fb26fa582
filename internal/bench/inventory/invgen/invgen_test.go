package invgen

import (
	"testing"

	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
)

// The generated site must be valid, or the benchmark would time error reporting.
func TestWriteIsValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := Write(dir, Options{Nodes: 1003, NodesPerRack: 40}); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Nodes) != 1003 || len(inv.Racks) != 26 {
		t.Fatalf("%d nodes in %d racks", len(inv.Nodes), len(inv.Racks))
	}
	p, err := plan.Build(inv, plan.Options{})
	if err != nil || len(p.Nodes) != 1003 {
		t.Fatalf("plan: %v", err)
	}
}
