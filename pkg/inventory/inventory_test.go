package inventory

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func examplePath(name string) string {
	return filepath.Join("..", "..", "inventory", "examples", name)
}

func mustLoad(t *testing.T, path string) *Inventory {
	t.Helper()
	inv, err := Load(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return inv
}

// writeFile writes a test inventory file and returns its path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func loadErrors(t *testing.T, path string) Errors {
	t.Helper()
	inv, err := Load(path)
	var errs Errors
	if inv != nil || !errors.As(err, &errs) {
		t.Fatalf("load %s: want located errors, got inventory=%v err=%v", path, inv != nil, err)
	}
	return errs
}

func TestExamplesAreClean(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                   string
		nodes, racks, networks int
	}{
		{"site", 8, 2, 4},
		{"lab", 3, 1, 2},
	} {
		inv := mustLoad(t, examplePath(tc.name))
		if len(inv.Nodes) != tc.nodes || len(inv.Racks) != tc.racks || len(inv.Networks) != tc.networks {
			t.Errorf("%s: %d nodes, %d racks, %d networks", tc.name, len(inv.Nodes), len(inv.Racks), len(inv.Networks))
		}
		for _, n := range inv.Nodes {
			if n.Spec == nil || n.PXEInterface() == nil {
				t.Errorf("%s: node %s has no spec or PXE interface", tc.name, n.Name)
			}
		}
	}
}

const single = `site: one
defaults:
  role: gpu
  profile: base
  labels: {cluster: train, tier: a}
  protected: true
  bmc: {protocol: ipmi, credentials: site-cred, vendor: supermicro}
credentials:
  - {name: site-cred, username: ADMIN}
  - {name: rack-cred, username: root}
networks:
  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}
profiles:
  - name: base
    boot: {kernel: k1, initrd: i1, cmdline: c1}
    expect: {gpu: {model: H100, count: 8, min_driver: "550.54.15"}}
  - name: other
    boot: {kernel: k2}
racks:
  - rack: r1
    defaults:
      role: storage
      labels: {tier: b, row: "1"}
      bmc: {credentials: rack-cred, port: 6230}
    nodes:
      - name: n1
        unit: 1
        bmc: {address: 10.9.0.1}
        interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}]
      - name: n2
        unit: 2
        role: login
        profile: other
        labels: {tier: c}
        bmc: {address: 10.9.0.2, protocol: redfish, port: 8443, credentials: site-cred}
        overrides:
          boot: {cmdline: c2-node}
          expect: {gpu: {count: 4}}
        interfaces: [{name: e0, mac: "02:00:00:00:00:02", network: prov, address: 10.1.0.12, pxe: true}]
  - rack: r2
    nodes:
      - name: n3
        unit: 1
        bmc: {address: 10.9.0.3}
        overrides:
          expect: {gpu: {count: 4}}
        interfaces: [{name: e0, mac: "02:00:00:00:00:03", network: prov, address: 10.1.0.13, pxe: true}]
`

