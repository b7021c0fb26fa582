package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/state"
)

// rig is the dashboard over a real state (bbolt in a temp dir) and the test site.
type rig struct {
	t     *testing.T
	inv   *inventory.Inventory
	store *state.Bolt
	h     http.Handler
	now   time.Time
}

const testToken = "test-control-token-0123456789"

func newRig(t *testing.T) *rig {
	t.Helper()
	inv, err := inventory.Load("testdata/site")
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{t: t, inv: inv, store: st, now: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	r.h = Handler(Config{Inventory: func() *inventory.Inventory { return r.inv }, Store: st, Token: testToken,
		KeepAlive: 200 * time.Millisecond, Now: func() time.Time { return r.now }})
	return r
}

// phase moves node to phase at t with an event of kind.
func (r *rig) phase(node, phase, kind string, at time.Time) {
	r.t.Helper()
	if _, err := r.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		n.Phase, n.EnteredAt, n.UpdatedAt = phase, at, at
		return []state.Event{{Kind: kind, Time: at, Phase: phase, Detail: kind + " detail"}}, nil
	}); err != nil {
		r.t.Fatal(err)
	}
}

// report stores an agent report for node.
func (r *rig) report(node string, at time.Time, hw *check.Hardware, rs ...check.Result) {
	r.t.Helper()
	rep := check.Report{Node: node, Time: at, Agent: "test-agent", Hardware: hw, Results: rs, Failed: check.Failed(rs)}
	raw, err := json.Marshal(rep)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.store.Update(node, func(n *state.Node) ([]state.Event, error) {
		n.Report, n.ReportAt = raw, at
		return []state.Event{{Kind: "agent.report", Time: at, Phase: n.Phase}}, nil
	}); err != nil {
		r.t.Fatal(err)
	}
}

// get asks the dashboard as a browser on this host does.
func (r *rig) get(path string) *httptest.ResponseRecorder {
	r.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path, nil)
	req.RemoteAddr = "127.0.0.1:40000"
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if w.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("%v: %s", err, w.Body.String())
	}
	return v
}

func boxes(s Site) map[string]Box {
	m := map[string]Box{}
	for _, r := range s.Racks {
		for _, b := range r.Nodes {
			m[b.Name] = b
		}
	}
	return m
}

// TestSiteDrawsEveryNodeInItsUnit: every inventory node is in its rack at its unit and
// height, with the phase of its record (enrolled when it has none), its failed checks,
// its lock and the last BMC power action.
func TestSiteDrawsEveryNodeInItsUnit(t *testing.T) {
	r := newRig(t)
	t0 := r.now.Add(-time.Hour)
	r.phase("gpu-a01-01", "failed", "lifecycle.failed", t0)
	r.report("gpu-a01-01", t0, nil,
		check.Result{Name: "gpu.count", Status: check.Fail, Observed: "7", Expected: "8"},
		check.Result{Name: "storage./raid.write", Status: check.Warn},
		check.Result{Name: "net.provisioning.link", Status: check.Pass})
	r.phase("gpu-b01-40", "booting", "http.kernel", t0)
	if _, err := r.store.Update("gpu-b01-40", func(n *state.Node) ([]state.Event, error) {
		n.Power = state.PowerRecord{Run: 1, Attempt: 1, IssuedAt: t0, Err: "redfish: 401 Unauthorized"}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}

	site := decode[Site](t, r.get("/ui/api/site"))
	if site.Site != "uitest" || len(site.Racks) != 2 || site.Racks[0].Name != "a01" || site.Racks[0].Units != 42 || site.Racks[1].Units != 48 {
		t.Fatalf("racks: %+v", site.Racks)
	}
	last, _ := r.store.LastSeq()
	if site.LastSeq != last {
		t.Errorf("last_seq %d, want the log's %d", site.LastSeq, last)
	}
	got := boxes(site)
	for _, tc := range []struct {
		name          string
		rack          string
		unit, height  int
		phase         string
		failed, warns int
		power, lock   string
	}{
		{name: "gpu-a01-01", rack: "a01", unit: 1, height: 2, phase: "failed", failed: 1, warns: 1},
		{name: "gpu-a01-03", rack: "a01", unit: 3, height: 1, phase: "enrolled", lock: "protected"},
		{name: "spare-a01", rack: "a01", unit: 0, height: 1, phase: "enrolled"},
		{name: "gpu-b01-40", rack: "b01", unit: 40, height: 4, phase: "booting", power: "failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := got[tc.name]
			if !ok {
				t.Fatalf("not drawn: %+v", got)
			}
			if b.Rack != tc.rack || b.Unit != tc.unit || b.Height != tc.height || b.Phase != tc.phase ||
				b.Failed != tc.failed || b.Warned != tc.warns || b.Power != tc.power || b.Lock != tc.lock || b.Dim {
				t.Errorf("box %+v, want %+v", b, tc)
			}
		})
	}
	if got["gpu-b01-40"].PowerError != "redfish: 401 Unauthorized" {
		t.Errorf("power error %q", got["gpu-b01-40"].PowerError)
	}
	if len(site.Phases) == 0 || site.Phases[0] != "enrolled" || site.Phases[len(site.Phases)-1] != "failed" {
		t.Errorf("phases %v", site.Phases)
	}
	if site.Selected != 4 {
		t.Errorf("selected %d, want 4", site.Selected)
	}
}

