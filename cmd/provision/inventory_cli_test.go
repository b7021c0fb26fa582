package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/ansible"
	"github.com/racklift/racklift/pkg/httpboot"
	"github.com/racklift/racklift/pkg/inventory"
)

// repo is a path in the repository: the tests run in this package's directory.
func repo(rel string) string { return filepath.Join(testenv.RepoRoot(), rel) }

// runCLI runs provision in-process on a fresh command tree and returns stdout, stderr
// and exit status.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, &stdout, &stderr)
	return stdout.String(), stderr.String(), code
}

func TestValidateCommand(t *testing.T) {
	t.Parallel()
	out, errOut, code := runCLI(t, "validate", "-i", repo("inventory/examples/site"))
	if code != 0 || out != "ok: 8 nodes in 2 racks, 4 networks\n" {
		t.Errorf("site: code %d out %q err %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "validate", "-i", repo("inventory/testdata/broken"))
	if code != 3 || !strings.Contains(errOut, "inventory/testdata/broken/site.yaml:27:5: unknown field \"vlna\" in network") ||
		!strings.Contains(errOut, "hint: did you mean \"vlan\"?") || !strings.Contains(errOut, "38 error(s)") || out != "" {
		t.Errorf("broken: code %d out %q err %q", code, out, errOut)
	}
	out, _, code = runCLI(t, "validate", "-i", repo("inventory/testdata/broken"), "-o", "json")
	var res inventory.Validation
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 3 || res.OK || len(res.Errors) != 38 {
		t.Fatalf("broken -o json: code %d, %v, %d errors", code, err, len(res.Errors))
	}
	if e := res.Errors[0]; e.Pos.Line == 0 || e.Pos.File == "" || e.Msg == "" || e.Hint == "" {
		t.Errorf("json error lacks position or hint: %+v", e)
	}
	// The plain-text password in the broken site is never echoed.
	for _, args := range [][]string{{"validate", "-i", repo("inventory/testdata/broken")}, {"validate", "-i", repo("inventory/testdata/broken"), "-o", "yaml"}} {
		o, e, _ := runCLI(t, args...)
		if strings.Contains(o+e, "hunter2") || strings.Contains(o+e, "calvin") {
			t.Errorf("%v printed a password", args)
		}
	}
	// The profiles' install templates must exist in the templates used.
	if _, errOut, code := runCLI(t, "validate", "-i", repo("inventory/examples/site"), "--templates", t.TempDir()); code != 3 ||
		!strings.Contains(errOut, `inventory/examples/site/site.yaml:67:16: install template "ubuntu-autoinstall" does not exist`) {
		t.Errorf("--templates without install/: %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, "validate", "-i", "no/such/dir"); code != 1 || !strings.Contains(errOut, "point -i at") {
		t.Errorf("missing inventory: %d %q", code, errOut)
	}
}

func TestPlanCommand(t *testing.T) {
	t.Parallel()
	out, errOut, code := runCLI(t, "plan", "-i", repo("inventory/examples/site"), "-o", "json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	var p struct {
		Nodes []struct {
			Node        string
			Reservation struct{ MAC, IP, Server string }
			Boot        struct {
				ScriptURL string `json:"script_url"`
			}
		}
		Host []struct{ Network string } `json:"host_interfaces"`
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 8 || len(p.Host) != 2 {
		t.Fatalf("%d nodes, %d host interfaces", len(p.Nodes), len(p.Host))
	}
	for _, n := range p.Nodes {
		r := n.Reservation
		if r.MAC == "" || !strings.HasPrefix(r.IP, "10.10.0.") || r.Server != "10.10.0.2" || n.Boot.ScriptURL != "http://10.10.0.2:8080/ipxe/"+r.MAC {
			t.Errorf("%s: %+v %s", n.Node, r, n.Boot.ScriptURL)
		}
	}
	out, _, code = runCLI(t, "plan", "-i", repo("inventory/examples/site"), "rack=a02", "gpu-a01-01", "--http-port", "9000")
	if code != 0 || strings.Count(out, "http://10.10.0.2:9000/ipxe/") != 5 || !strings.Contains(out, "HOST INTERFACE") {
		t.Errorf("table: %s", out)
	}
	out, _, code = runCLI(t, "plan", "-i", repo("inventory/examples/lab"), "lab-01", "-o", "yaml")
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || len(y["nodes"].([]any)) != 1 {
		t.Errorf("yaml: %s", out)
	}
	if _, errOut, code := runCLI(t, "plan", "-i", repo("inventory/examples/site"), "gpu-z*"); code != 2 || !strings.Contains(errOut, "matches no node") {
		t.Errorf("bad selector: %d %s", code, errOut)
	}
}

func TestPlanScript(t *testing.T) {
	t.Parallel()
	out, errOut, code := runCLI(t, "plan", "-i", repo("inventory/examples/site"), "gpu-a01-01", "--script")
	if code != 0 || !strings.HasPrefix(out, "# gpu-a01-01: http://10.10.0.2:8080/ipxe/3c:ec:ef:a1:01:10\n#!ipxe\n") ||
		!strings.Contains(out, "kernel http://10.10.0.2:8080/artifacts/ubuntu-22.04/vmlinuz") ||
		!strings.Contains(out, "ds=nocloud-net;s=http://10.10.0.2:8080/install/3c:ec:ef:a1:01:10/") {
		t.Errorf("script: %d %s %s", code, out, errOut)
	}
	out, _, code = runCLI(t, "plan", "-i", repo("inventory/examples/lab"), "--script", "-o", "json")
	var scripts []httpboot.Script
	if err := json.Unmarshal([]byte(out), &scripts); err != nil || code != 0 || len(scripts) != 3 || !strings.Contains(scripts[2].Script, "racklift.node=lab-03") {
		t.Errorf("json scripts: %v %s", err, out)
	}
}

func TestInventoryListCommand(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, "inventory", "list", "-i", repo("inventory/examples/site"), "pool=research")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[1], "gpu-a01-03") || !strings.Contains(lines[2], "(protected)") ||
		!strings.Contains(lines[1], "redfish 10.10.8.13:443") || !strings.Contains(lines[1], "3c:ec:ef:a1:03:10") {
		t.Errorf("list:\n%s", out)
	}
	out, _, code = runCLI(t, "inventory", "list", "-i", repo("inventory/examples/lab"), "-o", "json")
	var rows []nodeRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 3 {
		t.Fatalf("json: %v %s", err, out)
	}
	if r := rows[2]; r.Name != "lab-03" || r.BMC.Protocol != "ipmi" || r.BMC.Port != 9623 || r.PXE.Address != "10.204.0.13" ||
		!strings.HasSuffix(r.Source, "racks/lab.yaml:19:5") {
		t.Errorf("lab-03: %+v", r)
	}
}

func TestExportAnsibleCommand(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, "export", "ansible", "-i", repo("inventory/examples/site"))
	if code != 0 {
		t.Fatal(out)
	}
	var ai ansible.Inventory
	if err := yaml.Unmarshal([]byte(out), &ai); err != nil {
		t.Fatal(err)
	}
	if len(ai.All.Hosts) != 8 || ai.All.Hosts["gpu-a02-03"]["ansible_host"] != "10.10.0.23" {
		t.Errorf("hosts: %v", ai.All.Hosts["gpu-a02-03"])
	}
	for group, n := range map[string]int{"rack_a01": 4, "rack_a02": 4, "role_gpu": 8, "pool_research": 2, "vendor_dell": 4, "model_sys_821ge_tnhr": 4} {
		if g := ai.All.Children[group]; g == nil || len(g.Hosts) != n {
			t.Errorf("group %s: %v", group, g)
		}
	}
	out, _, _ = runCLI(t, "export", "ansible", "-i", repo("inventory/examples/site"), "rack=a01", "-o", "json")
	var j ansible.Inventory
	if err := json.Unmarshal([]byte(out), &j); err != nil || len(j.All.Hosts) != 4 || j.All.Children["rack_a02"] != nil {
		t.Errorf("json, rack=a01: %v %s", err, out)
	}
}

func TestSchemaCommandMatchesCommittedFile(t *testing.T) {
	t.Parallel()
	out, _, code := runCLI(t, "schema")
	want, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "inventory", "schema.json"))
	if err != nil || code != 0 || out != string(want) {
		t.Fatal("inventory/schema.json differs from 'provision schema': run 'make schema' and commit inventory/schema.json")
	}
}