func TestDefaultsInheritance(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "site.yaml", single)
	inv := mustLoad(t, path)
	n1, n2, n3 := inv.Node("n1"), inv.Node("n2"), inv.Node("n3")

	// n1: rack defaults over site defaults.
	if n1.Role != "storage" || n1.Profile != "base" || !n1.Protected {
		t.Errorf("n1 role/profile/protected = %s/%s/%v", n1.Role, n1.Profile, n1.Protected)
	}
	if want := (BMC{Address: "10.9.0.1", Protocol: "ipmi", Port: 6230, Credentials: "rack-cred", Vendor: "supermicro"}); n1.BMC != want {
		t.Errorf("n1 BMC = %+v, want %+v", n1.BMC, want)
	}
	if got := fmt.Sprint(n1.Labels); got != "map[cluster:train row:1 tier:b]" {
		t.Errorf("n1 labels = %s", got)
	}
	// n2: its own values over both.
	if n2.Role != "login" || n2.Profile != "other" || n2.Labels["tier"] != "c" || n2.Labels["row"] != "1" {
		t.Errorf("n2 = %s %s %v", n2.Role, n2.Profile, n2.Labels)
	}
	if n2.BMC.Protocol != "redfish" || n2.BMC.Port != 8443 || n2.BMC.Credentials != "site-cred" {
		t.Errorf("n2 BMC = %+v", n2.BMC)
	}
	if n2.Spec.Boot.Kernel != "k2" || n2.Spec.Boot.Cmdline != "c2-node" || n2.Spec.Expect.GPU == nil || n2.Spec.Expect.GPU.Count != 4 {
		t.Errorf("n2 spec = %+v gpu %+v", n2.Spec.Boot, n2.Spec.Expect.GPU)
	}
	// n3: site defaults only; the default port follows the protocol; overrides merge.
	if n3.Role != "gpu" || n3.BMC.Port != 623 || n3.BMC.Credentials != "site-cred" || n3.Labels["tier"] != "a" {
		t.Errorf("n3 = %s %+v %v", n3.Role, n3.BMC, n3.Labels)
	}
	g := n3.Spec.Expect.GPU
	if g.Count != 4 || g.Model != "H100" || g.MinDriver != "550.54.15" || n3.Spec.Boot.Cmdline != "c1" {
		t.Errorf("n3 gpu = %+v boot %+v", g, n3.Spec.Boot)
	}
	// Overrides must not leak into the shared profile.
	if p := inv.ProfileNamed("base"); p.Expect.GPU.Count != 8 {
		t.Errorf("profile base changed by an override: count %d", p.Expect.GPU.Count)
	}
	if n1.Height != 1 || inv.Racks[0].Units != DefaultRackUnits || inv.Network("prov").MTU != DefaultMTU {
		t.Error("built-in defaults not applied")
	}
}

func TestSingleFileErrorsAreInThatFile(t *testing.T) {
	t.Parallel()
	body := strings.Replace(single, "unit: 2\n", "unit: 2\n        vlna: 3\n", 1)
	path := writeFile(t, t.TempDir(), "one.yaml", body)
	errs := loadErrors(t, path)
	if len(errs) != 1 || errs[0].Pos.File != path || errs[0].Pos.Line != 32 || !strings.Contains(errs[0].Msg, `unknown field "vlna"`) {
		t.Fatalf("got %v", errs)
	}
}

// The expect block's types live in pkg/expect (the wire types); a typo in them is still
// located and named as the inventory names them.
func TestExpectTypoIsLocated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, from, to string
		line, col      int
		msg            string
	}{
		{name: "gpu", from: "count: 8, min_driver", to: "cont: 8, min_driver", line: 16, col: 33, msg: `unknown field "cont" in gpuexpect`},
		{name: "storage", from: `expect: {gpu: {model: H100`, to: `expect: {storage: [{mount: /d, nconect: 4}], gpu: {model: H100`, line: 16, col: 36, msg: `unknown field "nconect" in storageexpect`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "one.yaml", strings.Replace(single, tc.from, tc.to, 1))
			errs := loadErrors(t, path)
			if len(errs) != 1 || errs[0].Pos.Line != tc.line || errs[0].Pos.Col != tc.col || errs[0].Msg != tc.msg {
				t.Fatalf("got %v", errs)
			}
		})
	}
}