// TestSiteFollowsTheLog: a load after the first re-reads only the nodes the event log
// names since, and still shows every change; a record changed without an event shows
// once the view's full read is due (fullEvery).
func TestSiteFollowsTheLog(t *testing.T) {
	r := newRig(t)
	if b := boxes(decode[Site](t, r.get("/ui/api/site")))["gpu-a01-03"]; b.Phase != "enrolled" {
		t.Fatalf("first load: %+v", b)
	}
	r.phase("gpu-a01-03", "pxe", "dhcp.ack", r.now)
	r.report("gpu-a01-03", r.now, nil, check.Result{Name: "gpu.count", Status: check.Fail})
	site := decode[Site](t, r.get("/ui/api/site"))
	if b := boxes(site)["gpu-a01-03"]; b.Phase != "pxe" || b.Failed != 1 {
		t.Errorf("after two events: %+v, want pxe with 1 failed check", b)
	}
	if last, _ := r.store.LastSeq(); site.LastSeq != last {
		t.Errorf("last_seq %d, want %d", site.LastSeq, last)
	}
	// Written without an event: not seen until the full read.
	if _, err := r.store.Update("gpu-a01-03", func(n *state.Node) ([]state.Event, error) {
		n.Power = state.PowerRecord{Run: 1, Attempt: 1, IssuedAt: r.now, Err: "timeout"}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if b := boxes(decode[Site](t, r.get("/ui/api/site")))["gpu-a01-03"]; b.Power != "" {
		t.Errorf("the view read the record again without an event: %+v", b)
	}
	r.now = r.now.Add(31 * time.Second) // fullEvery, as the docs say
	if b := boxes(decode[Site](t, r.get("/ui/api/site")))["gpu-a01-03"]; b.Power != "failed" {
		t.Errorf("after fullEvery: %+v, want the power failure", b)
	}
}

// TestSiteFilter: the filter is the CLI's selector language; an unselected node stays in
// its unit, dimmed; a bad selector is a 400 naming it and the inventory's words.
func TestSiteFilter(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		selector string
		want     []string
	}{
		{selector: "rack=b01", want: []string{"gpu-b01-40"}},
		{selector: "role=spare", want: []string{"spare-a01"}},
		{selector: "gpu-a01-*", want: []string{"gpu-a01-01", "gpu-a01-03"}},
		{selector: "gpu-a01-03 rack=b01", want: []string{"gpu-a01-03", "gpu-b01-40"}},
		{selector: "all", want: []string{"gpu-a01-01", "gpu-a01-03", "gpu-b01-40", "spare-a01"}},
	} {
		t.Run(tc.selector, func(t *testing.T) {
			site := decode[Site](t, r.get("/ui/api/site?select="+url.QueryEscape(tc.selector)))
			var sel []string
			for _, b := range boxes(site) {
				if !b.Dim {
					sel = append(sel, b.Name)
				}
			}
			if fmt.Sprint(sorted(sel)) != fmt.Sprint(tc.want) || site.Selected != len(tc.want) || len(boxes(site)) != 4 {
				t.Errorf("selected %v (%d of %d drawn), want %v", sorted(sel), site.Selected, len(boxes(site)), tc.want)
			}
		})
	}
	w := r.get("/ui/api/site?select=" + url.QueryEscape("rack="))
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `filter \"rack=\"`) {
		t.Errorf("bad selector: %d %s", w.Code, w.Body.String())
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestNodeView: the node view lists failed checks first with provision report's columns,
// pairs storage rates with the profile's minimums, groups network hops by network in the
// agent's order (a network name with a dot included), folds events into phase stays,
// shows the GPUs and BMC, and escapes what the agent wrote.
func TestNodeView(t *testing.T) {
	r := newRig(t)
	t0 := r.now.Add(-10 * time.Minute)
	r.phase("gpu-a01-01", "powering", "up.started", t0)
	r.phase("gpu-a01-01", "pxe", "bmc.power.ok", t0.Add(10*time.Second))
	r.phase("gpu-a01-01", "pxe", "dhcp.ack", t0.Add(12*time.Second))
	r.phase("gpu-a01-01", "booting", "http.kernel", t0.Add(30*time.Second))
	r.phase("gpu-a01-01", "failed", "agent.report.fail", t0.Add(90*time.Second))
	hw := &check.Hardware{GPUs: []check.GPU{{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1", PCI: "0000:1b:00.0"}}}
	r.report("gpu-a01-01", t0.Add(90*time.Second), hw,
		check.Result{Name: "net.stor.a.mtu", Status: check.Fail, Observed: "1500", Expected: "9000", Message: "stor.a (VLAN 200) on ens1.200: jumbo frames dropped\x1b[2J"},
		check.Result{Name: "net.stor.a.link", Status: check.Pass, Observed: "ens1"},
		check.Result{Name: "net.provisioning.gateway", Status: check.Pass},
		check.Result{Name: "net.provisioning.link", Status: check.Pass},
		check.Result{Name: "storage./raid.read", Status: check.Pass, Observed: "6512 MB/s (1024 MiB in 0.2s, 4 jobs, O_DIRECT)", Expected: "≥ 6000 MB/s"},
		check.Result{Name: "storage./raid.write", Status: check.Fail, Observed: "1210 MB/s (1024 MiB in 0.9s, 4 jobs, O_DIRECT)", Expected: "≥ 3000 MB/s"},
		check.Result{Name: "gpu.count", Status: check.Pass, Observed: "8", Expected: "8"},
		check.Result{Name: "gpu.pcie", Status: check.Warn, Observed: "Gen4 x16"},
	)
	v := decode[NodeView](t, r.get("/ui/api/nodes/gpu-a01-01"))

	var order []string
	for _, c := range v.Checks {
		order = append(order, string(c.Status)+" "+c.Name)
	}
	want := "[fail net.stor.a.mtu fail storage./raid.write warn gpu.pcie pass gpu.count pass net.provisioning.gateway pass net.provisioning.link pass net.stor.a.link pass storage./raid.read]"
	if fmt.Sprint(order) != want {
		t.Errorf("checks\n got %v\nwant %s", order, want)
	}
	if v.Report == nil || v.Report.Failed != 2 || v.Report.Warned != 1 || v.Report.Passed != 5 || v.Report.Agent != "test-agent" {
		t.Errorf("report head %+v", v.Report)
	}
	if m := v.Checks[0].Message; strings.ContainsRune(m, 0x1b) || !strings.Contains(m, `\x1b[2J`) {
		t.Errorf("the agent's escape sequence reached the page: %q", m)
	}
	if fmt.Sprintf("%+v", v.Storage) != fmt.Sprintf("%+v", []Rate{
		{Mount: "/raid", Op: "write", MBps: 1210, MinMBps: 3000, Status: "fail", Observed: "1210 MB/s (1024 MiB in 0.9s, 4 jobs, O_DIRECT)"},
		{Mount: "/raid", Op: "read", MBps: 6512, MinMBps: 6000, Status: "pass", Observed: "6512 MB/s (1024 MiB in 0.2s, 4 jobs, O_DIRECT)"},
	}) {
		t.Errorf("storage %+v", v.Storage)
	}
	var nets []string
	for _, n := range v.Networks {
		var hs []string
		for _, h := range n.Hops {
			hs = append(hs, h.Name+"="+string(h.Status))
		}
		nets = append(nets, n.Network+":"+strings.Join(hs, ","))
	}
	if got := strings.Join(nets, " "); got != "provisioning:link=pass,gateway=pass stor.a:link=pass,mtu=fail" {
		t.Errorf("networks %s", got)
	}
	var spans []string
	for _, s := range v.History {
		spans = append(spans, fmt.Sprintf("%s:%.0f:%v", s.Phase, s.Seconds, s.Open))
	}
	if got := strings.Join(spans, " "); got != "powering:10:false pxe:20:false booting:60:false failed:510:true" {
		t.Errorf("history %s", got)
	}
	if len(v.GPUs) != 1 || v.GPUs[0].Name != "NVIDIA H100 80GB HBM3" {
		t.Errorf("gpus %+v", v.GPUs)
	}
	if v.BMC.Address != "10.60.0.11" || v.BMC.Protocol != "redfish" || v.Rack != "a01" || v.Unit != 1 || v.Height != 2 {
		t.Errorf("bmc/placement %+v %s U%d h%d", v.BMC, v.Rack, v.Unit, v.Height)
	}
	if len(v.Events) != 6 || v.Events[0].Kind != "up.started" || v.Status.Phase != "failed" {
		t.Errorf("events %d first %+v, status %+v", len(v.Events), v.Events[0], v.Status)
	}

	if w := r.get("/ui/api/nodes/nope"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "node nope is not in the inventory") {
		t.Errorf("unknown node: %d %s", w.Code, w.Body.String())
	}
	// A node in the inventory that serve has no record of yet: enrolled, no report.
	if v := decode[NodeView](t, r.get("/ui/api/nodes/spare-a01")); v.Status.Phase != "enrolled" || v.Report != nil || len(v.Checks) != 0 {
		t.Errorf("unseen node %+v", v.Status)
	}
}

// TestNetworksMatrix: one row per node, one cell per network it has an interface on or
// was checked on, each column the worst of its hops, and the first failed hop named.
func TestNetworksMatrix(t *testing.T) {
	r := newRig(t)
	r.report("gpu-a01-01", r.now, nil,
		check.Result{Name: "net.provisioning.link", Status: check.Pass},
		check.Result{Name: "net.provisioning.carrier", Status: check.Pass},
		check.Result{Name: "net.provisioning.gateway", Status: check.Pass},
		check.Result{Name: "net.stor.a.link", Status: check.Pass},
		check.Result{Name: "net.stor.a.vlan", Status: check.Pass},
		check.Result{Name: "net.stor.a.speed", Status: check.Warn},
		check.Result{Name: "net.stor.a.gateway", Status: check.Fail, Message: "no ARP reply from 10.50.200.1"},
		check.Result{Name: "net.stor.a.mtu", Status: check.Fail, Message: "9000-byte probe lost"},
		check.Result{Name: "net.stor.a.lldp", Status: check.Pass, Observed: "leaf-a01 Ethernet12"},
	)
	m := decode[Networks](t, r.get("/ui/api/networks"))
	if len(m.Networks) != 2 || m.Networks[1].Name != "stor.a" || m.Networks[1].VLAN != 200 || m.Networks[1].MTU != 9000 || m.Networks[0].MTU != 1500 {
		t.Fatalf("networks %+v", m.Networks)
	}
	if len(m.Nodes) != 4 {
		t.Fatalf("rows %d", len(m.Nodes))
	}
	row := m.Nodes[0]
	if row.Name != "gpu-a01-01" {
		t.Fatalf("first row %s", row.Name)
	}
	for _, tc := range []struct {
		network string
		want    Cell
	}{
		{network: "provisioning", want: Cell{Interface: "eno1", Link: "pass", Gateway: "pass"}},
		{network: "stor.a", want: Cell{Interface: "ens1", Link: "warn", VLAN: "pass", MTU: "fail", Gateway: "fail", LLDP: "pass", Failed: "mtu: 9000-byte probe lost"}},
	} {
		t.Run(tc.network, func(t *testing.T) {
			got := row.Cells[tc.network]
			got.failedRank = 0
			if got != tc.want {
				t.Errorf("cell %+v, want %+v", got, tc.want)
			}
		})
	}
	if c, ok := m.Nodes[1].Cells["stor.a"]; ok {
		t.Errorf("gpu-a01-03 has no stor.a interface and no report, yet a cell %+v", c)
	}
	m = decode[Networks](t, r.get("/ui/api/networks?select=rack%3Db01"))
	if len(m.Nodes) != 1 || m.Nodes[0].Name != "gpu-b01-40" {
		t.Errorf("filtered rows %+v", m.Nodes)
	}
}

// TestAccess: the dashboard answers this host (loopback, or the address the client
// connected to) when the request names the host by address, and anyone else only with
// the control token: as a bearer, or as the cookie the login form sets. A refused page
// is the login form, a refused API call a 401 with the control API's error body.
func TestAccess(t *testing.T) {
	r := newRig(t)
	login := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "http://10.50.0.1:8080/ui/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "10.50.0.77:5000"
		w := httptest.NewRecorder()
		r.h.ServeHTTP(w, req)
		return w
	}
	good := login(testToken)
	if good.Code != http.StatusSeeOther || len(good.Result().Cookies()) != 1 {
		t.Fatalf("login with the token: %d, cookies %v", good.Code, good.Result().Cookies())
	}
	cookie := good.Result().Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || strings.Contains(cookie.Value, testToken) {
		t.Errorf("session cookie %+v: must be HttpOnly, SameSite=Strict and not the token itself", cookie)
	}
	if bad := login("guess"); bad.Code != http.StatusUnauthorized || len(bad.Result().Cookies()) != 0 || !strings.Contains(bad.Body.String(), "not serve's control token") {
		t.Errorf("login with a wrong token: %d, cookies %v", bad.Code, bad.Result().Cookies())
	}

	for _, tc := range []struct {
		name          string
		remote, local string
		host          string
		path          string
		bearer        string
		cookie        *http.Cookie
		want          int
	}{
		{name: "loopback", remote: "127.0.0.1:4000", local: "127.0.0.1:8080", host: "127.0.0.1:8080", path: "/ui/api/site", want: 200},
		{name: "loopback by name localhost", remote: "[::1]:4000", local: "[::1]:8080", host: "localhost:8080", path: "/ui/", want: 200},
		{name: "same host on serve's address", remote: "10.50.0.1:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/site", want: 200},
		{name: "loopback through a rebound DNS name", remote: "127.0.0.1:4000", local: "127.0.0.1:8080", host: "attacker.example:8080", path: "/ui/api/site", want: 401},
		{name: "another host", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/site", want: 401},
		{name: "another host, page", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/", want: 401},
		{name: "another host, event stream", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/events", want: 401},
		{name: "another host with the token", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/site", bearer: testToken, want: 200},
		{name: "another host with a wrong token", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/site", bearer: testToken + "x", want: 401},
		{name: "another host with the session", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "serve.example:8080", path: "/ui/api/site", cookie: cookie, want: 200},
		{name: "another host with a forged session", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/api/site", cookie: &http.Cookie{Name: cookieName, Value: testToken}, want: 401},
		{name: "the login page", remote: "10.50.0.77:4000", local: "10.50.0.1:8080", host: "10.50.0.1:8080", path: "/ui/login", want: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
			req.RemoteAddr = tc.remote
			la, err := net.ResolveTCPAddr("tcp", tc.local)
			if err != nil {
				t.Fatal(err)
			}
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, la))
			if tc.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tc.bearer)
			}
			if tc.cookie != nil {
				req.AddCookie(tc.cookie)
			}
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", w.Code, tc.want, w.Body.String())
			}
			switch {
			case tc.want == 401 && strings.HasPrefix(tc.path, "/ui/api/"):
				if !strings.Contains(w.Body.String(), `"error":"dashboard: this client is not on serve's host`) {
					t.Errorf("refusal body %s", w.Body.String())
				}
			case tc.want == 401 || tc.path == "/ui/login":
				if !strings.Contains(w.Body.String(), `name="token"`) {
					t.Errorf("no login form: %s", w.Body.String())
				}
			}
			if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

// TestAssets: the page and its files come from the binary.
func TestAssets(t *testing.T) {
	r := newRig(t)
	for path, want := range map[string]string{"/ui/": `<script src="app.js"`, "/ui/app.js": "EventSource", "/ui/app.css": "--ready"} {
		w := r.get(path)
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, lacks %q", path, w.Code, want)
		}
	}
}

// sse reads server-sent events from a stream.
type sse struct {
	sc *bufio.Scanner
}

type message struct {
	id, event, data string
}

func (s *sse) next() (message, error) {
	var m message
	for s.sc.Scan() {
		line := s.sc.Text()
		switch {
		case line == "":
			if m.event != "" || m.data != "" {
				return m, nil
			}
		case strings.HasPrefix(line, "id: "):
			m.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			m.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			m.data = line[6:]
		}
	}
	if err := s.sc.Err(); err != nil {
		return m, err
	}
	return m, io.EOF
}

// stream opens the event stream on a real server as the browser's EventSource would.
func (r *rig) stream(base, query, lastID string) (*sse, func()) {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/ui/api/events"+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		r.t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	return &sse{sc: sc}, func() { cancel(); resp.Body.Close() }
}

// TestEventStream: updates are pushed from the state's log, each with the node's box after
// it; a reconnect with Last-Event-ID resumes after it without loss or repeat; a resume
// point the log no longer holds (or never held) gets "reset".
func TestEventStream(t *testing.T) {
	r := newRig(t)
	srv := httptest.NewServer(r.h)
	t.Cleanup(srv.Close)
	r.phase("gpu-a01-01", "powering", "up.started", r.now)
	first, _ := r.store.LastSeq()

	s, stop := r.stream(srv.URL, "", "")
	r.phase("gpu-a01-01", "pxe", "dhcp.ack", r.now)
	r.phase("gpu-b01-40", "booting", "http.kernel", r.now)
	var got []Update
	for len(got) < 2 {
		m, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if m.event != "update" {
			continue
		}
		var u Update
		if err := json.Unmarshal([]byte(m.data), &u); err != nil {
			t.Fatal(err)
		}
		if m.id != fmt.Sprint(u.Event.Seq) {
			t.Errorf("id %s for seq %d", m.id, u.Event.Seq)
		}
		got = append(got, u)
	}
	stop()
	if got[0].Event.Seq != first+1 || got[0].Event.Kind != "dhcp.ack" || got[0].Box == nil || got[0].Box.Phase != "pxe" || got[0].Box.Unit != 1 {
		t.Errorf("first update %+v box %+v: want the event after the stream opened (seq %d)", got[0].Event, got[0].Box, first+1)
	}
	if got[1].Box == nil || got[1].Box.Name != "gpu-b01-40" || got[1].Box.Phase != "booting" {
		t.Errorf("second update box %+v", got[1].Box)
	}

	// Disconnected (serve restarting, say) while two more happen: the reconnect resumes.
	r.phase("gpu-a01-03", "powering", "up.started", r.now)
	r.phase("gpu-a01-03", "pxe", "dhcp.ack", r.now)
	s, stop = r.stream(srv.URL, "?after=0", fmt.Sprint(got[1].Event.Seq))
	var seqs []uint64
	for len(seqs) < 2 {
		m, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if m.event == "update" {
			var u Update
			json.Unmarshal([]byte(m.data), &u)
			seqs = append(seqs, u.Event.Seq)
		}
	}
	stop()
	if seqs[0] != got[1].Event.Seq+1 || seqs[1] != got[1].Event.Seq+2 {
		t.Errorf("resumed at %v, want %d and %d (Last-Event-ID wins over after=)", seqs, got[1].Event.Seq+1, got[1].Event.Seq+2)
	}

	// A resume point past the log's end: the client followed another state.
	s, stop = r.stream(srv.URL, "?after=999999", "")
	m, err := s.next()
	stop()
	if err != nil || m.event != "reset" {
		t.Errorf("after=999999: %+v %v, want reset", m, err)
	}
	w := r.get("/ui/api/events?after=x")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "want an event sequence number") {
		t.Errorf("after=x: %d %s", w.Code, w.Body.String())
	}
}
