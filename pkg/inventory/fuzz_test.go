package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary text as a single-file inventory: loading must never panic,
// and either succeed or return located errors.
func FuzzLoad(f *testing.F) {
	f.Add(single)
	for _, p := range []string{"examples/site/site.yaml", "examples/lab/site.yaml", "testdata/broken/site.yaml", "testdata/broken/racks/r1.yaml"} {
		if b, err := os.ReadFile(filepath.Join("..", "..", "inventory", p)); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("site: x\nnetworks: &n [{name: a, cidr: 10.0.0.0/8, role: bmc}]\nprofiles: *n\n")
	f.Add("site: x\nnetworks:\n  - <<: {name: a}\n    cidr: 10.0.0.0/8\n")
	f.Fuzz(func(t *testing.T, body string) {
		const p = "fuzz/site.yaml"
		inv, err := loadBytes(p, []byte(body))
		if err == nil {
			if inv == nil {
				t.Fatal("nil inventory without error")
			}
			for _, n := range inv.Nodes {
				if n.PXEInterface() == nil || n.Spec == nil {
					t.Fatalf("valid inventory with node %q lacking PXE interface or profile", n.Name)
				}
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("unlocated error: %v", err)
		}
		for _, e := range errs {
			if e.Pos.File != p || e.Pos.Line == 0 || e.Msg == "" || e.Hint == "" {
				t.Fatalf("error without position: %+v", e)
			}
		}
	})
}
