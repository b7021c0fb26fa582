package ansible

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/inventory"
)

func TestGroupName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"rack_a01":               "rack_a01",
		"model_SYS-821GE-TNHR":   "model_sys_821ge_tnhr",
		"8gpu":                   "_8gpu",
		"pool_research.team-two": "pool_research_team_two",
		"":                       "",
	} {
		if got := GroupName(in); got != want {
			t.Errorf("GroupName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFor(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
	ai := For(inv, inv.Nodes)
	h := ai.All.Hosts["gpu-a02-03"]
	if len(ai.All.Hosts) != 8 || h["ansible_host"] != "10.10.0.23" || h["ansible_user"] != "ops" || h["racklift_rack"] != "a02" || h["racklift_unit"] == nil || ai.All.Vars["racklift_site"] != inv.Site {
		t.Errorf("gpu-a02-03: %v, site vars %v", h, ai.All.Vars)
	}
	for group, n := range map[string]int{"rack_a01": 4, "role_gpu": 8, "pool_research": 2} {
		if g := ai.All.Children[group]; g == nil || len(g.Hosts) != n {
			t.Errorf("group %s: %v", group, g)
		}
	}
	var b bytes.Buffer
	if err := ai.WriteYAML(&b, inv.Site); err != nil {
		t.Fatal(err)
	}
	var back Inventory
	if !strings.HasPrefix(b.String(), "# Ansible inventory of site "+inv.Site) || yaml.Unmarshal(b.Bytes(), &back) != nil || len(back.All.Hosts) != 8 {
		t.Errorf("YAML:\n%s", b.String())
	}
}
