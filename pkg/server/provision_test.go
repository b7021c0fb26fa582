package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/templates"
)

// countingPower stands in for the BMCs: it records each power cycle.
type countingPower struct {
	mu     sync.Mutex
	cycles map[string]int
}

func (p *countingPower) PXECycle(_ context.Context, t lifecycle.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cycles[t.Name]++
	return nil
}

// startProvisioning runs serve with the provisioning core on 127.0.0.1 for the lab
// inventory moved onto 127.0.0.0/24 (serve 127.0.0.1, lab-0N at 127.0.0.1N: loopback
// addresses a test can send from without configuring anything); it returns the server,
// its HTTP base URL and the state directory.
func startProvisioning(t *testing.T, power lifecycle.Power) (*Server, string, string) {
	t.Helper()
	dir := copyExample(t, "lab")
	for _, f := range []string{"site.yaml", filepath.Join("racks", "lab.yaml")} {
		p := filepath.Join(dir, f)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), "10.204.0.", "127.0.0.")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A short state path: the control socket's path must fit in sun_path.
	stateDir, err := os.MkdirTemp("", "rl-serve-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	arts := t.TempDir()
	os.MkdirAll(filepath.Join(arts, "lab"), 0o755)
	os.WriteFile(filepath.Join(arts, "lab", "vmlinuz"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(arts, "lab", "initrd.img"), []byte("initrd"), 0o644)
	httpPort, tftpPort := freePort(t, "tcp"), freePort(t, "udp")
	s, err := New(Config{Inventory: dir, Listen: "127.0.0.1", HTTPPort: httpPort, TFTPPort: tftpPort,
		PXEDir: t.TempDir(), Artifacts: arts, Templates: templates.FS, StateDir: stateDir,
		Provision: &Provision{Power: power, AgentListen: "127.0.0.1:0", Tick: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s)
	return s, fmt.Sprintf("http://127.0.0.1:%d", httpPort), stateDir
}

var cmdlineArg = regexp.MustCompile(`racklift\.(token|ca|api)=(\S+)`)

// bootScript fetches the iPXE script for mac as the node's iPXE would, from address
// from, and returns the racklift.* arguments on its kernel line.
func bootScript(t *testing.T, base, mac, from string) (string, map[string]string) {
	t.Helper()
	local := &net.TCPAddr{IP: net.ParseIP(from)}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: local}).DialContext}}
	resp, err := hc.Get(base + "/ipxe/" + mac)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	args := map[string]string{}
	for _, m := range cmdlineArg.FindAllStringSubmatch(string(b), -1) {
		args["racklift."+m[1]] = m[2]
	}
	return string(b), args
}

// agentCall is node-agent's side: TLS pinned to the CA on the command line, bearer token.
func agentCall(t *testing.T, args map[string]string, method, node, what, token, body string) int {
	t.Helper()
	cfg, err := pki.PinnedClientConfig(args[pki.CmdlineCA], "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	req, _ := http.NewRequest(method, args[pki.CmdlineAPI]+"/api/v1/nodes/"+node+"/"+what, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, what, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeHandsAgentCredentials: serve with the provisioning core puts a node's own
// agent token, the CA fingerprint and the agent API on its kernel command line; the
// agent's report with that token is accepted, and the same report with another node's
// token (or a made-up one) is refused and changes nothing.
func TestServeHandsAgentCredentials(t *testing.T) {
	t.Parallel()
	power := &countingPower{cycles: map[string]int{}}
	s, base, stateDir := startProvisioning(t, power)
	c, err := api.Connect(context.Background(), "", stateDir)
	if err != nil {
		t.Fatal(err)
	}
	client := c.(*api.Client)
	defer client.Close()
	if _, err := client.Up(context.Background(), api.UpRequest{Selectors: []string{"lab-01", "lab-02"}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both power cycles", func() bool {
		power.mu.Lock()
		defer power.mu.Unlock()
		return power.cycles["lab-01"] == 1 && power.cycles["lab-02"] == 1
	})

	// Asked for lab-01 from lab-02's address: no credentials.
	if script, a := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.12"); a["racklift.token"] != "" || !strings.Contains(script, "exit") && !strings.Contains(script, "sanboot") {
		t.Fatalf("lab-01's script asked from lab-02's address handed out credentials or no local boot:\n%s", script)
	}
	// lab-03, which no up is provisioning, network-boots its profile without a token.
	if script, a := bootScript(t, base, "52:54:00:04:00:03", "127.0.0.13"); a["racklift.token"] != "" || !strings.Contains(script, "vmlinuz") {
		t.Fatalf("lab-03 (not being provisioned) got a token or no network boot:\n%s", script)
	}
	script1, a1 := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.11")
	_, a2 := bootScript(t, base, "52:54:00:04:00:02", "127.0.0.12")
	for _, a := range []map[string]string{a1, a2} {
		if a["racklift.token"] == "" || a["racklift.api"] == "" {
			t.Fatalf("no agent credentials on the kernel command line:\n%s", script1)
		}
		if want := s.core.PKI.Fingerprint(); a["racklift.ca"] != want {
			t.Fatalf("racklift.ca=%s, want the CA's %s", a["racklift.ca"], want)
		}
	}
	if a1["racklift.token"] == a2["racklift.token"] {
		t.Fatal("two nodes got the same token")
	}
	if !strings.Contains(script1, "console=ttyS0") {
		t.Fatalf("the profile's command line is gone:\n%s", script1)
	}

	report := `{"node":"lab-01","agent":"test","results":[{"name":"storage./scratch.write","status":"pass"}],"failed":false}`
	if code := agentCall(t, a1, "POST", "lab-01", "report", a2["racklift.token"], report); code != http.StatusForbidden {
		t.Errorf("lab-01's report with lab-02's token: %d, want 403", code)
	}
	if code := agentCall(t, a1, "POST", "lab-01", "report", "bm90LWEtdG9rZW4", report); code != http.StatusUnauthorized {
		t.Errorf("lab-01's report with a made-up token: %d, want 401", code)
	}
	n, err := client.Node(context.Background(), "lab-01")
	if err != nil {
		t.Fatal(err)
	}
	if n.Phase == lifecycle.Ready || !n.ReportAt.IsZero() {
		t.Fatalf("a refused report changed lab-01: phase %s, report at %v", n.Phase, n.ReportAt)
	}

	tok := a1["racklift.token"]
	for _, step := range []struct{ method, what, body string }{
		{"POST", "hello", `{"agent":"test","stage":"ramdisk"}`},
		{"GET", "expect", ""},
		{"POST", "report", report},
	} {
		if code := agentCall(t, a1, step.method, "lab-01", step.what, tok, step.body); code != http.StatusOK {
			t.Fatalf("%s with lab-01's own token: %d", step.what, code)
		}
	}
	if n, err = client.Node(context.Background(), "lab-01"); err != nil {
		t.Fatal(err)
	}
	if n.Phase != lifecycle.Ready {
		t.Fatalf("lab-01 after its report: %s (%s), want ready", n.Phase, n.Reason)
	}
}
