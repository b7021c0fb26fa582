package provisioner_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/apitest"
	lab "github.com/racklift/racklift/internal/lab/redfish"
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

func TestCoreFailedReportAndTokens(t *testing.T) {
	t.Parallel()
	r := apitest.NewRack(t, 2, 2, nil)
	r.FailNode = apitest.NodeName(1)
	r.Start()
	c := r.Client()
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	got := r.WaitDone(c, apitest.Names(2)...)
	if n := got[apitest.NodeName(1)]; n.Phase != lifecycle.Failed || !strings.Contains(n.Reason, "storage./data.write") || !strings.Contains(n.Reason, "812 MB/s") {
		t.Errorf("failing agent: %s %q", n.Phase, n.Reason)
	}
	before, _ := c.Node(context.Background(), apitest.NodeName(0))
	// A report for node-0001 with node-0002's token, or a made-up one, is refused.
	cl0, _ := r.Cmdlines.Load(apitest.NodeName(0))
	cl1, _ := r.Cmdlines.Load(apitest.NodeName(1))
	cmd0, cmd1 := cl0.(map[string]string), cl1.(map[string]string)
	cfg, _ := pki.PinnedClientConfig(cmd0[pki.CmdlineCA], "127.0.0.1")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	for _, tc := range []struct {
		token string
		code  int
	}{{cmd1[pki.CmdlineToken], 403}, {"forged", 401}, {"", 401}} {
		req, _ := http.NewRequest("POST", cmd0[pki.CmdlineAPI]+"/api/v1/nodes/"+apitest.NodeName(0)+"/report",
			strings.NewReader(`{"node":"node-0001","results":[{"name":"x","status":"fail"}],"failed":true}`))
		req.Header.Set("Authorization", "Bearer "+tc.token)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("report with token %.6s...: %s, want %d", tc.token, resp.Status, tc.code)
		}
	}
	after, _ := c.Node(context.Background(), apitest.NodeName(0))
	if after.Phase != lifecycle.Ready || after.ReportAt != before.ReportAt {
		t.Errorf("a refused report changed node-0001: %s, report at %v → %v", after.Phase, before.ReportAt, after.ReportAt)
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
