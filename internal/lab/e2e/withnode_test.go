package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/inventory"
)

// The hot-added node lands in the lab rack's nodes list, not in the switches after it,
// and the edited inventory validates with lab-04 in it.
func TestWithNodeKeepsTheRackValid(t *testing.T) {
	src := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab")
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	rack := filepath.Join(dir, "racks", "lab.yaml")
	b, err := os.ReadFile(rack)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rack, []byte(withNode(string(b), lab04Stanza)), 0o644); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatalf("the lab inventory with lab-04 added: %v", err)
	}
	if inv.Node("lab-04") == nil {
		t.Fatal("lab-04 is not in the edited inventory")
	}
	if !strings.Contains(withNode("rack: r\n", "  - name: x\n"), "  - name: x\n") {
		t.Error("a rack without nodes: the stanza is dropped")
	}
}
