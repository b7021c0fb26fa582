package archtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/testenv"
)

const module = "github.com/racklift/racklift"

// rules are the import rules of the layout: no package reachable from roots may be one
// of forbidden (or below it).
var rules = []struct {
	name      string
	roots     []string
	forbidden []string
}{
	{
		name:      "the operator CLI links no cgo GPU library",
		roots:     []string{"./cmd/provision"},
		forbidden: []string{"github.com/NVIDIA/go-nvml"},
	},
	{
		name:      "the agent links none of the server's store, inventory or plan",
		roots:     []string{"./pkg/agent/..."},
		forbidden: []string{"go.etcd.io/bbolt", module + "/pkg/inventory", module + "/pkg/plan", module + "/pkg/state"},
	},
	{
		name:      "the shared vocabulary is a leaf",
		roots:     []string{"./pkg/check", "./pkg/expect"},
		forbidden: []string{module},
	},
	{
		name:      "netsetup and the API take the shared types, not the agent's",
		roots:     []string{"./pkg/netsetup", "./pkg/api"},
		forbidden: []string{module + "/pkg/agent"},
	},
	{
		name:      "the HTTP API, wire types and client carry no provisioning core",
		roots:     []string{"./pkg/api"},
		forbidden: []string{module + "/pkg/provisioner", module + "/pkg/bmc", module + "/pkg/plan", module + "/pkg/server"},
	},
	{
		name:      "the BMC library asks the lock policy without the state store",
		roots:     []string{"./pkg/bmc"},
		forbidden: []string{"go.etcd.io/bbolt", module + "/pkg/state", module + "/pkg/lifecycle"},
	},
	{
		name:      "the lock policy is a leaf",
		roots:     []string{"./pkg/nodelock"},
		forbidden: []string{module},
	},
	{
		name:      "pki stays crypto only",
		roots:     []string{"./pkg/pki"},
		forbidden: []string{"go.etcd.io/bbolt", module + "/pkg/state"},
	},
}

func TestImportRules(t *testing.T) {
	t.Parallel()
	goBin := goCommand(t)
	for _, r := range rules {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			roots := strings.Fields(run(t, goBin, nil, append([]string{"list", "-f", "{{.ImportPath}}"}, r.roots...)...))
			graph := map[string][]string{}
			out := run(t, goBin, nil, append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, r.roots...)...)
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				graph[f[0]] = f[1:]
			}
			isRoot := map[string]bool{}
			for _, p := range roots {
				isRoot[p] = true
			}
			// One error per forbidden package, with its shortest chain.
			for _, bad := range r.forbidden {
				var worst []string
				n := 0
				for p := range graph {
					if isRoot[p] || p != bad && !strings.HasPrefix(p, bad+"/") {
						continue
					}
					n++
					if c := chain(graph, roots, p); worst == nil || len(c) < len(worst) || len(c) == len(worst) && p < worst[len(worst)-1] {
						worst = c
					}
				}
				if n > 0 {
					t.Errorf("%s, but %s is linked (%d package(s) under it): %s", r.name, bad, n, strings.Join(worst, " -> "))
				}
			}
		})
	}
}

// chain is a shortest import path from one of roots to p.
func chain(graph map[string][]string, roots []string, p string) []string {
	prev := map[string]string{}
	seen := map[string]bool{}
	queue := append([]string(nil), roots...)
	for _, r := range roots {
		seen[r] = true
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		if cur == p {
			var out []string
			for at := p; ; at = prev[at] {
				out = append([]string{at}, out...)
				if _, ok := prev[at]; !ok {
					return out
				}
			}
		}
		for _, next := range graph[cur] {
			if !seen[next] {
				seen[next], prev[next] = true, cur
				queue = append(queue, next)
			}
		}
	}
	return []string{"(no path from the roots)", p}
}

// TestProvisionCrossBuilds builds the operator CLI as ops engineers run it: a static
// Linux binary (no cgo) and a macOS one.
func TestProvisionCrossBuilds(t *testing.T) {
	goBin := goCommand(t)
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{name: "linux without cgo", env: []string{"CGO_ENABLED=0"}},
		{name: "darwin arm64 without cgo", env: []string{"CGO_ENABLED=0", "GOOS=darwin", "GOARCH=arm64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "provision")
			run(t, goBin, tc.env, "build", "-o", out, "./cmd/provision")
			if fi, err := os.Stat(out); err != nil || fi.Size() == 0 {
				t.Fatalf("%s: no binary: %v", strings.Join(tc.env, " "), err)
			}
		})
	}
}

func goCommand(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or in GOROOT: %v", err)
	}
	return p
}

// run runs the go command in the repository root with env added, failing the test with
// its output when it fails.
func run(t *testing.T, goBin string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(goBin, args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s go %s: %v\n%s", strings.Join(env, " "), strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
