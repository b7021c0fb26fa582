package httpboot

import (
	"context"
	osexec "os/exec"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"io/fs"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/templates"
)

// needAgentUnit: the install files embed the agent area's unit; without it they cannot
// be rendered (a failure under make test, a skip in a bare go test).
func needAgentUnit(t *testing.T) fs.FS {
	t.Helper()
	if _, err := fs.Stat(templates.FS, AgentUnitPath); err != nil {
		if testenv.Integration() {
			t.Fatalf("templates/%s is missing: the install files embed it", AgentUnitPath)
		}
		t.Skipf("skipped: templates/%s not written yet (agent area)", AgentUnitPath)
	}
	return templates.FS
}

func exec(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := osexec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// nestedUserData pulls autoinstall.user-data out as its own #cloud-config document.
func nestedUserData(t *testing.T, ud []byte) []byte {
	t.Helper()
	var doc struct {
		Autoinstall struct {
			UserData yaml.Node `yaml:"user-data"`
		} `yaml:"autoinstall"`
	}
	if err := yaml.Unmarshal(ud, &doc); err != nil {
		t.Fatalf("autoinstall user-data is not YAML: %v\n%s", err, ud)
	}
	out, err := yaml.Marshal(&doc.Autoinstall.UserData)
	if err != nil || len(out) < 10 {
		t.Fatalf("no autoinstall.user-data: %v", err)
	}
	return append([]byte("#cloud-config\n"), out...)
}