func TestSiteDirectoryWithYmlAndEmptyRacks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	head, _, _ := strings.Cut(single, "racks:\n")
	writeFile(t, dir, "site.yaml", head)
	writeFile(t, dir, "racks/b.yml", `rack: b
nodes:
  - {name: b1, bmc: {address: 10.9.1.1}, interfaces: [{name: e0, mac: "02:00:00:00:01:01", network: prov, address: 10.1.0.21, pxe: true}]}
`)
	writeFile(t, dir, "racks/a.yaml", "rack: a\nnodes: []\n")
	writeFile(t, dir, "racks/README.md", "not a rack")
	inv := mustLoad(t, dir)
	if len(inv.Racks) != 2 || inv.Racks[0].Name != "a" || len(inv.Nodes) != 1 || inv.Nodes[0].Rack != "b" {
		t.Fatalf("racks %d nodes %d", len(inv.Racks), len(inv.Nodes))
	}
	if !strings.HasSuffix(inv.Racks[1].File, "b.yml") {
		t.Errorf("rack file %s", inv.Racks[1].File)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "point -i at") {
		t.Errorf("missing path: %v", err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "no site.yaml") {
		t.Errorf("directory without site.yaml: %v", err)
	}
	p := writeFile(t, dir, "bad.yaml", "site: x\nnetworks:\n  - name: a\n   cidr: 10.0.0.0/8\n")
	errs := loadErrors(t, p)
	// yaml.v3 names the line where the broken block starts; nothing else is reported,
	// since a file that does not parse has no meaning to check.
	if len(errs) != 1 || errs[0].Pos.File != p || errs[0].Pos.Line != 2 || !strings.Contains(errs[0].Msg, "YAML syntax error") {
		t.Errorf("syntax error: %v", errs)
	}
	// A rack file that does not parse does not hide the other racks' defects.
	site := t.TempDir()
	head, _, _ := strings.Cut(single, "racks:\n")
	writeFile(t, site, "site.yaml", head)
	writeFile(t, site, "racks/a.yaml", "rack: a\nnodes:\n  - name: \"unclosed\n")
	writeFile(t, site, "racks/b.yaml", "rack: b\nnodes:\n  - {name: b1, unti: 3, bmc: {address: 10.9.0.1}, interfaces: [{name: e0, mac: \"02:00:00:00:00:01\", network: prov, address: 10.1.0.11, pxe: true}]}\n")
	writeFile(t, site, "racks/c.yaml", "# only a comment\n")
	errs = loadErrors(t, site)
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%s:%d %s", filepath.Base(e.Pos.File), e.Pos.Line, e.Msg))
	}
	if len(errs) != 3 || !strings.HasPrefix(got[0], "a.yaml:3 YAML syntax error") ||
		!strings.HasPrefix(got[1], `b.yaml:3 unknown field "unti"`) || got[2] != "c.yaml:1 file is empty" {
		t.Errorf("site with a broken rack file:\n%s", strings.Join(got, "\n"))
	}
	p = writeFile(t, dir, "types.yaml", "site: x\nnetworks:\n  - {name: a, cidr: 10.0.0.0/8, role: compute, mtu: big}\n")
	errs = loadErrors(t, p)
	if len(errs) != 1 || errs[0].Pos.String() != p+":3:53" || !strings.Contains(errs[0].Msg, `"big" is not a whole number`) {
		t.Errorf("type error: %v", errs)
	}
}

func TestPlainSecretHintNamesTheVariable(t *testing.T) {
	t.Parallel()
	body := strings.Replace(single, "{name: rack-cred, username: root}", "{name: rack-cred, username: root, password: s3cr3t}", 1)
	path := writeFile(t, t.TempDir(), "site.yaml", body)
	errs := loadErrors(t, path)
	if len(errs) != 1 || !strings.Contains(errs[0].Msg, `plain-text secret "password"`) ||
		!strings.Contains(errs[0].Hint, "RACKLIFT_CRED_RACK_CRED_PASSWORD") || strings.Contains(errs.Error(), "s3cr3t") {
		t.Fatalf("got %v", errs)
	}
	if !strings.Contains(errs[0].Hint, "0600") {
		t.Errorf("hint should name the 0600 secrets file: %s", errs[0].Hint)
	}
}

func TestUnknownFieldSuggests(t *testing.T) {
	t.Parallel()
	errs := loadErrors(t, filepath.Join("..", "..", "inventory", "testdata", "broken"))
	for _, e := range errs {
		if strings.Contains(e.Msg, `"vlna"`) {
			if e.Hint != `did you mean "vlan"?` {
				t.Errorf("hint %q", e.Hint)
			}
			return
		}
	}
	t.Error("no error for vlna")
}

