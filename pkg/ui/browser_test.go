package ui_test

// The dashboard in a real browser: serve (pkg/server, with its provisioning core) on the
// lab inventory moved onto loopback, nodes driven through serve's real paths (control
// API up, the iPXE script and artifacts fetched from each node's own address, the
// agent's bootstrap exchange, hello, expectations and report over mutual TLS), and
// Debian's headless Chromium driven by chromedp reading the rendered page.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/racklift/racklift/internal/bench/inventory/invgen"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/internal/uitest"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/server"
	"github.com/racklift/racklift/pkg/state"
	"github.com/racklift/racklift/templates"
)

var screenshots = flag.String("screenshots", "", "TestScreenshots writes the three views' PNGs into this directory (docs/img)")

// power stands in for the BMCs: each power cycle succeeds at once.
type power struct {
	mu     sync.Mutex
	cycles map[string]int
}

func (p *power) PXECycle(_ context.Context, t lifecycle.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cycles[t.Name]++
	return nil
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// labOnLoopback copies inventory/examples/lab with its provisioning network moved onto
// 127.0.0.0/24 (serve 127.0.0.1, lab-0N at 127.0.0.1N: addresses a test can send from).
func labOnLoopback(t *testing.T) string {
	t.Helper()
	src := filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab")
	dst := filepath.Join(t.TempDir(), "lab")
	for _, f := range []string{"site.yaml", filepath.Join("racks", "lab.yaml")} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, f), []byte(strings.ReplaceAll(string(b), "10.204.0.", "127.0.0.")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// serve is a running `provision serve`.
type serve struct {
	t        *testing.T
	s        *server.Server
	base     string // http://127.0.0.1:PORT
	stateDir string
	client   *api.Client
	power    *power
}

// startServe runs serve with the provisioning core on inventory inv; stateDir "" makes one.
func startServe(t *testing.T, inv, stateDir string) *serve {
	t.Helper()
	if stateDir == "" {
		// Short: the control socket's path must fit in sun_path.
		d, err := os.MkdirTemp("", "rl-ui-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		stateDir = d
	}
	arts := t.TempDir()
	os.MkdirAll(filepath.Join(arts, "lab"), 0o755)
	os.WriteFile(filepath.Join(arts, "lab", "vmlinuz"), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(arts, "lab", "initrd.img"), []byte("initrd"), 0o644)
	p := &power{cycles: map[string]int{}}
	httpPort := freePort(t, "tcp")
	s, err := server.New(server.Config{Log: slog.New(slog.DiscardHandler), Inventory: inv, Listen: "127.0.0.1",
		HTTPPort: httpPort, TFTPPort: freePort(t, "udp"), NoDHCP: true, PXEDir: t.TempDir(), Artifacts: arts,
		Templates: templates.FS, StateDir: stateDir,
		Provision: &server.Provision{Power: p, AgentListen: "127.0.0.1:0", Tick: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	s.HTTPAddr()
	c, err := api.Connect(context.Background(), "", stateDir)
	if err != nil {
		t.Fatal(err)
	}
	client := c.(*api.Client)
	t.Cleanup(func() { client.Close() })
	return &serve{t: t, s: s, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), stateDir: stateDir, client: client, power: p}
}

var cmdlineArg = regexp.MustCompile(`racklift\.(bootstrap|ca|api)=(\S+)`)

// fromAddr is an HTTP client whose connections come from address from (a node's).
func fromAddr(from string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext}}
}

// netBoot does what node's firmware and iPXE do once its BMC cycled it: fetch its boot
// script and the kernel and initrd from its reserved address. It returns the racklift.*
// kernel arguments.
func (sv *serve) netBoot(node, mac, from string) map[string]string {
	sv.t.Helper()
	hc := fromAddr(from)
	resp, err := hc.Get(sv.base + "/ipxe/" + mac)
	if err != nil {
		sv.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	args := map[string]string{}
	for _, m := range cmdlineArg.FindAllStringSubmatch(string(b), -1) {
		args["racklift."+m[1]] = m[2]
	}
	if args[pki.CmdlineBootstrap] == "" {
		sv.t.Fatalf("%s: no bootstrap in its boot script:\n%s", node, b)
	}
	for _, f := range []string{"vmlinuz", "initrd.img"} {
		resp, err := hc.Get(sv.base + "/artifacts/lab/" + f)
		if err != nil {
			sv.t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return args
}

// agent is node-agent's client for node, from its address, with its certificate.
func (sv *serve) agent(node, from string, args map[string]string) *report.Client {
	sv.t.Helper()
	c, err := report.NewClient(args[pki.CmdlineAPI], args[pki.CmdlineCA])
	if err != nil {
		sv.t.Fatal(err)
	}
	c.HTTP.Transport.(*http.Transport).DialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}).DialContext
	if _, err := c.Exchange(context.Background(), node, args[pki.CmdlineBootstrap]); err != nil {
		sv.t.Fatalf("%s: bootstrap exchange: %v", node, err)
	}
	return c
}

func (sv *serve) up(nodes ...string) {
	sv.t.Helper()
	if _, err := sv.client.Up(context.Background(), api.UpRequest{Selectors: nodes}); err != nil {
		sv.t.Fatal(err)
	}
	sv.waitPhase(nodes, lifecycle.PXE)
}

// waitPhase waits until every node is in phase (or past pxe when phase is pxe).
func (sv *serve) waitPhase(nodes []string, phase lifecycle.Phase) {
	sv.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, n := range nodes {
			d, err := sv.client.Node(context.Background(), n)
			ok = ok && err == nil && d.Phase == phase
		}
		if ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	sv.t.Fatalf("%v not %s after 60s", nodes, phase)
}

// browser is a headless Chromium (internal/uitest); the helpers below fail the test
// with what was being done.
func browser(t *testing.T, width, height int) context.Context {
	return uitest.Browser(t, uitest.Options{Width: width, Height: height})
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	uitest.Do(t, ctx, what, actions...)
}

func eval[T any](t *testing.T, ctx context.Context, js string, v *T) {
	t.Helper()
	uitest.Eval(t, ctx, js, v)
}

func evalAwait[T any](t *testing.T, ctx context.Context, js string, v *T) {
	t.Helper()
	uitest.EvalAwait(t, ctx, js, v)
}

func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	uitest.WaitJS(t, ctx, what, js, 30*time.Second)
}

// drawn is a box as the page laid it out: the unit read off its position in the
// elevation (unit 1 at the bottom), its height in units, its phase text and failed mark.
type drawn struct {
	Rack   string `json:"rack"`
	Unit   int    `json:"unit"`
	Height int    `json:"height"`
	Phase  string `json:"phase"`
	Mark   string `json:"mark"`
}

const readBoxes = `(() => {
  const out = {};
  for (const el of document.querySelectorAll(".rack .slots .box")) {
    const slots = el.parentElement, rack = el.closest(".rack");
    const units = +rack.style.getPropertyValue("--units");
    const s = slots.getBoundingClientRect(), b = el.getBoundingClientRect();
    const u = s.height / units;
    out[el.querySelector(".nm").textContent] = {
      rack: rack.dataset.rack,
      unit: Math.round((s.bottom - b.bottom) / u) + 1,
      height: Math.round((b.height + 1) / u),
      phase: el.querySelector(".ph").textContent,
      mark: (el.querySelector(".mark") || {textContent: ""}).textContent,
    };
  }
  return out;
})()`

// TestDashboardInChromium is the browser test on the lab inventory: every node
// is drawn in its rack at its unit with its phase written on it; lab-01's failed storage
// check shows on its box and first in its node view; lab-02's next phase appears on the
// open page, without a reload, within 2 s of the event that moved it (measured in the
// page against the event's time in the state log).
func TestDashboardInChromium(t *testing.T) {
	ctx := browser(t, 1400, 1000)
	inv := labOnLoopback(t)
	sv := startServe(t, inv, "")
	loaded, err := inventory.Load(inv)
	if err != nil {
		t.Fatal(err)
	}

	// lab-01 and lab-02 brought up through serve: BMC cycle, network boot, agent.
	sv.up("lab-01", "lab-02")
	a1 := sv.agent("lab-01", "127.0.0.11", sv.netBoot("lab-01", "52:54:00:04:00:01", "127.0.0.11"))
	a2 := sv.agent("lab-02", "127.0.0.12", sv.netBoot("lab-02", "52:54:00:04:00:02", "127.0.0.12"))
	bg := context.Background()
	for name, a := range map[string]*report.Client{"lab-01": a1, "lab-02": a2} {
		if err := a.Hello(bg, name, "ramdisk"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a1.Expectations(bg, "lab-01"); err != nil {
		t.Fatal(err)
	}
	failing := `{"node":"lab-01","agent":"test","failed":true,"results":[` +
		`{"name":"storage./scratch.write","status":"fail","observed":"1 MB/s (64 MiB in 64.0s, 1 jobs, O_DIRECT)","expected":"≥ 2 MB/s","message":"sequential write 1 MB/s is below the profile's minimum 2 MB/s"},` +
		`{"name":"storage./scratch.read","status":"pass","observed":"9 MB/s","expected":"≥ 5 MB/s"},` +
		`{"name":"net.storage.mtu","status":"pass","observed":"9000"}]}`
	if err := a1.Post(bg, "lab-01", []byte(failing)); err != nil {
		t.Fatal(err)
	}
	sv.waitPhase([]string{"lab-01"}, lifecycle.Failed)
	sv.waitPhase([]string{"lab-02"}, lifecycle.Agent)

	run(t, ctx, "opening the dashboard", chromedp.Navigate(sv.base+"/ui/"))
	waitJS(t, ctx, "the site view", `window.racklift && window.racklift.rendered >= 1 && document.querySelector(".live.on") !== null`)

	var boxes map[string]drawn
	eval(t, ctx, readBoxes, &boxes)
	statuses, err := sv.client.Nodes(bg)
	if err != nil {
		t.Fatal(err)
	}
	phase := map[string]string{}
	for _, n := range statuses {
		phase[n.Name] = string(n.Phase)
	}
	if len(boxes) != len(loaded.Nodes) {
		t.Errorf("%d boxes drawn, the inventory has %d nodes: %v", len(boxes), len(loaded.Nodes), boxes)
	}
	for _, nd := range loaded.Nodes {
		t.Run(nd.Name, func(t *testing.T) {
			b, ok := boxes[nd.Name]
			if !ok {
				t.Fatalf("%s is not drawn", nd.Name)
			}
			if b.Rack != nd.Rack || b.Unit != nd.Unit || b.Height != max(nd.Height, 1) {
				t.Errorf("%s drawn in rack %s at U%d, %dU high; the inventory says rack %s U%d, %dU", nd.Name, b.Rack, b.Unit, b.Height, nd.Rack, nd.Unit, max(nd.Height, 1))
			}
			if b.Phase != phase[nd.Name] {
				t.Errorf("%s's box says %q, serve says %q", nd.Name, b.Phase, phase[nd.Name])
			}
		})
	}
	if boxes["lab-01"].Mark != "✖1" || boxes["lab-02"].Mark != "" {
		t.Errorf("failed-check marks: lab-01 %q (want ✖1), lab-02 %q (want none)", boxes["lab-01"].Mark, boxes["lab-02"].Mark)
	}
	var counts map[string]string
	eval(t, ctx, `Object.fromEntries([...document.querySelectorAll("#counts .chip")].map(c => [c.dataset.phase, c.querySelector("b").textContent]))`, &counts)
	if counts["failed"] != "1" || counts["agent"] != "1" || counts["enrolled"] != "1" || counts["failed-checks"] != "1" {
		t.Errorf("phase counts %v", counts)
	}

	// A phase change on the open page: lab-02 fetches its expectations (agent →
	// validating). The page records when lab-02's box first says validating.
	eval(t, ctx, `(() => {
	  window.__marker = "same page";
	  window.__seenAt = 0;
	  new MutationObserver(() => {
	    const el = document.getElementById("n-lab-02");
	    if (!window.__seenAt && el && el.dataset.phase === "validating") window.__seenAt = Date.now();
	  }).observe(document.getElementById("racks"), {subtree: true, childList: true, attributes: true});
	  return true;
	})()`, (*bool)(nil))
	h, err := sv.client.Health(bg)
	if err != nil {
		t.Fatal(err)
	}
	before := h.LastSeq
	if _, err := a2.Expectations(bg, "lab-02"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "lab-02's box to say validating", `window.__seenAt > 0`)
	var seenAt int64
	var marker string
	var navigations int
	eval(t, ctx, `window.__seenAt`, &seenAt)
	eval(t, ctx, `window.__marker`, &marker)
	eval(t, ctx, `performance.getEntriesByType("navigation").length`, &navigations)
	evs, err := sv.client.Events(bg, "lab-02", before, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	for _, e := range evs {
		if e.Phase == string(lifecycle.Validating) {
			at = e.Time
			break
		}
	}
	if at.IsZero() {
		t.Fatalf("no event moved lab-02 to validating: %+v", evs)
	}
	latency := time.UnixMilli(seenAt).Sub(at)
	t.Logf("lab-02 agent → validating: on the page %v after the event (goal < 2s)", latency)
	if marker != "same page" || navigations != 1 {
		t.Errorf("the page was reloaded (marker %q, %d navigations)", marker, navigations)
	}
	if latency > 2*time.Second {
		t.Errorf("the phase change appeared %v after its event, want within 2s", latency)
	}
	var rendered int
	eval(t, ctx, `window.racklift.rendered`, &rendered)
	if rendered != 1 {
		t.Errorf("the site was redrawn %d times: the update should change the box in place", rendered)
	}

	// lab-01's node view: its failed check first, in provision report's words.
	run(t, ctx, "opening lab-01's node view", chromedp.Click(chromedp.CSS(`#n-lab-01`)))
	waitJS(t, ctx, "lab-01's report", `document.querySelector('article.node[data-node="lab-01"] #report tbody tr') !== null`)
	var first []string
	eval(t, ctx, `[...document.querySelector("#report tbody tr").cells].map(c => c.textContent)`, &first)
	if len(first) != 5 || !strings.Contains(first[0], "FAIL") || first[1] != "storage./scratch.write" || !strings.Contains(first[4], "below the profile's minimum 2 MB/s") {
		t.Errorf("lab-01's first report row %q: want its failed storage write", first)
	}
	var nodePhase, storage string
	eval(t, ctx, `document.getElementById("node-phase").textContent`, &nodePhase)
	eval(t, ctx, `document.querySelector("#storage tbody").textContent`, &storage)
	if nodePhase != "failed" || !strings.Contains(storage, "≥ 2 MB/s") {
		t.Errorf("node view: phase %q, storage %q", nodePhase, storage)
	}
	var history []string
	eval(t, ctx, `[...document.querySelectorAll("#history tbody tr td:first-child")].map(c => c.textContent)`, &history)
	if strings.Join(history, " ") != "enrolled powering pxe booting agent validating failed" {
		t.Errorf("lab-01's phase history %v", history)
	}
	eval(t, ctx, `performance.getEntriesByType("navigation").length`, &navigations)
	if navigations != 1 {
		t.Errorf("opening the node view reloaded the page")
	}
}

// TestDashboardSurvivesRestart: serve stops and starts again on the same state; the open
// page's event stream reconnects by itself and shows what happened after the restart.
func TestDashboardSurvivesRestart(t *testing.T) {
	ctx := browser(t, 1200, 900)
	inv := labOnLoopback(t)
	stateDir, err := os.MkdirTemp("", "rl-ui-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })

	// serve on a fixed HTTP port: the page reconnects to the same address.
	port := freePort(t, "tcp")
	start := func() (func(), *api.Client) {
		p := &power{cycles: map[string]int{}}
		s, err := server.New(server.Config{Log: slog.New(slog.DiscardHandler), Inventory: inv, Listen: "127.0.0.1",
			HTTPPort: port, TFTPPort: freePort(t, "udp"), NoDHCP: true, PXEDir: t.TempDir(), Artifacts: t.TempDir(),
			Templates: templates.FS, StateDir: stateDir,
			Provision: &server.Provision{Power: p, AgentListen: "127.0.0.1:0", Tick: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(rctx) }()
		s.HTTPAddr()
		c, err := api.Connect(context.Background(), "", stateDir)
		if err != nil {
			t.Fatal(err)
		}
		stop := func() { c.Close(); cancel(); <-done }
		return stop, c.(*api.Client)
	}
	stop, _ := start()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	run(t, ctx, "opening the dashboard", chromedp.Navigate(fmt.Sprintf("http://127.0.0.1:%d/ui/", port)))
	waitJS(t, ctx, "the live site view", `window.racklift && window.racklift.rendered >= 1 && document.querySelector(".live.on") !== null`)

	stop()
	stopped = true
	waitJS(t, ctx, "the page to notice serve is gone", `document.querySelector(".live.off") !== null`)
	stop, client := start()
	stopped = false
	if _, err := client.Up(context.Background(), api.UpRequest{Selectors: []string{"lab-03"}}); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "lab-03's box to leave enrolled after the restart", `(() => { const el = document.getElementById("n-lab-03"); return el && el.dataset.phase !== "enrolled"; })()`)
	var navigations int
	eval(t, ctx, `performance.getEntriesByType("navigation").length`, &navigations)
	if navigations != 1 {
		t.Errorf("the page reloaded (%d navigations): the stream should reconnect on its own", navigations)
	}
}

// TestScreenshots takes the three views of a demo-like rack (lab-01 failed a check,
// lab-02 ready, lab-03 validating) as PNGs: into -screenshots DIR when given (make
// ui-screenshots writes docs/img), else into a temp dir, checked to be images.
func TestScreenshots(t *testing.T) {
	ctx := browser(t, 1280, 860)
	inv := labOnLoopback(t)
	sv := startServe(t, inv, "")
	bg := context.Background()
	sv.up("lab-01", "lab-02", "lab-03")
	macs := map[string]string{"lab-01": "52:54:00:04:00:01", "lab-02": "52:54:00:04:00:02", "lab-03": "52:54:00:04:00:03"}
	from := map[string]string{"lab-01": "127.0.0.11", "lab-02": "127.0.0.12", "lab-03": "127.0.0.13"}
	reports := map[string]string{
		"lab-01": `{"node":"lab-01","agent":"0.1.0","failed":true,"results":[` +
			`{"name":"storage./scratch.write","status":"fail","observed":"1 MB/s (64 MiB in 61.3s, 1 jobs, O_DIRECT)","expected":"≥ 2 MB/s","message":"sequential write 1 MB/s is below the profile's minimum 2 MB/s: check the device's PCIe link (lspci -vv LnkSta), RAID/array health, and for NFS the mount options and MTU"},` +
			`{"name":"storage./scratch.read","status":"pass","observed":"14 MB/s (64 MiB in 4.6s, 1 jobs, O_DIRECT)","expected":"≥ 5 MB/s"},` +
			`{"name":"storage./scratch.mount","status":"pass","observed":"ext4 /dev/vda","expected":"a mount point"},` +
			`{"name":"net.provisioning.link","status":"pass","observed":"ens3 52:54:00:04:00:01","expected":"52:54:00:04:00:01"},` +
			`{"name":"net.provisioning.mtu","status":"pass","observed":"1500","expected":"1500"},` +
			`{"name":"net.provisioning.gateway","status":"pass","observed":"no gateway","expected":"-"},` +
			`{"name":"net.storage.link","status":"pass","observed":"ens4 52:54:00:04:c8:01","expected":"52:54:00:04:c8:01"},` +
			`{"name":"net.storage.vlan","status":"pass","observed":"ens4.200 up","expected":"VLAN 200"},` +
			`{"name":"net.storage.mtu","status":"pass","observed":"9000 (DF probe 8972 bytes answered)","expected":"9000"},` +
			`{"name":"net.storage.gateway","status":"pass","observed":"10.204.200.1 at 52:54:00:aa:00:01","expected":"ARP reply"}]}`,
		"lab-02": `{"node":"lab-02","agent":"0.1.0","failed":false,"results":[` +
			`{"name":"storage./scratch.write","status":"pass","observed":"4 MB/s (64 MiB in 15.1s, 1 jobs, O_DIRECT)","expected":"≥ 2 MB/s"},` +
			`{"name":"storage./scratch.read","status":"pass","observed":"17 MB/s (64 MiB in 3.8s, 1 jobs, O_DIRECT)","expected":"≥ 5 MB/s"},` +
			`{"name":"net.provisioning.link","status":"pass"},{"name":"net.provisioning.mtu","status":"pass"},` +
			`{"name":"net.storage.link","status":"pass"},{"name":"net.storage.vlan","status":"pass"},{"name":"net.storage.mtu","status":"pass"},` +
			`{"name":"net.storage.gateway","status":"warn","observed":"ARP reply after 3 tries","message":"storage (VLAN 200) on ens4.200: the gateway answered late"}]}`,
	}
	for _, n := range []string{"lab-01", "lab-02", "lab-03"} {
		a := sv.agent(n, from[n], sv.netBoot(n, macs[n], from[n]))
		if err := a.Hello(bg, n, "ramdisk"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Expectations(bg, n); err != nil {
			t.Fatal(err)
		}
		if r, ok := reports[n]; ok {
			if err := a.Post(bg, n, []byte(r)); err != nil {
				t.Fatal(err)
			}
		}
	}
	sv.waitPhase([]string{"lab-01"}, lifecycle.Failed)
	sv.waitPhase([]string{"lab-02"}, lifecycle.Ready)

	dir := *screenshots
	if dir == "" {
		dir = t.TempDir()
	}
	shoot := func(name, hash, ready string) {
		t.Helper()
		run(t, ctx, "opening "+hash, chromedp.Navigate(sv.base+"/ui/"+hash))
		waitJS(t, ctx, name, ready)
		run(t, ctx, "letting "+name+" settle", chromedp.Sleep(200*time.Millisecond))
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot of %s: %v", name, err)
		}
		if len(png) < 1000 || string(png[1:4]) != "PNG" {
			t.Fatalf("%s: not a PNG (%d bytes)", name, len(png))
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", filepath.Join(dir, name), len(png))
	}
	shoot("ui-site.png", "", `window.racklift && window.racklift.rendered >= 1 && document.querySelector(".live.on") !== null`)
	shoot("ui-node.png", "#/node/lab-01", `document.querySelector('article.node[data-node="lab-01"] #report tbody tr') !== null`)
	shoot("ui-networks.png", "#/networks", `document.querySelector(".matrix tbody tr") !== null`)
}

// pageTiming is what Chromium's performance timeline says about one load of the site
// view, in milliseconds from the start of the navigation.
type pageTiming struct {
	Response  float64 `json:"response"`  // the page's HTML received
	SiteFetch float64 `json:"siteFetch"` // GET api/site took
	SiteBytes float64 `json:"siteBytes"` // its body
	Rendered  float64 `json:"rendered"`  // every rack and box built
	Painted   float64 `json:"painted"`   // and the frame after it painted
	Boxes     int     `json:"boxes"`
}

const readTiming = `(() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const site = performance.getEntriesByType("resource").find(r => r.name.includes("/ui/api/site"));
  const mark = (n) => (performance.getEntriesByName(n)[0] || {startTime: -1}).startTime;
  return {response: nav.responseEnd, siteFetch: site ? site.duration : -1, siteBytes: site ? site.decodedBodySize : -1,
    rendered: mark("racklift:site-rendered"), painted: mark("racklift:site-painted"),
    boxes: document.querySelectorAll(".rack .box").length};
})()`

// percentile of sorted values.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[min(len(v)-1, int(p*float64(len(v))))]
}

// TestDashboard10k measures the site view of the 10,000-node generated site
// (internal/bench/inventory/invgen, 250 racks) with Chromium's own timing, first load
// (serve parses every report once) and reloads, against the goal of 1 s; then
// the event stream at 100 events/s: boot events published on serve's stream go through
// the lifecycle into the state's log and out to the open page, every one of them
// received, with the lag from publication to the page. It asserts what must hold
// whatever the machine's load (every node drawn, in its unit; no event lost) and prints
// the figures with PASS/MISS against the goals: a loaded 2-core machine must not fail it.
func TestDashboard10k(t *testing.T) {
	ctx := browser(t, 1600, 1000)
	const nodes = 10000
	invDir := t.TempDir()
	if err := invgen.Write(invDir, invgen.Options{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(invDir)
	if err != nil {
		t.Fatal(err)
	}
	// The state on tmpfs when there is one: the figures are the page's and the stream's,
	// not the disk's fsyncs (each of the 10,000 records below is one commit).
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	stateDir, err := os.MkdirTemp(base, "rl-ui-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(stateDir) })
	seedState(t, stateDir, inv)

	sv := startServe(t, invDir, stateDir)
	start := time.Now()
	run(t, ctx, "opening the 10k site", chromedp.Navigate(sv.base+"/ui/"))
	waitJS(t, ctx, "the 10k site view", `window.racklift && window.racklift.rendered >= 1 && performance.getEntriesByName("racklift:site-painted").length > 0`)
	wall := time.Since(start)
	var first pageTiming
	eval(t, ctx, readTiming, &first)
	if first.Boxes == 0 {
		t.Fatal("no box drawn on the first screen")
	}
	loads := []pageTiming{first}
	for i := range 3 {
		run(t, ctx, "loading again", chromedp.Navigate(fmt.Sprintf("%s/ui/?again=%d", sv.base, i)))
		waitJS(t, ctx, "the reloaded site view", `window.racklift && window.racklift.rendered >= 1 && performance.getEntriesByName("racklift:site-painted").length > 0`)
		var pt pageTiming
		eval(t, ctx, readTiming, &pt)
		loads = append(loads, pt)
	}
	// Scrolled through, every rack fills in and every node is in its unit.
	var all int
	evalAwait(t, ctx, `(async () => {
	  for (let y = 0; y <= document.documentElement.scrollHeight; y += innerHeight / 2) {
	    scrollTo(0, y);
	    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
	  }
	  return document.querySelectorAll(".rack .box").length;
	})()`, &all)
	if all != nodes {
		t.Fatalf("%d boxes drawn after scrolling through the site, want %d", all, nodes)
	}
	var sample map[string]drawn
	eval(t, ctx, readBoxes, &sample)
	for _, nd := range inv.Nodes {
		if b := sample[nd.Name]; b.Rack != nd.Rack || b.Unit != nd.Unit || b.Phase == "" {
			t.Errorf("%s drawn in %s U%d (%q), want %s U%d", nd.Name, b.Rack, b.Unit, b.Phase, nd.Rack, nd.Unit)
		}
	}

	// The peer, measured in the same run: the very page this load drew, saved as static
	// HTML with the same stylesheet and no script or API call: what Chromium on this
	// machine, now, takes to lay out and paint 10,000 boxes at all.
	var drawnHTML string
	eval(t, ctx, `document.getElementById("view").innerHTML`, &drawnHTML)
	css, err := http.Get(sv.base + "/ui/app.css")
	if err != nil {
		t.Fatal(err)
	}
	style, _ := io.ReadAll(css.Body)
	css.Body.Close()
	static := "<!doctype html><html><head><meta charset=utf-8><style>" + string(style) + "</style></head><body><main id=view>" +
		drawnHTML + "</main><script>requestAnimationFrame(() => setTimeout(() => performance.mark('peer-painted')))</script></body></html>"
	peerSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, static)
	}))
	t.Cleanup(peerSrv.Close)
	var peer []float64
	for i := range 4 {
		run(t, ctx, "loading the static peer", chromedp.Navigate(fmt.Sprintf("%s/?%d", peerSrv.URL, i)))
		waitJS(t, ctx, "the static peer painted", `performance.getEntriesByName("peer-painted").length > 0`)
		var ms float64
		eval(t, ctx, `performance.getEntriesByName("peer-painted")[0].startTime`, &ms)
		peer = append(peer, ms)
	}

	verdict := func(ms float64) string {
		if ms < 1000 {
			return "PASS"
		}
		return "MISS"
	}
	load, _ := stats()
	t.Logf("10,000 nodes, 250 racks (load average %s); site document %.1f MB; %d boxes on the first screen, the rest as racks scroll near",
		load, first.SiteBytes/1e6, first.Boxes)
	for i, pt := range loads {
		what := "first load"
		if i > 0 {
			what = fmt.Sprintf("reload %d", i)
		}
		t.Logf("%-10s  html %4.0f ms  api/site %4.0f ms  drawn %5.0f ms  painted %5.0f ms   goal < 1000 ms: %s",
			what, pt.Response, pt.SiteFetch, pt.Rendered, pt.Painted, verdict(pt.Painted))
	}
	t.Logf("first load from the test's side (navigate → painted polled): %v", wall.Round(time.Millisecond))
	var ours []float64
	for _, pt := range loads {
		ours = append(ours, pt.Painted)
	}
	sort.Float64s(ours)
	sort.Float64s(peer)
	t.Logf("peer, all 10,000 boxes as static HTML (no script, no API): painted %v ms; ours median %.0f ms, peer median %.0f ms, ratio %.2f",
		peer, percentile(ours, 0.5), percentile(peer, 0.5), percentile(ours, 0.5)/percentile(peer, 0.5))

	// 100 events/s for 5 s through serve's boot event stream, as DHCP would publish them.
	run(t, ctx, "opening the 10k site again", chromedp.Navigate(sv.base+"/ui/"))
	waitJS(t, ctx, "the live 10k site view", `window.racklift && window.racklift.rendered >= 1 && document.querySelector(".live.on") !== null`)
	eval(t, ctx, `(() => {
	  window.__lags = [];
	  window.racklift.source.addEventListener("update", (e) => {
	    const u = JSON.parse(e.data);
	    if (u.event.kind === "dhcp.ack" && u.event.detail && u.event.detail.startsWith("rate test")) window.__lags.push(Date.now() - Date.parse(u.event.time));
	  });
	  return true;
	})()`, (*bool)(nil))
	const rate, total = 100, 500
	began := time.Now()
	for i := range total {
		// On schedule: event i at i/rate s, a late one sent at once (a loaded machine
		// wakes the loop late; the rate must stay what the issue asks).
		time.Sleep(time.Until(began.Add(time.Duration(i) * time.Second / rate)))
		name := inv.Nodes[(i*37)%nodes].Name
		sv.s.Events.Publish(events.Event{Kind: events.DHCPAck, Node: name, Detail: fmt.Sprintf("rate test %d", i)})
	}
	published := time.Since(began)
	waitJS(t, ctx, "every event on the page", fmt.Sprintf(`window.__lags.length >= %d`, total))
	var lags []float64
	eval(t, ctx, `window.__lags`, &lags)
	if len(lags) != total {
		t.Errorf("the page got %d of %d events", len(lags), total)
	}
	sort.Float64s(lags)
	keep := "PASS"
	if percentile(lags, 0.99) > 2000 {
		keep = "MISS"
	}
	t.Logf("event stream: %d events published at %.0f/s, %d on the page; lag publish → page p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms   keeps up (p99 < 2 s): %s",
		total, float64(total)/published.Seconds(), len(lags), percentile(lags, 0.5), percentile(lags, 0.95), percentile(lags, 0.99), lags[len(lags)-1], keep)
}

// stats is the machine's load average, for the figures' context.
func stats() (string, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown", err
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " "), nil
}

// seedState writes a record for every node of inv as a bring-up in progress leaves them:
// phases spread over the lifecycle, and a report (a failed check on every 13th) for the
// nodes past validation.
func seedState(t *testing.T, dir string, inv *inventory.Inventory) {
	t.Helper()
	st, err := state.Open(dir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	for i, nd := range inv.Nodes {
		ph := lifecycle.Phases[i%len(lifecycle.Phases)]
		var raw []byte
		if ph == lifecycle.Ready || ph == lifecycle.Failed || ph == lifecycle.Installed {
			rs := []check.Result{
				{Name: "gpu.count", Status: check.Pass, Observed: "8", Expected: "8"},
				{Name: "gpu.pcie", Status: check.Pass, Observed: "Gen5 x16 on all 8"},
				{Name: "storage./raid.write", Status: check.Pass, Observed: "3412 MB/s (4096 MiB in 1.2s, 4 jobs, O_DIRECT)", Expected: "≥ 3000 MB/s"},
				{Name: "storage./raid.read", Status: check.Pass, Observed: "6610 MB/s (4096 MiB in 0.6s, 4 jobs, O_DIRECT)", Expected: "≥ 6000 MB/s"},
				{Name: "net.storage.link", Status: check.Pass, Observed: "ens1f0"},
				{Name: "net.storage.mtu", Status: check.Pass, Observed: "9000"},
				{Name: "net.compute.gateway", Status: check.Pass, Observed: "10.103.0.1"},
			}
			if i%13 == 0 {
				rs[1] = check.Result{Name: "gpu.pcie", Status: check.Fail, Observed: "GPU 3 Gen3 x8", Expected: "Gen5 x16", Message: "GPU 3's PCIe link trained down: reseat it"}
			}
			r := check.NewReport(nd.Name, "bench", nil, rs)
			if raw, err = json.Marshal(r); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.Update(nd.Name, func(n *state.Node) ([]state.Event, error) {
			n.Phase, n.EnteredAt, n.UpdatedAt = string(ph), now, now
			if raw != nil {
				n.Report, n.ReportAt = raw, now
			}
			return []state.Event{{Kind: "seed", Time: now, Phase: string(ph)}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}
