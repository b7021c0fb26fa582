package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/racklift/racklift/internal/testenv"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	root := testenv.RepoRoot()
	installs := fstest.MapFS{"install/ubuntu-autoinstall/user-data": {Data: []byte("x")}}
	v, err := Validate(filepath.Join(root, "inventory", "examples", "site"), installs, nil)
	if err != nil || !v.OK || v.Nodes != 8 || v.Racks != 2 || v.Networks != 4 || len(v.Errors) != 0 || v.Credentials != nil {
		t.Fatalf("site: %+v, %v", v, err)
	}
	v, err = Validate(filepath.Join(root, "inventory", "examples", "site"), fstest.MapFS{}, nil)
	if err != nil || v.OK || len(v.Errors) == 0 || !strings.Contains(v.Errors[0].Error(), `install template "ubuntu-autoinstall" does not exist`) {
		t.Errorf("no install templates: %+v, %v", v, err)
	}
	v, err = Validate(filepath.Join(root, "inventory", "testdata", "broken"), installs, nil)
	if err != nil || v.OK || len(v.Errors) != 38 || v.Nodes != 0 {
		t.Errorf("broken: ok %v, %d errors, %v", v.OK, len(v.Errors), err)
	}
	if _, err := Validate(filepath.Join(t.TempDir(), "none"), installs, nil); err == nil || !strings.Contains(err.Error(), "point -i at") {
		t.Errorf("missing inventory: %v", err)
	}
}

func TestCheckCredentials(t *testing.T) {
	t.Parallel()
	inv, err := Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := os.LookupEnv(EnvName("lab-bmc", "password")); ok {
		t.Skip("the environment sets the lab password")
	}
	none := CheckCredentials(inv, &Secrets{File: filepath.Join(t.TempDir(), "absent.yaml")})
	if len(none) != 1 || none[0].Name != "lab-bmc" || none[0].Nodes != 3 || none[0].OK || !strings.Contains(none[0].Error, "RACKLIFT_CRED_LAB_BMC_PASSWORD") {
		t.Errorf("no password: %+v", none)
	}
	file := filepath.Join(t.TempDir(), "secrets.yaml")
	os.WriteFile(file, []byte("lab-bmc: {password: s3cr3t-value}\n"), 0o600)
	got := CheckCredentials(inv, &Secrets{File: file})
	if len(got) != 1 || !got[0].OK || strings.Contains(got[0].Error, "s3cr3t-value") {
		t.Errorf("password in the secrets file: %+v", got)
	}
}
