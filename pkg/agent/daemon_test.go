package agent

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// errDown is what the fake server answers while it is down.
var errDown = errors.New("dial tcp 10.10.0.2:8443: connect: connection refused")

// fakeServer is the agent API as the daemon sees it (ReportClient): it can be down, gives
// its expectations and keeps the reports it accepted.
type fakeServer struct {
	mu      sync.Mutex
	up      bool
	exp     expect.Expectations
	hellos  []string
	fetches int
	reports []check.Report
}

func (s *fakeServer) setUp(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = up
}

func (s *fakeServer) Hello(_ context.Context, node, stage string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return errDown
	}
	s.hellos = append(s.hellos, node+" "+stage)
	return nil
}

func (s *fakeServer) Expectations(_ context.Context, node string) (*expect.Expectations, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return nil, errDown
	}
	s.fetches++
	e := s.exp // the daemon may change its copy
	return &e, nil
}

func (s *fakeServer) Post(_ context.Context, node string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return errDown
	}
	var r check.Report
	if err := json.Unmarshal(body, &r); err != nil || r.Node != node {
		return &report.StatusError{Code: 400, Body: "bad report"}
	}
	s.reports = append(s.reports, r)
	return nil
}

func (s *fakeServer) got() []check.Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]check.Report(nil), s.reports...)
}

// fakeChecks is the machine (CheckRunner): it records what each run was given and
// answers with results.
type fakeChecks struct {
	mu      sync.Mutex
	seen    []expect.Expectations
	measure []bool
	results func(ctx context.Context, exp *expect.Expectations) []check.Result
}

func (c *fakeChecks) Run(ctx context.Context, exp *expect.Expectations, throughput bool) []check.Result {
	c.mu.Lock()
	c.seen = append(c.seen, *exp)
	c.measure = append(c.measure, throughput)
	c.mu.Unlock()
	if c.results != nil {
		return c.results(ctx, exp)
	}
	return []check.Result{{Name: "gpu.count", Status: check.Pass, Observed: "8", Expected: "8"}}
}

func (c *fakeChecks) Hardware() *check.Hardware { return &check.Hardware{MemoryKB: 1 << 20} }

func (c *fakeChecks) runs() ([]expect.Expectations, []bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]expect.Expectations(nil), c.seen...), append([]bool(nil), c.measure...)
}

// daemon is a daemon of node n1 reporting to srv through a spool in a temp dir.
func daemon(t *testing.T, srv *fakeServer, checks *fakeChecks) *Daemon {
	t.Helper()
	return &Daemon{Node: "n1", Stage: "ramdisk", Client: srv, Spool: &report.Spool{Dir: filepath.Join(t.TempDir(), "spool")},
		Checks: checks, Interval: time.Hour, StorageEvery: time.Hour, DeliverTimeout: 5 * time.Second}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("not within 10s: %s", what)
}

func TestDaemonFetchesAndCachesExpectations(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: true, exp: expect.Expectations{Node: "n1", GPU: &expect.GPU{Count: 8}}}
	checks := &fakeChecks{}
	d := daemon(t, srv, checks)
	d.Once = true
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	seen, _ := checks.runs()
	if len(seen) != 1 || seen[0].GPU == nil || seen[0].GPU.Count != 8 || seen[0].Node != "n1" {
		t.Fatalf("the checks got %+v, want the server's expectations for n1", seen)
	}
	cached, err := expect.Load(filepath.Join(d.Spool.Dir, ExpectationsCache))
	if err != nil || cached.GPU == nil || cached.GPU.Count != 8 {
		t.Fatalf("cached expectations = %+v, %v; want the server's", cached, err)
	}
	if srv.fetches != 1 || len(srv.hellos) != 1 || srv.hellos[0] != "n1 ramdisk" {
		t.Errorf("server saw %d fetches and hellos %v, want 1 and [n1 ramdisk]", srv.fetches, srv.hellos)
	}
	if reps := srv.got(); len(reps) != 1 || reps[0].Node != "n1" || reps[0].Hardware == nil || len(reps[0].Results) != 1 {
		t.Errorf("server got %+v, want one report of n1 with its hardware and result", reps)
	}
	if left := d.Spool.Pending(); len(left) != 0 {
		t.Errorf("spool after delivery: %v", left)
	}
}