func TestInventoryCommandsHaveExamples(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"validate"}, {"plan"}, {"inventory", "list"}, {"export", "ansible"}, {"schema"}} {
		out, _, code := runCLI(t, append(args, "--help")...)
		if code != 0 || !strings.Contains(out, "Examples:") {
			t.Errorf("%v --help has no examples", args)
		}
	}
}

func TestValidateCheckSecrets(t *testing.T) {
	// Not parallel: the test decides where passwords come from, in the process's
	// environment (the parallel tests wait until it is done).
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "RACKLIFT_CRED_") || name == "RACKLIFT_SECRETS" {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
	run := func(env []string, args ...string) (string, int) {
		for _, kv := range env {
			name, v, _ := strings.Cut(kv, "=")
			t.Setenv(name, v)
			defer os.Unsetenv(name)
		}
		stdout, stderr, code := runCLI(t, args...)
		return stdout + stderr, code
	}
	none := filepath.Join(t.TempDir(), "absent.yaml")
	out, code := run(nil, "validate", "-i", repo("inventory/examples/lab"), "--check-secrets", "--secrets", none)
	if strings.Contains(out, "ok:") {
		t.Errorf("no password anywhere, yet: %s", out)
	}
	if out2, code2 := run([]string{"RACKLIFT_CRED_LAB_BMC_PASSWORD=from-env-pw"}, "validate", "-i", repo("inventory/examples/lab"), "--check-secrets", "--secrets", none); code2 != 0 || strings.Contains(out2, "from-env-pw") {
		t.Errorf("password from the environment: %d %s", code2, out2)
	}
	if code != 1 || !strings.Contains(out, `credential "lab-bmc" (used by 3 nodes)`) || !strings.Contains(out, "RACKLIFT_CRED_LAB_BMC_PASSWORD") {
		t.Errorf("missing password: %d %s", code, out)
	}
	secrets := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(secrets, []byte("lab-bmc: {password: s3cr3t-value}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"table", "json"} {
		out, code = run(nil, "validate", "-i", repo("inventory/examples/lab"), "--check-secrets", "--secrets", secrets, "-o", o)
		if code != 0 || strings.Contains(out, "s3cr3t-value") || (o == "json" && !strings.Contains(out, `"name": "lab-bmc"`)) {
			t.Errorf("-o %s with secrets file: %d %s", o, code, out)
		}
	}
	if err := os.Chmod(secrets, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = run(nil, "validate", "-i", repo("inventory/examples/lab"), "--check-secrets", "--secrets", secrets)
	if code != 1 || !strings.Contains(out, "chmod 600") || strings.Contains(out, "s3cr3t-value") {
		t.Errorf("0644 secrets file: %d %s", code, out)
	}
}
