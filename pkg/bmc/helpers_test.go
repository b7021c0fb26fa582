package bmc_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/bmc"
)

const (
	labUser     = "admin"
	labPassword = "Tr0ub4dor-&3-lab" // the tests grep every output for it
	credEnv     = "RACKLIFT_CRED_LAB_BMC_PASSWORD"
)

// startFleet starts n virtual Redfish BMCs and writes an inventory for them whose
// nodes pin each BMC's certificate; edit changes the site before it is written.
func startFleet(t *testing.T, n int, edit func(*lab.Site, *lab.Fleet)) (*lab.Fleet, string) {
	t.Helper()
	f, err := lab.StartFleet(n, func(int) lab.Config {
		return lab.Config{Username: labUser, Password: labPassword}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	site := lab.Site{Name: "lab", Nodes: lab.NodesFor("node", f.BMCs)}
	for i, b := range f.BMCs {
		site.Nodes[i].TLS = "fingerprint:" + b.Fingerprint()
	}
	if edit != nil {
		edit(&site, f)
	}
	dir := t.TempDir()
	if err := site.Write(dir); err != nil {
		t.Fatal(err)
	}
	return f, dir
}

// TestMain removes the provision binary built for this run, if one was.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// provisionBin is bin/provision of `make build` under make test, else a fresh build.
func provisionBin(t *testing.T) string {
	t.Helper()
	if os.Getenv("RACKLIFT_BIN") != "" {
		p := filepath.Join(testenv.Bin(t), "provision")
		testenv.NeedFile(t, p)
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "racklift-bmc-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "provision")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/provision")
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building provision: %v", buildErr)
	}
	return buildBin
}

type run struct {
	stdout, stderr string
	code           int
}

// all is everything the command printed, for greps.
func (r run) all() string { return r.stdout + r.stderr }

// hangGuard bounds waits that end as soon as what they wait for happens, and deadlines
// that are not what a test is about: it only turns a hang into a failure, so it is far
// above what a loaded machine needs.
const hangGuard = 3 * time.Minute

// provision runs the CLI against inventory dir with the lab password in the
// environment (unless env overrides it).
func provision(t *testing.T, dir string, env []string, args ...string) run {
	t.Helper()
	r, err := runProvision(provisionBin(t), dir, env, args...)
	if err != nil {
		t.Fatalf("provision %v: %v", args, err)
	}
	return r
}

// runProvision is provision for a goroutine other than the test's: it reports instead
// of failing the test. err is nil when the command ran, whatever its exit code.
func runProvision(bin, dir string, env []string, args ...string) (run, error) {
	cmd := exec.Command(bin, append([]string{"-i", dir}, args...)...)
	cmd.Env = append(os.Environ(), credEnv+"="+labPassword, "RACKLIFT_SECRETS=/nonexistent")
	for _, e := range env {
		if name, ok := strings.CutPrefix(e, "-"); ok { // "-NAME" unsets NAME
			cmd.Env = slices.DeleteFunc(cmd.Env, func(v string) bool { return strings.HasPrefix(v, name+"=") })
			continue
		}
		cmd.Env = append(cmd.Env, e)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	r := run{stdout: o.String(), stderr: e.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		return r, err
	}
	return r, nil
}

type report struct {
	Action  string       `json:"action"`
	Failed  int          `json:"failed"`
	Results []bmc.Result `json:"results"`
}

// provisionJSON runs the CLI with -o json and decodes its report.
func provisionJSON(t *testing.T, dir string, env []string, args ...string) (report, run) {
	t.Helper()
	r := provision(t, dir, env, append(args, "-o", "json")...)
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("provision %v: output is not JSON (%v): %s\nstderr: %s", args, err, r.stdout, r.stderr)
	}
	return rep, r
}

func mustOK(t *testing.T, rep report, r run) {
	t.Helper()
	if r.code != 0 || rep.Failed != 0 {
		t.Fatalf("%s: exit %d, %d failed:\n%s\n%s", rep.Action, r.code, rep.Failed, r.stdout, r.stderr)
	}
}

func noPassword(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, labPassword) {
		t.Fatalf("%s shows the BMC password:\n%s", what, s)
	}
}
