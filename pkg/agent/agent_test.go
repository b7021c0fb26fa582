package agent

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

func TestExpectationsForExampleSite(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
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

func TestRunSurvivesAPanickingChecker(t *testing.T) {
	t.Parallel()
	rs := Run(context.Background(), &expect.Expectations{}, []Checker{
		func(context.Context, *expect.Expectations) []check.Result { panic("boom") },
		func(context.Context, *expect.Expectations) []check.Result {
			return []check.Result{{Name: "after", Status: check.Pass}}
		},
	})
	if len(rs) != 2 || rs[0].Status != check.Fail || !strings.Contains(rs[0].Message, "boom") || rs[1].Name != "after" {
		t.Fatalf("%+v", rs)
	}
}

func TestCheckersSkipWhatIsNotExpected(t *testing.T) {
	t.Parallel()
	called := false
	o := Options{Net: func(context.Context, []expect.Network) []check.Result { called = true; return nil }}
	rs := Run(context.Background(), &expect.Expectations{Node: "n"}, Checkers(o))
	if len(rs) != 0 || called {
		t.Fatalf("empty expectations ran checks: %+v (net called %v)", rs, called)
	}
}
