package httpboot

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/templates"
)

func TestScriptsAsPlanShowsThem(t *testing.T) {
	t.Parallel()
	inv, err := inventory.Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "site"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(inv, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.Nodes = p.Nodes[:2]
	ss, err := Scripts(templates.FS, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Node != "gpu-a01-01" || ss[0].ScriptURL != "http://10.10.0.2:8080/ipxe/3c:ec:ef:a1:01:10" ||
		!strings.HasPrefix(ss[0].Script, "#!ipxe\n") || !strings.Contains(ss[0].Script, "ds=nocloud-net;s=http://10.10.0.2:8080/install/3c:ec:ef:a1:01:10/") {
		t.Fatalf("scripts: %+v", ss)
	}
	var b bytes.Buffer
	WriteScripts(&b, ss)
	if !strings.HasPrefix(b.String(), "# gpu-a01-01: http://10.10.0.2:8080/ipxe/3c:ec:ef:a1:01:10\n#!ipxe\n") || strings.Count(b.String(), "\n# gpu-a01-02: ") != 1 {
		t.Errorf("written:\n%s", b.String())
	}
	// Templates without install/ cannot give the profiles' kernel arguments.
	boot, _ := templates.FS.ReadFile("ipxe/boot.ipxe")
	local, _ := templates.FS.ReadFile("ipxe/local.ipxe")
	noInstall := fstest.MapFS{"ipxe/boot.ipxe": {Data: boot}, "ipxe/local.ipxe": {Data: local}}
	if _, err := Scripts(noInstall, p); err == nil || !strings.Contains(err.Error(), "ubuntu-autoinstall") {
		t.Errorf("no install templates: %v, want an error naming the profile's", err)
	}
}
