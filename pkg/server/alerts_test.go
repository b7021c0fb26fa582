package server

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racklift/racklift/internal/testenv"
	agentmetrics "github.com/racklift/racklift/pkg/agent/metrics"
	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/state"
)

// TestAlertRules: promtool (Debian's prometheus package) accepts the example alert rules
// in docs/metrics and its rule tests pass (each alert fires on the series as exported),
// and every racklift_* name the rules and the Grafana dashboard use is one serve or the
// agent exports, so a renamed metric cannot leave them silently empty.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	promtool := testenv.NeedCommand(t, "promtool")[0]
	dir := filepath.Join(testenv.RepoRoot(), "docs", "metrics")
	for _, args := range [][]string{{"check", "rules", "racklift-alerts.yaml"}, {"test", "rules", "racklift-alerts.test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}

	known := exportedNames(t)
	name := regexp.MustCompile(`\bracklift_[a-z0-9_]+`)
	for _, f := range []string{"racklift-alerts.yaml", "racklift-dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "racklift-dashboard.json" && !json.Valid(b) {
			t.Errorf("%s is not JSON", f)
		}
		for _, n := range name.FindAllString(string(b), -1) {
			base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
			if !slices.Contains(known, n) && !slices.Contains(known, base) {
				t.Errorf("%s uses %s, which neither serve nor the agent exports", f, n)
			}
		}
	}
}

// exportedNames are the metric names of serve's registry and the agent's.
func exportedNames(t *testing.T) []string {
	t.Helper()
	s, err := New(Config{Inventory: filepath.Join(testenv.RepoRoot(), "inventory", "examples", "lab"), Listen: "127.0.0.1", StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	gather := func(g prometheus.Gatherer) {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			names = append(names, mf.GetName())
		}
	}
	// Vectors without a sample yet are not gathered: give each one.
	s.Events.Publish(events.Event{Kind: events.TFTPTransfer, Bytes: 1, Duration: time.Millisecond})
	s.ops.observeBMC("power status", "ok")
	s.ops.transitions.WithLabelValues("pxe", "booting").Inc()
	s.reloads.WithLabelValues("rejected").Inc()
	s.ops.store = func() ([]state.Node, error) { return nil, nil }
	gather(s.reg)
	am := agentmetrics.New("h", nil, func() int { return 0 })
	am.Observe([]check.Result{{Name: "x", Status: check.Pass}})
	gather(am.Registry())
	return append(names, agentmetrics.GPUNames()...)
}