func TestDaemonUsesCachedExpectationsWhileServerIsDown(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: true, exp: expect.Expectations{Node: "n1", Storage: []expect.Storage{{Mount: "/data"}}}}
	checks := &fakeChecks{}
	d := daemon(t, srv, checks)
	d.Once = true
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.setUp(false)
	d.DeliverTimeout = 100 * time.Millisecond
	_, err := d.Run(context.Background())
	var nd *NotDeliveredError
	if !errors.As(err, &nd) || !strings.Contains(err.Error(), "not delivered") {
		t.Fatalf("run with the server down = %v, want NotDeliveredError", err)
	}
	seen, _ := checks.runs()
	if len(seen) != 2 || len(seen[1].Storage) != 1 || seen[1].Storage[0].Mount != "/data" {
		t.Fatalf("second run's expectations %+v, want the cached ones", seen)
	}
	if n := len(d.Spool.Pending()); n != 1 {
		t.Errorf("%d reports in the spool, want the undelivered one", n)
	}

	// Nothing cached: the report carries the hardware only.
	fresh := daemon(t, &fakeServer{}, checks)
	fresh.Once, fresh.DeliverTimeout = true, 50*time.Millisecond
	fresh.Run(context.Background())
	seen, _ = checks.runs()
	if last := seen[len(seen)-1]; last.Node != "n1" || last.GPU != nil || len(last.Storage) != 0 || len(last.Networks) != 0 {
		t.Errorf("with no server and no cache the checks got %+v, want empty expectations for n1", last)
	}
}

func TestDaemonSendsSpooledReportsWhenServerIsBack(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{}
	checks := &fakeChecks{}
	d := daemon(t, srv, checks)
	d.Interval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := d.Run(ctx)
		done <- err
	}()
	eventually(t, "three reports spooled while the server is down", func() bool { return len(d.Spool.Pending()) >= 3 })
	if n := len(srv.got()); n != 0 {
		t.Fatalf("server is down but got %d reports", n)
	}
	downSince := time.Now()
	srv.setUp(true)
	eventually(t, "the spool emptied once the server is back", func() bool {
		return len(srv.got()) >= 3 && len(d.Spool.Pending()) == 0
	})
	reps := srv.got()
	if !reps[0].Time.Before(downSince) {
		t.Errorf("the first report delivered was made at %v, after the server came back at %v: the spooled ones were lost", reps[0].Time, downSince)
	}
	for i := 1; i < len(reps); i++ {
		if reps[i].Time.Before(reps[i-1].Time) {
			t.Errorf("report %d (%v) delivered after a later one (%v)", i, reps[i].Time, reps[i-1].Time)
		}
	}
	cancel()
	select {
	case err := <-done:
		// The cancel lands between runs (nil) or, on a loaded machine, during the next
		// run's checks (its context's error): either way Run stops; what this test is
		// about is the delivery above.
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run after cancel = %v, want nil or context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after its context was cancelled")
	}
}

func TestDaemonReportsAFailedCheck(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: true, exp: expect.Expectations{Node: "n1", Networks: []expect.Network{{Name: "storage", VLAN: 20}}}}
	checks := &fakeChecks{results: func(context.Context, *expect.Expectations) []check.Result {
		return []check.Result{
			{Name: "gpu.count", Status: check.Pass},
			{Name: "net.storage.vlan", Status: check.Fail, Observed: "no tag", Expected: "VLAN 20", Message: "the switch port is not trunking VLAN 20"},
		}
	}}
	d := daemon(t, srv, checks)
	d.Once = true
	var setUp []string
	d.SetUpNetworks = func(_ context.Context, e *expect.Expectations) { setUp = append(setUp, e.Networks[0].Name) }
	rs, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !check.Failed(rs) {
		t.Errorf("Run's results %+v carry no failure", rs)
	}
	reps := srv.got()
	if len(reps) != 1 || !reps[0].Failed || reps[0].Results[1].Status != check.Fail || reps[0].Results[1].Message == "" {
		t.Fatalf("server got %+v, want one failed report naming the failed check", reps)
	}
	if strings.Join(setUp, ",") != "storage" {
		t.Errorf("networks set up for %v, want once for storage", setUp)
	}
}

func TestDaemonMeasuresThroughputOnlyEveryStorageEvery(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: true}
	checks := &fakeChecks{results: func(_ context.Context, _ *expect.Expectations) []check.Result {
		return []check.Result{{Name: "storage./data.mount", Status: check.Pass}, {Name: "storage./data.write", Status: check.Pass, Observed: "812 MB/s"}}
	}}
	d := daemon(t, srv, checks)
	d.Interval = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	eventually(t, "three reports", func() bool { return len(srv.got()) >= 3 })
	cancel()
	// Run may still be writing its spool: wait for it, or the temp dir's removal races
	// with it ("directory not empty", 1 run in 20 under make flake).
	select {
	case <-done:
	case <-time.After(2 * time.Minute): // a hang guard
		t.Fatal("Run did not stop after its context was cancelled")
	}
	_, measured := checks.runs()
	if !measured[0] || measured[1] || measured[2] {
		t.Errorf("throughput measured on runs %v, want the first only", measured[:3])
	}
	// The fake returns a write result each run; the repeated one is marked.
	marked := 0
	for _, r := range srv.got()[1].Results {
		if r.Name == "storage./data.write" && strings.Contains(r.Observed, "(measured ") {
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("second report %+v: want the first run's write repeated, marked with when it was measured", srv.got()[1].Results)
	}
}

func TestDaemonStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	t.Run("while waiting", func(t *testing.T) {
		t.Parallel()
		srv := &fakeServer{up: true}
		d := daemon(t, srv, &fakeChecks{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.Run(ctx)
			done <- err
		}()
		eventually(t, "the first report", func() bool { return len(srv.got()) == 1 })
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil when stopped between runs", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop within its one-hour interval")
		}
	})
	t.Run("during the checks", func(t *testing.T) {
		t.Parallel()
		srv := &fakeServer{up: true}
		ctx, cancel := context.WithCancel(context.Background())
		checks := &fakeChecks{results: func(ctx context.Context, _ *expect.Expectations) []check.Result {
			cancel() // a signal arrives while the storage test runs
			<-ctx.Done()
			return []check.Result{{Name: "storage./data.write", Status: check.Fail, Message: "interrupted"}}
		}}
		d := daemon(t, srv, checks)
		_, err := d.Run(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if n := len(srv.got()); n != 0 {
			t.Errorf("server got %d reports of an interrupted run", n)
		}
		if left := d.Spool.Pending(); len(left) != 0 {
			t.Errorf("an interrupted run was spooled: %v", left)
		}
	})
}

func TestDaemonNeedsAPositiveInterval(t *testing.T) {
	t.Parallel()
	d := &Daemon{Node: "n1", Checks: &fakeChecks{}}
	if _, err := d.Run(context.Background()); err == nil {
		t.Fatal("Run with no interval started")
	}
}

// fakeDeployer records the deploys asked for and answers with res, err.
type fakeDeployer struct {
	calls int
	res   *check.DeployResult
	err   error
}

func (f *fakeDeployer) Deploy(_ context.Context, node string, exp *expect.Expectations) (*check.DeployResult, error) {
	f.calls++
	return f.res, f.err
}

func TestDaemonDeploysAfterPassingChecks(t *testing.T) {
	t.Parallel()
	dep := &expect.Deploy{Image: "debian-13", URL: "http://10.10.0.2:8080/images/debian-13.raw.zst", SHA256: strings.Repeat("a", 64)}
	for _, tc := range []struct {
		name      string
		deploy    *expect.Deploy
		fail      bool
		deployErr error
		wantCalls int
		wantError string // the report's deploy.error; "-" for no deploy section
	}{
		{name: "checks pass: deployed", deploy: dep, wantCalls: 1},
		{name: "checks fail: not deployed", deploy: dep, fail: true, wantCalls: 0, wantError: "not deployed: the node failed its checks"},
		{name: "deploy fails: reported", deploy: dep, deployErr: errors.New("checksum mismatch for image debian-13"), wantCalls: 1, wantError: "checksum mismatch for image debian-13"},
		{name: "stateless profile: no deploy", wantCalls: 0, wantError: "-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := &fakeServer{up: true, exp: expect.Expectations{Node: "n1", Deploy: tc.deploy}}
			checks := &fakeChecks{results: func(context.Context, *expect.Expectations) []check.Result {
				if tc.fail {
					return []check.Result{{Name: "gpu.count", Status: check.Fail}}
				}
				return []check.Result{{Name: "gpu.count", Status: check.Pass}}
			}}
			fd := &fakeDeployer{res: &check.DeployResult{Image: "debian-13", Bytes: 42, Verified: tc.deployErr == nil}, err: tc.deployErr}
			d := daemon(t, srv, checks)
			d.Once, d.Deploy = true, fd
			if _, err := d.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if fd.calls != tc.wantCalls {
				t.Errorf("deploy called %d times, want %d", fd.calls, tc.wantCalls)
			}
			reps := srv.got()
			if len(reps) != 1 {
				t.Fatalf("%d reports", len(reps))
			}
			got := reps[0].Deploy
			if tc.wantError == "-" {
				if got != nil {
					t.Fatalf("report has a deploy section %+v for a stateless node", got)
				}
				return
			}
			if got == nil || got.Image != "debian-13" || got.Error != tc.wantError {
				t.Fatalf("report's deploy = %+v, want image debian-13 and error %q", got, tc.wantError)
			}
			if tc.wantCalls == 1 && tc.deployErr == nil && (!got.Verified || got.Bytes != 42) {
				t.Errorf("report's deploy = %+v, want the deployer's result", got)
			}
		})
	}
}