func TestNodeByMAC(t *testing.T) {
	t.Parallel()
	inv := mustLoad(t, examplePath("site"))
	for _, tc := range []struct{ mac, node, ifc string }{
		{"3c:ec:ef:a1:02:10", "gpu-a01-02", "eno1"},
		{"94-6D-AE-A2-04-21", "gpu-a02-04", "ens1f1np1"}, // any spelling of the same MAC
		{"02:00:00:00:00:99", "", ""},
	} {
		mac, _ := net.ParseMAC(tc.mac)
		n, ifc := inv.NodeByMAC(mac)
		if tc.node == "" {
			if n != nil {
				t.Errorf("%s: got %s", tc.mac, n.Name)
			}
			continue
		}
		if n == nil || n.Name != tc.node || ifc.Name != tc.ifc {
			t.Errorf("%s: got %v %v", tc.mac, n, ifc)
		}
	}
}

func TestSelectors(t *testing.T) {
	t.Parallel()
	inv := mustLoad(t, examplePath("site"))
	names := func(ns []*Node) string {
		var s []string
		for _, n := range ns {
			s = append(s, n.Name)
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		sel  []string
		want string
	}{
		{[]string{"all"}, "gpu-a01-01 gpu-a01-02 gpu-a01-03 gpu-a01-04 gpu-a02-01 gpu-a02-02 gpu-a02-03 gpu-a02-04"},
		{[]string{"gpu-a02-03"}, "gpu-a02-03"},
		{[]string{"gpu-a01-*"}, "gpu-a01-01 gpu-a01-02 gpu-a01-03 gpu-a01-04"},
		{[]string{"gpu-a0?-0[12]"}, "gpu-a01-01 gpu-a01-02 gpu-a02-01 gpu-a02-02"},
		{[]string{"rack=a02"}, "gpu-a02-01 gpu-a02-02 gpu-a02-03 gpu-a02-04"},
		{[]string{"rack=a*,pool=research"}, "gpu-a01-03 gpu-a01-04"},
		{[]string{"role=gpu,vendor=dell,name=gpu-a02-0[34]"}, "gpu-a02-03 gpu-a02-04"},
		{[]string{"pool=research"}, "gpu-a01-03 gpu-a01-04"},
		{[]string{"vendor=supermicro,pool!=research"}, "gpu-a01-01 gpu-a01-02"},
		{[]string{"profile=h100-ubuntu,rack=a01,cluster=train"}, "gpu-a01-01 gpu-a01-02 gpu-a01-03 gpu-a01-04"},
		// Several arguments are a union, in inventory order, each node once.
		{[]string{"gpu-a02-01", "gpu-a01-04", "rack=a02"}, "gpu-a01-04 gpu-a02-01 gpu-a02-02 gpu-a02-03 gpu-a02-04"},
	} {
		got, err := inv.SelectAny(tc.sel)
		if err != nil {
			t.Errorf("%v: %v", tc.sel, err)
			continue
		}
		if names(got) != tc.want {
			t.Errorf("%v: got %s, want %s", tc.sel, names(got), tc.want)
		}
	}
	for _, tc := range []struct{ sel, err string }{
		{"gpu-a09-01", `no node named "gpu-a09-01"`},
		{"rack=zz", "matches no node"},
		{"gpu-[", "bad glob"},
		{"rack=a01,,role=gpu", "empty selector term"},
	} {
		if _, err := inv.SelectAny([]string{tc.sel}); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: got %v, want %q", tc.sel, err, tc.err)
		}
	}
	if _, err := inv.SelectAny(nil); err == nil {
		t.Error("no selector must be an error")
	}
}

