package api_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

type okPower struct{}

func (okPower) PXECycle(context.Context, lifecycle.Target) error { return nil }

const (
	macA = "52:54:00:0a:00:01"
	macB = "52:54:00:0b:00:02"
)

// stack is serve's core on a temp state dir: nodes a and b power-cycled into pxe, each
// with its bootstrap exchanged for its client certificate, and the agent API over
// mutual TLS with the pinned CA.
type stack struct {
	dir      string
	store    *state.Bolt
	machine  *lifecycle.Machine
	creds    *provisioner.Credentials
	ta, tb   string // the bootstrap secrets (used)
	agent    *httptest.Server
	clients  map[string]*http.Client // by the certificate they present: "a", "b", "" none
	expected atomic.Int32
}

func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{dir: t.TempDir(), clients: map[string]*http.Client{}}
	var err error
	if s.store, err = state.Open(s.dir, state.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	p, err := pki.LoadOrCreate(pki.Dir(s.dir), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s.creds = provisioner.NewCredentials(s.store, p, time.Hour, 0)
	s.machine = lifecycle.New(s.store, okPower{}, s.creds, lifecycle.Config{})
	targets := []lifecycle.Target{{Name: "a", MAC: macA, BMC: "redfish a"}, {Name: "b", MAC: macB, BMC: "ipmi b"}}
	if _, err := s.machine.Up(targets, lifecycle.UpOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.machine.Tick(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.machine.Drain()
	if s.ta, err = s.creds.ForBoot("a", macA, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if s.tb, err = s.creds.ForBoot("b", macB, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	h := api.AgentHandler(api.AgentConfig{Tokens: s.creds, Lifecycle: s.machine, CAPEM: p.CAPEM(), Expect: func(node string) (*expect.Expectations, error) {
		s.expected.Add(1)
		return &expect.Expectations{Node: node, GPU: &expect.GPU{Count: 0}}, nil
	}})
	s.agent = httptest.NewUnstartedServer(h)
	s.agent.TLS = p.ServerTLSConfig()
	s.agent.StartTLS()
	t.Cleanup(s.agent.Close)
	client := func(cert *tls.Certificate) *http.Client {
		cfg, err := pki.PinnedMutualConfig(p.Fingerprint(), "127.0.0.1", func() (*tls.Certificate, error) { return cert, nil })
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	s.clients[""] = client(nil)
	for node, secret := range map[string]string{"a": s.ta, "b": s.tb} {
		keyPEM, csrPEM, err := pki.NewKeyAndCSR(node)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(api.CertRequest{Bootstrap: secret, CSR: string(csrPEM)})
		code, resp, _ := s.call(t, "POST", "/api/v1/nodes/"+node+"/bootstrap", "", string(body))
		var cr api.CertResponse
		if code != 200 || json.Unmarshal([]byte(resp), &cr) != nil || !strings.Contains(cr.CA, "BEGIN CERTIFICATE") {
			t.Fatalf("bootstrap exchange for %s: %d %s", node, code, resp)
		}
		kc, err := tls.X509KeyPair([]byte(cr.Certificate), keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		s.clients[node] = client(&kc)
	}
	return s
}

// call makes a request presenting who's certificate ("" none).
func (s *stack) call(t *testing.T, method, path, who string, body string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, s.agent.URL+path, strings.NewReader(body))
	resp, err := s.clients[who].Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const passing = `{"node":"a","results":[{"name":"gpu.count","status":"pass","observed":"0","expected":"0"},{"name":"storage./data.write","status":"warn","message":"slow"}],"failed":false}`

const failing = `{"node":"a","results":[{"name":"net.storage.vlan","status":"fail","observed":"no tag","expected":"VLAN 20","message":"the switch port is not trunking VLAN 20"},{"name":"gpu.count","status":"pass"}],"failed":true}`

func TestReportAccepted(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	code, body, _ := s.call(t, "POST", "/api/v1/nodes/a/report", "a", passing)
	if code != 200 || !strings.Contains(body, `"ready"`) {
		t.Fatalf("report = %d %s, want 200 ready", code, body)
	}
	n, _ := s.store.Get("a")
	if n.Phase != "ready" || string(n.Report) != passing {
		t.Errorf("stored phase %s report %s", n.Phase, n.Report)
	}
}

func TestReportFailedChecks(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	code, body, _ := s.call(t, "POST", "/api/v1/nodes/a/report", "a", failing)
	if code != 200 || !strings.Contains(body, `"failed"`) {
		t.Fatalf("report = %d %s", code, body)
	}
	n, _ := s.store.Get("a")
	for _, want := range []string{"net.storage.vlan", "VLAN 20", "not trunking"} {
		if !strings.Contains(n.Reason, want) {
			t.Errorf("reason %q does not mention %q", n.Reason, want)
		}
	}
}

func TestReportRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, node, who string
		code            int
		says            string
	}{
		{"another node's certificate", "a", "b", http.StatusForbidden, "node b's"},
		{"no certificate", "a", "", http.StatusUnauthorized, "client certificate"},
		{"unknown node", "zz", "", http.StatusUnauthorized, "client certificate"},
		{"unknown node, a's certificate", "zz", "a", http.StatusForbidden, "node a's"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newStack(t)
			before, _ := s.store.LastSeq()
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/api/v1/nodes/" + tc.node + "/report", passing},
				{"GET", "/api/v1/nodes/" + tc.node + "/expect", ""},
				{"POST", "/api/v1/nodes/" + tc.node + "/hello", ""},
				{"POST", "/api/v1/nodes/" + tc.node + "/installed", ""},
			} {
				code, body, hdr := s.call(t, req.method, req.path, tc.who, req.body)
				if code != tc.code || !strings.Contains(body, tc.says) {
					t.Errorf("%s %s = %d %s, want %d saying %q", req.method, req.path, code, body, tc.code, tc.says)
				}
				if code == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if strings.Contains(body, "provisioned") || strings.Contains(body, "stale") {
					t.Errorf("the refusal says whether node %s is being provisioned: %s", tc.node, body)
				}
			}
			after, _ := s.store.LastSeq()
			n, _ := s.store.Get("a")
			if after != before || n.Report != nil || n.Phase != "pxe" || n.Installed || s.expected.Load() != 0 {
				t.Errorf("a refused request changed something: events %d→%d, report %s, phase %s, expectations built %d",
					before, after, n.Report, n.Phase, s.expected.Load())
			}
		})
	}
}

// The bootstrap works once; a replay is refused (401), names no secret and is an event
// with its source address; a wrong one is refused and recorded nowhere.
func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	_, csrPEM, _ := pki.NewKeyAndCSR("a")
	for _, tc := range []struct {
		name, secret string
		events       int
	}{
		{name: "replayed", secret: s.ta, events: 1},
		{name: "wrong", secret: s.ta[:len(s.ta)-2] + "xx", events: 0},
		{name: "another node's", secret: s.tb, events: 0},
	} {
		before, _ := s.store.LastSeq()
		body, _ := json.Marshal(api.CertRequest{Bootstrap: tc.secret, CSR: string(csrPEM)})
		code, resp, _ := s.call(t, "POST", "/api/v1/nodes/a/bootstrap", "", string(body))
		if code != http.StatusUnauthorized || strings.Contains(resp, tc.secret) || strings.Contains(resp, "CERTIFICATE") {
			t.Errorf("%s bootstrap: %d %s, want 401 without secret or certificate", tc.name, code, resp)
		}
		evs, _ := s.store.Events(state.Query{After: before})
		if len(evs) != tc.events {
			t.Errorf("%s bootstrap logged %d events, want %d: %+v", tc.name, len(evs), tc.events, evs)
		}
		for _, e := range evs {
			if e.Kind != "bootstrap.replayed" || !strings.Contains(e.Detail, "from 127.0.0.1") || strings.Contains(e.Detail, tc.secret) {
				t.Errorf("replay event %+v: want bootstrap.replayed from 127.0.0.1, without the secret", e)
			}
		}
	}
	if code, resp, _ := s.call(t, "POST", "/api/v1/nodes/a/bootstrap", "", `{"bootstrap":"x"}`); code != http.StatusBadRequest {
		t.Errorf("bootstrap without a CSR: %d %s", code, resp)
	}
}

func TestReportBadBody(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	for _, body := range []string{`{`, `{"node":"a"}`, `{"node":"b","results":[]}`} {
		code, msg, _ := s.call(t, "POST", "/api/v1/nodes/a/report", "a", body)
		if code != http.StatusBadRequest || !strings.Contains(msg, "node") {
			t.Errorf("body %s = %d %s, want 400 naming the node", body, code, msg)
		}
	}
	if n, _ := s.store.Get("a"); n.Report != nil {
		t.Error("a bad report was stored")
	}
}

func TestAgentFlow(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if code, body, _ := s.call(t, "POST", "/api/v1/nodes/a/hello", "a", `{"agent":"v1","stage":"ramdisk"}`); code != 200 || !strings.Contains(body, `"agent"`) {
		t.Fatalf("hello = %d %s", code, body)
	}
	code, body, _ := s.call(t, "GET", "/api/v1/nodes/a/expect", "a", "")
	var x map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &x) != nil || x["node"] != "a" {
		t.Fatalf("expect = %d %s", code, body)
	}
	if n, _ := s.store.Get("a"); n.Phase != "validating" {
		t.Errorf("after expect: %s, want validating", n.Phase)
	}
}

func controlServer(t *testing.T, s *stack, up api.UpFunc) *httptest.Server {
	srv := httptest.NewServer(api.ControlHandler(api.ControlConfig{Store: s.store, Token: "ctl", Up: up}))
	t.Cleanup(srv.Close)
	return srv
}

func TestControl(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.call(t, "POST", "/api/v1/nodes/a/report", "a", failing)
	srv := controlServer(t, s, nil)
	c, err := api.NewClient(srv.URL, "ctl")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns, err := c.Nodes(ctx)
	if err != nil || len(ns) != 2 || ns[0].Phase != lifecycle.Failed || ns[1].Phase != lifecycle.PXE {
		t.Fatalf("nodes = %+v, %v", ns, err)
	}
	if ns[0].Checks == nil || ns[0].Checks.Fail != 1 || ns[0].Checks.Pass != 1 {
		t.Errorf("a's check counts = %+v", ns[0].Checks)
	}
	d, err := c.Node(ctx, "a")
	if err != nil || d.Report == nil || d.Report.Sorted()[0].Name != "net.storage.vlan" {
		t.Fatalf("node a = %+v, %v", d, err)
	}
	var se *api.StatusError
	if _, err := c.Node(ctx, "nope"); !errors.As(err, &se) || se.Code != 404 || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown node = %v", err)
	}
	all, err := c.Events(ctx, "", 0, 0, 0)
	if err != nil || len(all) == 0 {
		t.Fatalf("events = %v, %v", all, err)
	}
	// Resume from the middle: exactly the rest, in order.
	mid := all[len(all)/2].Seq
	rest, err := c.Events(ctx, "", mid, 0, 0)
	if err != nil || len(rest) != len(all)-len(all)/2-1 || rest[0].Seq != mid+1 {
		t.Errorf("events after %d = %d events from %v", mid, len(rest), rest)
	}
	bEvents, err := c.Events(ctx, "b", 0, 0, 0)
	for _, e := range bEvents {
		if e.Node != "b" {
			t.Errorf("node b's events include %s's", e.Node)
		}
	}
	if err != nil || len(bEvents) == 0 {
		t.Errorf("b's events = %v, %v", bEvents, err)
	}
	// Long poll: returns when b's next event arrives, not a's.
	last := bEvents[len(bEvents)-1].Seq
	got := make(chan []state.Event, 1)
	go func() {
		evs, err := c.Events(ctx, "b", last, 0, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		got <- evs
	}()
	time.Sleep(50 * time.Millisecond)
	s.machine.Handle(lifecycle.Event{Node: "a", Kind: lifecycle.DHCPAck})
	s.machine.Handle(lifecycle.Event{Node: "b", Kind: lifecycle.HTTPKernel})
	select {
	case evs := <-got:
		if len(evs) != 1 || evs[0].Kind != "http.kernel" || evs[0].Phase != "booting" {
			t.Errorf("long poll = %+v", evs)
		}
	case <-time.After(5 * time.Second):
		t.Error("long poll did not return on the node's event")
	}
	if _, err := c.Up(ctx, api.UpRequest{Selectors: []string{"all"}}); !errors.As(err, &se) || se.Code != 501 {
		t.Errorf("up without an UpFunc = %v, want 501", err)
	}
}

func TestControlToken(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	srv := controlServer(t, s, nil)
	for _, tok := range []string{"", "wrong", s.ta} { // a node's bootstrap is no control token
		c, _ := api.NewClient(srv.URL, tok)
		_, err := c.Nodes(context.Background())
		var se *api.StatusError
		if !errors.As(err, &se) || se.Code != 401 || !strings.Contains(err.Error(), api.TokenFile) {
			t.Errorf("token %q: %v, want 401 naming %s", tok, err, api.TokenFile)
		}
	}
}

// TestControlUp drives the real lifecycle through the control API: the request's
// selectors and flags reach Machine.Up across the wire, the decisions it takes come
// back, a dry run changes nothing in the state and a real one starts the run.
func TestControlUp(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The inventory's nodes as provisioner.Core.Up resolves them: a and b are under
	// way (newStack), c is new and protected.
	inv := map[string]lifecycle.Target{
		"a": {Name: "a", MAC: macA, BMC: "redfish a"},
		"b": {Name: "b", MAC: macB, BMC: "ipmi b"},
		"c": {Name: "c", MAC: "52:54:00:0c:00:03", BMC: "redfish c", Protected: true},
	}
	var got []api.UpRequest
	srv := controlServer(t, s, func(_ context.Context, req api.UpRequest) (api.UpResponse, error) {
		got = append(got, req)
		if len(req.Selectors) == 0 {
			return api.UpResponse{}, errors.New("no nodes selected")
		}
		var ts []lifecycle.Target
		for _, sel := range req.Selectors {
			tg, ok := inv[sel]
			if !ok {
				return api.UpResponse{}, fmt.Errorf("%s selects no node of the inventory", sel)
			}
			ts = append(ts, tg)
		}
		seq, err := s.store.LastSeq()
		if err != nil {
			return api.UpResponse{}, err
		}
		ds, err := s.machine.Up(ts, lifecycle.UpOptions{Force: req.Force, Reprovision: req.Reprovision, DryRun: req.DryRun})
		return api.UpResponse{Decisions: ds, LastSeq: seq}, err
	})
	c, _ := api.NewClient(srv.URL, "ctl")
	ctx := context.Background()
	before, err := s.store.LastSeq()
	if err != nil {
		t.Fatal(err)
	}
	actions := func(resp api.UpResponse) string {
		var out []string
		for _, d := range resp.Decisions {
			out = append(out, d.Node+":"+string(d.Action)+":"+string(d.Phase))
		}
		return strings.Join(out, " ")
	}

	// Unforced: a resumes, protected c is refused by nodelock; nothing is written.
	resp, err := c.Up(ctx, api.UpRequest{Selectors: []string{"a", "c"}})
	if err != nil || actions(resp) != "a:resume:pxe c:refused:enrolled" || resp.LastSeq != before {
		t.Fatalf("up a c = %s (last seq %d), %v; want a resumed, c refused, last seq %d", actions(resp), resp.LastSeq, err, before)
	}
	if !strings.Contains(resp.Decisions[1].Detail, "--force") {
		t.Errorf("refusal %q does not say --force", resp.Decisions[1].Detail)
	}
	// Forced dry run: c would start, and still nothing is written.
	resp, err = c.Up(ctx, api.UpRequest{Selectors: []string{"c"}, Force: true, DryRun: true})
	if err != nil || actions(resp) != "c:start:enrolled" {
		t.Fatalf("up --force --dry-run c = %s, %v; want c start", actions(resp), err)
	}
	if _, err := s.store.Get("c"); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("a dry run wrote c's record: %v", err)
	}
	if seq, _ := s.store.LastSeq(); seq != before {
		t.Errorf("a dry run logged events: last seq %d, was %d", seq, before)
	}
	// Forced: c enters powering with the force recorded, and its up.started is after
	// the LastSeq the CLI follows from.
	resp, err = c.Up(ctx, api.UpRequest{Selectors: []string{"c"}, Force: true})
	if err != nil || actions(resp) != "c:start:powering" || resp.LastSeq != before {
		t.Fatalf("up --force c = %s (last seq %d), %v", actions(resp), resp.LastSeq, err)
	}
	n, err := s.store.Get("c")
	if err != nil || n.Phase != string(lifecycle.Powering) || !n.Force || n.Run != 1 {
		t.Fatalf("c after up --force = %+v, %v; want powering, forced, run 1", n, err)
	}
	evs, err := c.Events(ctx, "c", resp.LastSeq, 0, 0)
	if err != nil || len(evs) != 1 || evs[0].Kind != string(lifecycle.UpStarted) {
		t.Errorf("c's events after %d = %+v, %v; want one up.started", resp.LastSeq, evs, err)
	}
	if len(got) != 3 || !got[1].DryRun || !got[1].Force || got[2].DryRun || got[2].Selectors[0] != "c" {
		t.Errorf("serve received %+v", got)
	}
	// Errors reach the CLI as 400 with the message.
	var se *api.StatusError
	if _, err := c.Up(ctx, api.UpRequest{}); !errors.As(err, &se) || se.Code != 400 || !strings.Contains(err.Error(), "no nodes selected") {
		t.Errorf("up with no selector = %v; want 400 no nodes selected", err)
	}
	if _, err := c.Up(ctx, api.UpRequest{Selectors: []string{"zz"}}); err == nil || !strings.Contains(err.Error(), "zz selects no node") {
		t.Errorf("up zz = %v", err)
	}
}

