package inventory

import (
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCheckInstallTemplates(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"install/ubuntu-autoinstall/cmdline": {Data: []byte("autoinstall")},
		"install/kickstart/cmdline":          {Data: []byte("inst.ks=")},
	}
	if errs := mustLoad(t, examplePath("site")).CheckInstallTemplates(fsys); len(errs) != 0 {
		t.Fatalf("site example: %v", errs)
	}
	body := strings.Replace(single, "boot: {kernel: k2}", "boot: {kernel: k2, install: ubuntu-autoinstal}", 1)
	body = strings.Replace(body, "boot: {cmdline: c2-node}", "boot: {cmdline: c2-node, install: anaconda}", 1)
	path := writeFile(t, t.TempDir(), "site.yaml", body)
	errs := mustLoad(t, path).CheckInstallTemplates(fsys)
	if len(errs) != 2 {
		t.Fatalf("want 2 errors, got %v", errs)
	}
	if e := errs[0]; e.Pos.Line != 18 || !strings.Contains(e.Msg, `install template "ubuntu-autoinstal" does not exist`) || !strings.Contains(e.Hint, `did you mean "ubuntu-autoinstall"`) {
		t.Errorf("profile: %s", e)
	}
	if e := errs[1]; e.Pos.Line != 37 || filepath.Base(e.Pos.File) != "site.yaml" || !strings.Contains(e.Msg, `"anaconda"`) {
		t.Errorf("override: %s", e)
	}
}
