package provisioner_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/apitest"
	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/pki"
	"github.com/racklift/racklift/pkg/provisioner"
	"github.com/racklift/racklift/pkg/state"
)

func TestCoreRackUp(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 3, 3, map[int]lab.Faults{2: {Hang: true}})
	r.Start()
	c := r.Client()
	resp, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"all"}})
	if err != nil || len(resp.Decisions) != 3 {
		t.Fatalf("up = %+v, %v", resp, err)
	}
	got := r.WaitDone(c, apitest.Names(3)...)
	for i := range 2 {
		if n := got[apitest.NodeName(i)]; n.Phase != lifecycle.Ready || n.Checks == nil || n.Checks.Pass != 1 {
			t.Errorf("%s: %+v, want ready with its report", n.Name, n)
		}
		if a := r.PowerActions(i); a != 1 {
			t.Errorf("%s: BMC counted %d power actions, want 1", apitest.NodeName(i), a)
		}
		if bo := r.Fleet.BMCs[i].Counts().BootOverrides; bo < 1 {
			t.Errorf("%s: no PXE boot override was set", apitest.NodeName(i))
		}
	}
	hung := got[apitest.NodeName(2)]
	bmcURL := "https://" + r.Fleet.BMCs[2].Addr()
	if hung.Phase != lifecycle.Failed || !strings.Contains(hung.Reason, bmcURL) || !strings.Contains(hung.Reason, "attempt 2/2") {
		t.Errorf("hung BMC's node: %s %q, want failed naming %s", hung.Phase, hung.Reason, bmcURL)
	}
	// Up again: nothing is power-cycled twice.
	resp, err = c.Up(context.Background(), api.UpRequest{Selectors: []string{apitest.NodeName(0)}})
	if err != nil || resp.Decisions[0].Action != lifecycle.Skip {
		t.Errorf("up on a ready node = %+v, %v", resp, err)
	}
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"nope-*"}}); err == nil {
		t.Error("up of a selector naming nothing succeeded")
	}
}

func TestCoreResumesAfterRestart(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 3, 3, nil)
	r.Gate = make(chan struct{}) // agents wait: serve is killed while nodes boot
	r.Start()
	c := r.Client()
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"all"}, Wave: 2}); err != nil {
		t.Fatal(err)
	}
	// Wait for every node to be power-cycled and loading its kernel.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ns, _ := c.Nodes(context.Background())
		booting := 0
		for _, n := range ns {
			if n.Phase == lifecycle.Booting {
				booting++
			}
		}
		if booting == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes did not reach booting: %+v", ns)
		}
		time.Sleep(50 * time.Millisecond)
	}
	last, err := c.Events(context.Background(), "", 0, 0, 0)
	if err != nil || len(last) == 0 {
		t.Fatalf("events before the kill: %d, %v", len(last), err)
	}
	seq := last[len(last)-1].Seq
	r.Kill()      // SIGKILL of the core's process: no drain, no close
	close(r.Gate) // agents start talking while serve is down: they retry
	time.Sleep(300 * time.Millisecond)
	r.Start()
	c = r.Client()
	got := r.WaitDone(c, apitest.Names(3)...)
	for i := range 3 {
		if n := got[apitest.NodeName(i)]; n.Phase != lifecycle.Ready {
			t.Errorf("%s after restart: %s %q", n.Name, n.Phase, n.Reason)
		}
		if a := r.PowerActions(i); a != 1 {
			t.Errorf("%s: BMC counted %d power actions across the restart, want 1", apitest.NodeName(i), a)
		}
	}
	// The log kept going from where it was: nothing before the kill is lost or repeated.
	evs, err := c.Events(context.Background(), "", 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if uint64(len(evs)) <= seq {
		t.Errorf("log has %d events, had %d before the restart", len(evs), seq)
	}
}