func TestSecrets(t *testing.T) {
	// Not parallel: it sets environment variables.
	inv := mustLoad(t, examplePath("site"))
	dir := t.TempDir()
	file := filepath.Join(dir, "secrets.yaml")
	if err := os.WriteFile(file, []byte("idrac: {password: from-file}\nbmc-supermicro: {username: OPS, password: sm-file}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Setenv("RACKLIFT_CRED_IDRAC_PASSWORD", "from-env")
	s := &Secrets{File: file}
	sec, err := s.Resolve(inv, "idrac")
	if err != nil || sec.Username != "root" || sec.Password != "from-env" {
		t.Fatalf("env: %+v %v", sec.Username, err)
	}
	sec, err = s.Resolve(inv, "bmc-supermicro")
	if err != nil || sec.Username != "OPS" || sec.Password != "sm-file" {
		t.Fatalf("file: %s %v", sec.Username, err)
	}
	if _, err := s.Resolve(inv, "nope"); err == nil || !strings.Contains(err.Error(), "not declared") {
		t.Errorf("undeclared: %v", err)
	}

	// A secrets file others can read is refused, and its contents are never echoed.
	loose := filepath.Join(dir, "loose.yaml")
	if err := os.WriteFile(loose, []byte("bmc-supermicro: {password: sm-file}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ls := &Secrets{File: loose}
	_, err = ls.Resolve(inv, "bmc-supermicro")
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "sm-file") {
		t.Errorf("0644 file: %v", err)
	}
	// The same resolver (serve's) says so again rather than "no password", and takes the
	// file once its mode is fixed, without a restart.
	if _, err = ls.Resolve(inv, "bmc-supermicro"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 file, asked again: %v", err)
	}
	if err := os.Chmod(loose, 0o600); err != nil {
		t.Fatal(err)
	}
	if sec, err := ls.Resolve(inv, "bmc-supermicro"); err != nil || sec.Password != "sm-file" {
		t.Errorf("after chmod 600: %v", err)
	}
	garbled := filepath.Join(dir, "garbled.yaml")
	if err := os.WriteFile(garbled, []byte("bmc-supermicro: [password: p4ss\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = (&Secrets{File: garbled}).Resolve(inv, "bmc-supermicro")
	if err == nil || strings.Contains(err.Error(), "p4ss") {
		t.Errorf("garbled file: %v", err)
	}
	// No password anywhere: the error says where to put one.
	_, err = (&Secrets{File: filepath.Join(dir, "absent.yaml")}).Resolve(inv, "bmc-supermicro")
	if err == nil || !strings.Contains(err.Error(), "RACKLIFT_CRED_BMC_SUPERMICRO_PASSWORD") {
		t.Errorf("absent: %v", err)
	}
	// A resolver that has read the file prints without the passwords in it.
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, s) + fmt.Sprintf(f, *s) + fmt.Sprintf(f, struct{ R *Secrets }{s}); strings.Contains(out, "sm-file") || strings.Contains(out, "from-file") {
			t.Errorf("%s of a Secrets leaks: %s", f, out)
		}
	}
	// The environment names the file when -secrets is not given.
	t.Setenv(SecretsFileEnv, file)
	if sec, err := (&Secrets{}).Resolve(inv, "bmc-supermicro"); err != nil || sec.Password != "sm-file" {
		t.Errorf("RACKLIFT_SECRETS: %v", err)
	}
}

func TestSecretIsRedacted(t *testing.T) {
	t.Parallel()
	sec := Secret{Username: "root", Password: "calvin"}
	wrapped := struct {
		Node   string
		Secret Secret
		Ptr    *Secret
	}{"n1", sec, &sec}
	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		outs = append(outs, fmt.Sprintf(f, sec), fmt.Sprintf(f, &sec), fmt.Sprintf(f, wrapped))
	}
	j, _ := json.Marshal(wrapped)
	y, _ := yaml.Marshal(wrapped)
	outs = append(outs, string(j), string(y), fmt.Sprint(fmt.Errorf("login %v failed", sec)))
	for _, o := range outs {
		if strings.Contains(o, "calvin") {
			t.Errorf("password leaked: %s", o)
		}
	}
	if !slices.ContainsFunc(outs, func(s string) bool { return strings.Contains(s, "root:<redacted>") }) {
		t.Errorf("username should still show: %v", outs)
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"bmc-default": "RACKLIFT_CRED_BMC_DEFAULT_PASSWORD",
		"idrac":       "RACKLIFT_CRED_IDRAC_PASSWORD",
		"lab.bmc 2":   "RACKLIFT_CRED_LAB_BMC_2_PASSWORD",
	} {
		if got := EnvName(in, "password"); got != want {
			t.Errorf("EnvName(%q) = %s, want %s", in, got, want)
		}
	}
}