func TestConnectUnixAndFallback(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	tok, err := provisioner.LoadOrCreateToken(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := provisioner.ListenUnix(api.SocketPath(s.dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: api.ControlHandler(api.ControlConfig{Store: s.store, Token: tok})}
	go srv.Serve(l)
	if _, err := provisioner.ListenUnix(api.SocketPath(s.dir)); err == nil || !strings.Contains(err.Error(), "another") {
		t.Errorf("second listener = %v, want 'another serve is running'", err)
	}
	ctx := context.Background()
	src, err := api.Connect(ctx, "", s.dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.(*api.Client); !ok {
		t.Fatalf("Connect with serve up = %T, want the API client", src)
	}
	if ns, err := src.Nodes(ctx); err != nil || len(ns) != 2 {
		t.Errorf("nodes over the socket = %v, %v", ns, err)
	}
	src.Close()

	// serve stops but still holds the state (hung): a clear error, not a hang.
	srv.Close()
	if _, err := api.Connect(ctx, "", s.dir); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("Connect with a silent serve holding the state = %v", err)
	}
	// serve is gone: read the state directly.
	s.store.Close()
	src, err = api.Connect(ctx, "", s.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, ok := src.(*api.Local); !ok || !strings.Contains(src.Describe(), "not running") {
		t.Fatalf("Connect without serve = %T %q", src, src.Describe())
	}
	if d, err := src.Node(ctx, "a"); err != nil || d.Phase != lifecycle.PXE {
		t.Errorf("node a from the state = %+v, %v", d, err)
	}
	// Nothing at all.
	if _, err := api.Connect(ctx, "", t.TempDir()); !errors.Is(err, api.ErrNotRunning) || !strings.Contains(err.Error(), "provision serve") {
		t.Errorf("Connect to nothing = %v", err)
	}
}