func TestCoreNodeAddedWhileServing(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 1, nil)
	r.Start()
	c := r.Client()
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{apitest.NodeName(1)}}); err == nil {
		t.Fatal("up of a node not yet in the inventory succeeded")
	}
	r.WriteInventory(2) // the operator adds node-0002 to the rack file
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{apitest.NodeName(1)}}); err != nil {
		t.Fatal(err)
	}
	if n := r.WaitDone(c, apitest.NodeName(1))[apitest.NodeName(1)]; n.Phase != lifecycle.Ready || r.PowerActions(1) != 1 || r.PowerActions(0) != 0 {
		t.Errorf("added node: %s %q; power actions %d (node-0001: %d)", n.Phase, n.Reason, r.PowerActions(1), r.PowerActions(0))
	}
}

// agentAs is an agent client of the rig's agent API holding bundle's certificate (none
// when bundle has none), pinned as the nodes are.
func agentAs(t *testing.T, r *apitest.Rack, node string, bundle *identity.Bundle) *report.Client {
	t.Helper()
	cmd := cmdlineOf(t, r, node)
	c, err := report.NewClient(cmd[pki.CmdlineAPI], cmd[pki.CmdlineCA])
	if err != nil {
		t.Fatal(err)
	}
	if bundle != nil {
		if err := c.SetIdentity(bundle.CertPEM, bundle.KeyPEM); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// cmdlineOf is the boot arguments node booted with; the test fails if it never booted.
func cmdlineOf(t *testing.T, r *apitest.Rack, node string) map[string]string {
	t.Helper()
	cl, ok := r.Cmdlines.Load(node)
	if !ok {
		t.Fatalf("%s never booted: no boot arguments", node)
	}
	return cl.(map[string]string)
}

func bundleOf(t *testing.T, r *apitest.Rack, node string) identity.Bundle {
	t.Helper()
	b, ok := r.Identities.Load(node)
	if !ok {
		t.Fatalf("%s's agent got no certificate", node)
	}
	return b.(identity.Bundle)
}

// code is the HTTP status of a refused agent call (0: accepted).
func code(err error) int {
	var se *report.StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	if err != nil {
		return -1
	}
	return 0
}

const forged = `{"node":"node-0001","agent":"forged","results":[{"name":"x","status":"fail"}],"failed":true}`

func TestCoreFailedReportAndCredentials(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 2, nil)
	r.FailNode = apitest.NodeName(1)
	// No BMC here hangs, so the BMC deadline and the powering phase's are hang guards:
	// the rig's 2 s made a loaded machine's BMC call time out, and node-0001 never booted.
	r.Lifecycle.BMCTimeout = time.Minute
	r.Lifecycle.Timeouts[lifecycle.Powering] = 2 * time.Minute
	core := r.StartInProcess()
	c := r.Client()
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	got := r.WaitDone(c, apitest.Names(2)...)
	n0, n1 := apitest.NodeName(0), apitest.NodeName(1)
	if n := got[n1]; n.Phase != lifecycle.Failed || !strings.Contains(n.Reason, "storage./data.write") || !strings.Contains(n.Reason, "812 MB/s") {
		t.Errorf("failing agent: %s %q", n.Phase, n.Reason)
	}
	// Everything below acts as node-0001's agent: it must have booted and be ready.
	if n := got[n0]; n.Phase != lifecycle.Ready {
		t.Fatalf("%s: %s %q, want ready", n0, n.Phase, n.Reason)
	}
	before, _ := c.Node(context.Background(), n0)
	b1 := bundleOf(t, r, n1)
	secret0 := cmdlineOf(t, r, n0)[pki.CmdlineBootstrap]
	if secret0 == "" {
		t.Fatalf("%s's boot arguments carry no %s", n0, pki.CmdlineBootstrap)
	}
	// The node's boot events (DHCP, HTTP) reach the store through the event stream,
	// which on a loaded machine can lag behind the agent API's writes: wait for the last
	// one (the initrd) before taking the log's position, or it lands after it and looks
	// logged by a refused call (failed 1 run in 20).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		evs, _ := core.Store.Events(state.Query{Node: n0})
		if slices.ContainsFunc(evs, func(e state.Event) bool { return strings.Contains(e.Detail, "initrd.img") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s's initrd fetch never reached the event log: %+v", n0, evs)
		}
	}
	evBefore, _ := core.Store.LastSeq()

	// A report for node-0001 with node-0002's certificate, with none, or after replaying
	// node-0001's used bootstrap, is refused and changes nothing.
	for _, tc := range []struct {
		name string
		do   func() error
		want int
	}{
		{name: "another node's certificate", do: func() error { return agentAs(t, r, n0, &b1).Post(context.Background(), n0, []byte(forged)) }, want: 403},
		{name: "no certificate", do: func() error { return agentAs(t, r, n0, nil).Post(context.Background(), n0, []byte(forged)) }, want: 401},
		{name: "replayed bootstrap", do: func() error {
			_, err := agentAs(t, r, n0, nil).Exchange(context.Background(), n0, secret0)
			return err
		}, want: 401},
		{name: "made-up bootstrap", do: func() error {
			_, err := agentAs(t, r, n0, nil).Exchange(context.Background(), n0, "bm90LWEtcmVhbC1ib290c3RyYXAtc2VjcmV0LXZhbHVl")
			return err
		}, want: 401},
	} {
		if got := code(tc.do()); got != tc.want {
			t.Errorf("%s: answered %d, want %d", tc.name, got, tc.want)
		}
	}
	after, _ := c.Node(context.Background(), n0)
	if after.Phase != lifecycle.Ready || after.ReportAt != before.ReportAt {
		t.Errorf("a refused call changed node-0001: %s, report at %v → %v", after.Phase, before.ReportAt, after.ReportAt)
	}
	// The replay is an event naming where it came from.
	evs, _ := core.Store.Events(state.Query{Node: n0, After: evBefore})
	var replays []string
	for _, e := range evs {
		if e.Kind == "bootstrap.replayed" {
			replays = append(replays, e.Detail)
		}
		if e.Kind != "bootstrap.replayed" {
			t.Errorf("a refused call logged %s: %s", e.Kind, e.Detail)
		}
	}
	if len(replays) != 1 || !strings.Contains(replays[0], "from 127.0.0.1") {
		t.Errorf("replay events %q, want one naming 127.0.0.1", replays)
	}
	// The node's own certificate still works.
	if err := agentAs(t, r, n0, ptr(bundleOf(t, r, n0))).Hello(context.Background(), n0, "installed"); err != nil {
		t.Errorf("node-0001's own certificate: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

// A new run supersedes the previous run's certificate: its report is refused with 409
// and changes nothing; the new run's agent gets a fresh one. `provision node revoke`
// (Core.Revoke) and removing the node from the inventory revoke (401).
func TestCoreRunsAndRevocation(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 2, nil)
	core := r.StartInProcess()
	c := r.Client()
	n0, n1 := apitest.NodeName(0), apitest.NodeName(1)
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	r.WaitDone(c, n0, n1)
	run1 := bundleOf(t, r, n0)
	old := agentAs(t, r, n0, &run1)
	if err := old.Installed(context.Background(), n0); err != nil {
		t.Fatalf("installed with the node's certificate: %v", err)
	}
	if n, _ := core.Store.Get(n0); !n.Installed {
		t.Fatal("installed call did not mark the node installed")
	}
	st, _ := c.Node(context.Background(), n0)
	if !st.Installed {
		t.Errorf("status does not show %s installed: %+v", n0, st.NodeStatus)
	}

	// Run 2, held before its agent talks: run 1's certificate is refused from the start.
	r.Gate = make(chan struct{})
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{n0}, Reprovision: true}); err != nil {
		t.Fatal(err)
	}
	if n, _ := core.Store.Get(n0); n.Installed || n.Run != 2 {
		t.Errorf("up --reprovision: installed %v, run %d; want cleared, run 2", n.Installed, n.Run)
	}
	before, _ := core.Store.Get(n0)
	for what, do := range map[string]func() error{
		"report":    func() error { return old.Post(context.Background(), n0, []byte(forged)) },
		"hello":     func() error { return old.Hello(context.Background(), n0, "ramdisk") },
		"installed": func() error { return old.Installed(context.Background(), n0) },
		"renew":     func() error { _, err := old.Renew(context.Background(), n0); return err },
	} {
		if got := code(do()); got != 409 && got != 401 {
			t.Errorf("run 1's %s after run 2 started: %d, want 409 or 401", what, got)
		}
	}
	after, _ := core.Store.Get(n0)
	if after.Phase != before.Phase || !after.ReportAt.Equal(before.ReportAt) || after.Installed || string(after.Report) != string(before.Report) {
		t.Errorf("run 1's refused calls changed node-0001: %s → %s", before.Phase, after.Phase)
	}
	close(r.Gate)
	if n := r.WaitDone(c, n0)[n0]; n.Phase != lifecycle.Ready || n.Run != 2 {
		t.Fatalf("run 2: %s run %d (%s)", n.Phase, n.Run, n.Reason)
	}
	run2 := bundleOf(t, r, n0)
	if string(run2.CertPEM) == string(run1.CertPEM) {
		t.Fatal("run 2's agent holds run 1's certificate")
	}
	if got := code(old.Post(context.Background(), n0, []byte(forged))); got != 409 {
		t.Errorf("run 1's report during run 2: %d, want 409", got)
	}

	// Renewal: the new certificate works, the one it replaces is superseded.
	cur := agentAs(t, r, n0, &run2)
	renewed, err := cur.Renew(context.Background(), n0)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	if err := cur.Hello(context.Background(), n0, "installed"); err != nil {
		t.Errorf("hello with the renewed certificate: %v", err)
	}
	if got := code(agentAs(t, r, n0, &run2).Hello(context.Background(), n0, "installed")); got != 409 {
		t.Errorf("the certificate renewal replaced: %d, want 409", got)
	}

	// provision node revoke: refused with 401, nothing changes.
	if err := core.Revoke(context.Background(), n0); err != nil {
		t.Fatal(err)
	}
	before, _ = core.Store.Get(n0)
	if got := code(agentAs(t, r, n0, &renewed).Post(context.Background(), n0, []byte(forged))); got != 401 {
		t.Errorf("report with a revoked certificate: %d, want 401", got)
	}
	if after, _ := core.Store.Get(n0); !after.ReportAt.Equal(before.ReportAt) {
		t.Error("a revoked certificate's report was stored")
	}
	if err := core.Revoke(context.Background(), "nope"); err == nil {
		t.Error("revoking a node serve does not know succeeded")
	}

	// Removed from the inventory: node-0002's certificate is revoked.
	b1 := bundleOf(t, r, n1)
	if err := core.SetInventory(r.WriteInventory(1)); err != nil {
		t.Fatal(err)
	}
	if got := code(agentAs(t, r, n1, &b1).Hello(context.Background(), n1, "installed")); got != 401 {
		t.Errorf("node removed from the inventory: %d, want 401", got)
	}
}

// Issue 14 item 7: api.token's mode is checked on every start, not only at creation, and
// a state dir that existed with a looser mode is tightened.
func TestTokenAndStateDirTightened(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tok, err := provisioner.LoadOrCreateToken(dir)
	must(err)
	p := api.TokenPath(dir)
	must(os.Chmod(p, 0o644))
	must(os.Chmod(dir, 0o755))
	again, err := provisioner.LoadOrCreateToken(dir)
	must(err)
	if again != tok {
		t.Fatal("the token changed")
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("api.token left at %04o", fi.Mode().Perm())
	}
	s, err := state.Open(dir, state.Options{})
	must(err)
	s.Close()
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir left at %04o", fi.Mode().Perm())
	}
}
