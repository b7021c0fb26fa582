package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/agent/report"
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
func startProvisioning(t *testing.T, power lifecycle.Power) (*Server, string, string, *testenv.SyncBuffer) {
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
	logs := &testenv.SyncBuffer{}
	s, err := New(Config{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Inventory: dir, Listen: "127.0.0.1", HTTPPort: httpPort, TFTPPort: tftpPort,
		PXEDir: t.TempDir(), Artifacts: arts, Templates: templates.FS, StateDir: stateDir,
		Provision: &Provision{Power: power, AgentListen: "127.0.0.1:0", Tick: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s)
	return s, fmt.Sprintf("http://127.0.0.1:%d", httpPort), stateDir, logs
}

var cmdlineArg = regexp.MustCompile(`racklift\.(bootstrap|ca|api)=(\S+)`)

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

// agentFrom is node-agent's client (pinned to the CA on the command line) on a
// connection from address from.
func agentFrom(t *testing.T, args map[string]string, from string) *report.Client {
	t.Helper()
	c, err := report.NewClient(args[pki.CmdlineAPI], args[pki.CmdlineCA])
	if err != nil {
		t.Fatal(err)
	}
	c.HTTP.Transport.(*http.Transport).DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext
	return c
}

func statusOf(err error) int {
	var se *report.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return http.StatusOK
}

// TestServeHandsAgentCredentials: serve with the provisioning core puts a node's own
// one-time bootstrap, the CA fingerprint and the agent API on its kernel command line,
// bound to its reserved address; its agent exchanges the bootstrap there (once) for its
// certificate, and its report over mutual TLS is accepted. The bootstrap from another
// address, another node's bootstrap, a report without a certificate, a replay and the
// unauthenticated installed callback are refused and change nothing; the install
// reported with the certificate makes the node boot its disk. No secret shows up in
// serve's log, the event log, /api/events or the CLI's outputs.
func TestServeHandsAgentCredentials(t *testing.T) {
	t.Parallel()
	power := &countingPower{cycles: map[string]int{}}
	s, base, stateDir, logs := startProvisioning(t, power)
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
	if script, a := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.12"); a[pki.CmdlineBootstrap] != "" || !strings.Contains(script, "exit") && !strings.Contains(script, "sanboot") {
		t.Fatalf("lab-01's script asked from lab-02's address handed out credentials or no local boot:\n%s", script)
	}
	// lab-03, which no up is provisioning, network-boots its profile without a credential.
	if script, a := bootScript(t, base, "52:54:00:04:00:03", "127.0.0.13"); a[pki.CmdlineBootstrap] != "" || !strings.Contains(script, "vmlinuz") {
		t.Fatalf("lab-03 (not being provisioned) got a bootstrap or no network boot:\n%s", script)
	}
	script1, a1 := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.11")
	script2, a2 := bootScript(t, base, "52:54:00:04:00:02", "127.0.0.12")
	for _, a := range []map[string]string{a1, a2} {
		if a[pki.CmdlineBootstrap] == "" || a[pki.CmdlineAPI] == "" {
			t.Fatalf("no agent credentials on the kernel command line:\n%s\n%s", script1, script2)
		}
		if want := s.core.PKI.Fingerprint(); a[pki.CmdlineCA] != want {
			t.Fatalf("racklift.ca=%s, want the CA's %s", a[pki.CmdlineCA], want)
		}
	}
	if a1[pki.CmdlineBootstrap] == a2[pki.CmdlineBootstrap] {
		t.Fatal("two nodes got the same bootstrap")
	}
	if !strings.Contains(script1, "console=ttyS0") || !strings.Contains(script1, " quiet ") {
		t.Fatalf("the profile's command line is gone, or no quiet to keep the console from printing it:\n%s", script1)
	}
	secrets := []string{a1[pki.CmdlineBootstrap], a2[pki.CmdlineBootstrap]}

	report := `{"node":"lab-01","agent":"test","results":[{"name":"storage./scratch.write","status":"pass"}],"failed":false}`
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func() error
		want int
	}{
		{name: "lab-01's bootstrap from lab-02's address", do: func() error {
			_, err := agentFrom(t, a1, "127.0.0.12").Exchange(ctx, "lab-01", a1[pki.CmdlineBootstrap])
			return err
		}, want: http.StatusUnauthorized},
		{name: "lab-02's bootstrap for lab-01", do: func() error {
			_, err := agentFrom(t, a1, "127.0.0.11").Exchange(ctx, "lab-01", a2[pki.CmdlineBootstrap])
			return err
		}, want: http.StatusUnauthorized},
		{name: "a report without a certificate", do: func() error {
			return agentFrom(t, a1, "127.0.0.11").Post(ctx, "lab-01", []byte(report))
		}, want: http.StatusUnauthorized},
	} {
		if got := statusOf(tc.do()); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	n, err := client.Node(ctx, "lab-01")
	if err != nil {
		t.Fatal(err)
	}
	if n.Phase == lifecycle.Ready || !n.ReportAt.IsZero() {
		t.Fatalf("a refused call changed lab-01: phase %s, report at %v", n.Phase, n.ReportAt)
	}

	agent := agentFrom(t, a1, "127.0.0.11")
	if _, err := agent.Exchange(ctx, "lab-01", a1[pki.CmdlineBootstrap]); err != nil {
		t.Fatalf("lab-01's exchange from its reserved address: %v", err)
	}
	if err := agent.Hello(ctx, "lab-01", "ramdisk"); err != nil {
		t.Fatal(err)
	}
	if _, err := agent.Expectations(ctx, "lab-01"); err != nil {
		t.Fatal(err)
	}
	if err := agent.Post(ctx, "lab-01", []byte(report)); err != nil {
		t.Fatal(err)
	}
	if n, err = client.Node(ctx, "lab-01"); err != nil || n.Phase != lifecycle.Ready {
		t.Fatalf("lab-01 after its report: %s (%s) %v, want ready", n.Phase, n.Reason, err)
	}
	// The used bootstrap, replayed from its own address, is refused and recorded.
	if _, err := agentFrom(t, a1, "127.0.0.11").Exchange(ctx, "lab-01", a1[pki.CmdlineBootstrap]); statusOf(err) != http.StatusUnauthorized {
		t.Errorf("replayed bootstrap: %v, want 401", err)
	}
	// The plain-HTTP installed callback is refused; the node still network-boots.
	resp, err := http.Get(base + "/callback/52:54:00:04:00:01?stage=installed")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if script, _ := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.11"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(script, "vmlinuz") {
		t.Errorf("unauthenticated installed callback: %d; lab-01's script after it:\n%s", resp.StatusCode, script)
	}
	// Reported with its certificate: lab-01 boots its disk, and status says installed.
	if err := agent.Installed(ctx, "lab-01"); err != nil {
		t.Fatal(err)
	}
	if script, _ := bootScript(t, base, "52:54:00:04:00:01", "127.0.0.11"); strings.Contains(script, "vmlinuz") || !strings.Contains(script, "lab-01 is installed") {
		t.Errorf("installed lab-01's script:\n%s", script)
	}

	// Nothing a run leaves readable holds a secret: serve's log, the event log, the
	// boot events of /api/events, the CLI's status, report and events outputs.
	evs, err := client.Events(ctx, "", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	if !strings.Contains(strings.Join(kinds, " "), "bootstrap.replayed") || !strings.Contains(strings.Join(kinds, " "), "node.installed") {
		t.Errorf("event log lacks the replay or the install: %v", kinds)
	}
	evJSON, _ := json.Marshal(evs)
	resp, err = http.Get(base + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	bootEvents, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	outputs := map[string]string{"serve's log": logs.String(), "the event log": string(evJSON), "/api/events": string(bootEvents)}
	// What `provision status`, `report` and `events` print, as they render it (pkg/api).
	nodes, err := client.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	api.NewStatusReport("serve", nodes).WriteText(&b, time.Now())
	outputs["provision status"] = b.String()
	js, _ := json.Marshal(api.NewStatusReport("serve", nodes))
	outputs["provision status -o json"] = string(js)
	d, err := client.Node(ctx, "lab-01")
	if err != nil {
		t.Fatal(err)
	}
	b.Reset()
	d.WriteReport(&b)
	js, _ = json.Marshal(d)
	outputs["provision report lab-01"] = b.String() + string(js)
	b.Reset()
	api.WriteEvents(&b, evs)
	outputs["provision events"] = b.String()
	if !strings.Contains(outputs["provision status"], "ready, installed") {
		t.Errorf("status does not show lab-01 installed:\n%s", outputs["provision status"])
	}
	for where, text := range outputs {
		for _, sec := range secrets {
			if strings.Contains(text, sec) || strings.Contains(text, sec[:16]) {
				t.Errorf("%s holds a bootstrap secret", where)
			}
		}
		if strings.Contains(text, "PRIVATE KEY") {
			t.Errorf("%s holds a private key", where)
		}
	}
}
