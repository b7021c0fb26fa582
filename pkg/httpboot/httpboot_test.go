package httpboot

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/plan"
	"github.com/racklift/racklift/templates"
)

type fixed struct{ p *plan.Plan }

func (f fixed) Current() *plan.Plan { return f.p }

// examplePlan builds the plan of an example inventory.
func examplePlan(t testing.TB, site string) *plan.Plan {
	t.Helper()
	inv, err := inventory.Load(filepath.Join(testenv.RepoRoot(), "inventory", "examples", site))
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Build(inv, plan.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nodeState is serve's core as the handler sees it.
type nodeState struct {
	mu        sync.Mutex
	installed map[string]bool
	forced    map[string]bool
}

func (s *nodeState) Installed(n string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.installed[n] }
func (s *nodeState) ForcedRun(n string) bool { s.mu.Lock(); defer s.mu.Unlock(); return s.forced[n] }
func (s *nodeState) set(m map[string]bool, n string, v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m[n] = v
}

type fixture struct {
	srv       *httptest.Server
	ev        *events.Stream
	state     *nodeState
	artifacts string
	plan      *plan.Plan
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{ev: events.New(nil, nil), plan: examplePlan(t, "lab")}
	f.state = &nodeState{installed: map[string]bool{}, forced: map[string]bool{}}
	dir := t.TempDir()
	f.artifacts = filepath.Join(dir, "artifacts")
	must(t, os.MkdirAll(filepath.Join(f.artifacts, "lab"), 0o755))
	kernel := bytes.Repeat([]byte("0123456789"), 1000)
	must(t, os.WriteFile(filepath.Join(f.artifacts, "lab", "vmlinuz"), kernel, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "secret"), []byte("outside"), 0o644))
	must(t, os.Symlink("../../secret", filepath.Join(f.artifacts, "lab", "escape")))
	h, err := New(Config{Plans: fixed{f.plan}, Templates: templates.FS, Artifacts: f.artifacts, State: f.state, Events: f.ev})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(func() { f.srv.Close(); h.Close() })
	return f
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestScripts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, body := get(t, f.srv.URL+"/ipxe/52:54:00:04:00:01")
	if code != 200 || !strings.Contains(body, "kernel http://10.204.0.1:8080/artifacts/lab/vmlinuz initrd=initrd.img console=ttyS0,115200n8 panic=10 racklift.mount=/dev/vda:/scratch racklift.server=http://10.204.0.1:8080 racklift.node=lab-01 ||") {
		t.Fatalf("lab-01 script (%d):\n%s", code, body)
	}
	code, body = get(t, f.srv.URL+"/ipxe/52:54:00:99:99:99")
	if code != 200 || !strings.Contains(body, "not in the inventory") || !strings.Contains(body, "sanboot --no-describe --drive 0x80") || strings.Contains(body, "kernel ") {
		t.Fatalf("unknown MAC script (%d):\n%s", code, body)
	}
	// Anyone on the provisioning network can call the plain-HTTP callback: installed
	// there is refused, changes nothing, and the node still network-boots.
	code, body = get(t, f.srv.URL+"/callback/52:54:00:04:00:01?stage=installed")
	if code != 401 || !strings.Contains(body, "refused and changes nothing") {
		t.Fatalf("unauthenticated callback installed: %d %s", code, body)
	}
	code, body = get(t, f.srv.URL+"/ipxe/52:54:00:04:00:01")
	if code != 200 || !strings.Contains(body, "kernel ") {
		t.Fatalf("lab-01 after a refused installed callback (%d): no network boot:\n%s", code, body)
	}
	// Installed in the state store (over the agent API): the local disk.
	f.state.set(f.state.installed, "lab-01", true)
	code, body = get(t, f.srv.URL+"/ipxe/52:54:00:04:00:01")
	if code != 200 || !strings.Contains(body, "lab-01 is installed") || !strings.Contains(body, "exit 1") || strings.Contains(body, "kernel ") {
		t.Fatalf("installed lab-01 script (%d):\n%s", code, body)
	}
	var kinds []string
	for _, e := range f.ev.Recent("lab-01") {
		kinds = append(kinds, string(e.Kind)+":"+e.Detail)
	}
	if strings.Join(kinds, " ") != "http.script:boot http.callback:installed http.script:boot http.script:local" {
		t.Errorf("lab-01 events: %v", kinds)
	}
	if code, _ := get(t, f.srv.URL+"/callback/52:54:00:99:99:99"); code != 404 {
		t.Errorf("callback from unknown MAC: %d, want 404", code)
	}
}

// A protected or maintenance node that network-boots gets the local-disk script and an
// event saying why, while its sibling gets its install; a run started with --force lets
// it through.
func TestLockedNodesBootLocalDisk(t *testing.T) {
	t.Parallel()
	p := examplePlan(t, "site")
	for _, np := range p.Nodes {
		if np.Node == "gpu-a01-02" {
			np.Maintenance = true
		}
	}
	ev := events.New(nil, nil)
	st := &nodeState{installed: map[string]bool{}, forced: map[string]bool{}}
	h, err := New(Config{Plans: fixed{p}, Templates: needAgentUnit(t), State: st, Events: ev})
	must(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	script := func(node string) string {
		t.Helper()
		np := p.Node(node)
		code, body := get(t, srv.URL+"/ipxe/"+np.Reservation.MACString)
		if code != 200 {
			t.Fatalf("%s: %d", node, code)
		}
		return body
	}
	for _, tc := range []struct {
		node, why string
	}{
		{node: "gpu-a01-04", why: "protected (in use)"},
		{node: "gpu-a01-02", why: "in maintenance"},
	} {
		body := script(tc.node)
		if strings.Contains(body, "kernel ") || !strings.Contains(body, "sanboot") || !strings.Contains(body, "protected or in maintenance") {
			t.Errorf("%s: not the local-disk script:\n%s", tc.node, body)
		}
		evs := ev.Recent(tc.node)
		if len(evs) == 0 || evs[len(evs)-1].Detail != "local" || !strings.Contains(evs[len(evs)-1].Err, tc.why) || !strings.Contains(evs[len(evs)-1].Err, "--force") {
			t.Errorf("%s: no event saying why: %+v", tc.node, evs)
		}
	}
	if body := script("gpu-a01-03"); !strings.Contains(body, "kernel ") || !strings.Contains(body, "autoinstall") {
		t.Errorf("sibling gpu-a01-03 did not get its install:\n%s", body)
	}
	st.set(st.forced, "gpu-a01-04", true)
	if body := script("gpu-a01-04"); !strings.Contains(body, "kernel ") {
		t.Errorf("gpu-a01-04 in a forced run: no network boot:\n%s", body)
	}
}

func TestArtifactsRangeAndEscape(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code, body := get(t, f.srv.URL+"/artifacts/lab/vmlinuz", "Range", "bytes=5005-5014")
	if code != http.StatusPartialContent || body != "5678901234" {
		t.Fatalf("range: %d %q", code, body)
	}
	code, body = get(t, f.srv.URL+"/artifacts/lab/vmlinuz")
	if code != 200 || len(body) != 10000 {
		t.Fatalf("full: %d, %d bytes", code, len(body))
	}
	for _, p := range []string{"/artifacts/lab/escape", "/artifacts/lab/nope", "/artifacts/lab", "/artifacts/..%2fsecret"} {
		if code, body := get(t, f.srv.URL+p); code == 200 || strings.Contains(body, "outside") {
			t.Errorf("GET %s: %d %q", p, code, body)
		}
	}
}

// TestInstallFilesPassCloudInitSchema: user-data of every example node, for each
// cloud-init based install template, passes `cloud-init schema`; the autoinstall's
// nested user-data too.
func TestInstallFilesPassCloudInitSchema(t *testing.T) {
	t.Parallel()
	ci := testenv.NeedCommand(t, "cloud-init")[0]
	in := NewInstalls(needAgentUnit(t))
	dir := t.TempDir()
	n := 0
	for _, site := range []string{"lab", "site"} {
		for _, np := range examplePlan(t, site).Nodes {
			for _, tmpl := range []string{"ubuntu-autoinstall", "cloud-init"} {
				c := *np
				c.Boot.Install = tmpl
				ud, err := in.Render(&c, "user-data")
				if err != nil {
					t.Fatal(err)
				}
				// The node's identity comes from enroll (over TLS), never from the
				// plain-HTTP install files; no unauthenticated installed callback.
				if !strings.Contains(string(ud), "node-agent enroll") || strings.Contains(string(ud), "stage=installed") || strings.Contains(string(ud), "--identity-dir /etc/racklift") == false {
					t.Errorf("%s %s: user-data does not enroll the node or calls back installed unauthenticated:\n%s", np.Node, tmpl, ud)
				}
				if _, err := in.Render(&c, "meta-data"); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join(dir, np.Node+"-"+tmpl+".yaml")
				must(t, os.WriteFile(file, ud, 0o644))
				files := []string{file}
				if tmpl == "ubuntu-autoinstall" {
					nested := nestedUserData(t, ud)
					nf := file + ".nested"
					must(t, os.WriteFile(nf, nested, 0o644))
					files = append(files, nf)
				}
				for _, fl := range files {
					out, err := exec(ci, "schema", "--config-file", fl)
					if err != nil {
						b, _ := os.ReadFile(fl)
						t.Errorf("%s %s: cloud-init schema: %v\n%s\n%s", np.Node, tmpl, err, out, b)
					}
					n++
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("checked only %d files", n)
	}
}

func TestKickstartRenders(t *testing.T) {
	t.Parallel()
	in := NewInstalls(needAgentUnit(t))
	np := *examplePlan(t, "site").Nodes[0]
	np.Boot.Install = "kickstart"
	ks, err := in.Render(&np, "ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--ip=10.10.0.11 --netmask=255.255.252.0 --gateway=10.10.0.1 --nameserver=10.10.0.53,10.10.0.54", "/agent/node-agent", "node-agent enroll --root / --installed", "--identity-dir /etc/racklift", "[Service]"} {
		if !strings.Contains(string(ks), want) {
			t.Errorf("ks.cfg lacks %q", want)
		}
	}
	args, err := in.KernelArgs(&np)
	if err != nil || len(args) != 2 || args[0] != "inst.ks=http://10.10.0.2:8080/install/3c:ec:ef:a1:01:10/ks.cfg" {
		t.Errorf("kickstart args %v, %v", args, err)
	}
	if _, err := in.Render(&np, "../ubuntu-autoinstall/user-data"); err == nil {
		t.Error("a file name with a slash was rendered")
	}
}

// TestInstallHandsOverLogin: the inventory's login user and SSH keys reach every install
// template.
func TestInstallHandsOverLogin(t *testing.T) {
	t.Parallel()
	in := NewInstalls(needAgentUnit(t))
	np := *examplePlan(t, "site").Nodes[0]
	if np.Login == nil || np.Login.User != "ops" || len(np.Login.AuthorizedKeys) != 1 {
		t.Fatalf("the site's login is not in the plan: %+v", np.Login)
	}
	key := np.Login.AuthorizedKeys[0]
	type user struct {
		Name string   `yaml:"name"`
		Keys []string `yaml:"ssh_authorized_keys"`
	}
	var ci struct{ Users []user }
	np.Boot.Install = "cloud-init"
	ud, err := in.Render(&np, "user-data")
	must(t, err)
	must(t, yaml.Unmarshal(ud, &ci))
	if len(ci.Users) != 1 || ci.Users[0].Name != "ops" || len(ci.Users[0].Keys) != 1 || ci.Users[0].Keys[0] != key {
		t.Errorf("cloud-init users = %+v, want ops with the site's key", ci.Users)
	}

	np.Boot.Install = "ubuntu-autoinstall"
	ud, err = in.Render(&np, "user-data")
	must(t, err)
	var nested struct{ Users []user }
	must(t, yaml.Unmarshal(nestedUserData(t, ud), &nested))
	if len(nested.Users) != 1 || nested.Users[0].Name != "ops" || len(nested.Users[0].Keys) != 1 || nested.Users[0].Keys[0] != key {
		t.Errorf("autoinstall users = %+v, want ops with the site's key", nested.Users)
	}

	np.Boot.Install = "kickstart"
	ks, err := in.Render(&np, "ks.cfg")
	must(t, err)
	for _, want := range []string{"user --name=ops --groups=wheel --lock\n", "sshkey --username=ops \"" + key + "\"\n"} {
		if !strings.Contains(string(ks), want) {
			t.Errorf("ks.cfg lacks %q:\n%s", want, ks)
		}
	}
}
