package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/state"
)

// serve's metrics: nodes per phase from the state, phase transitions as the log moves,
// BMC calls by result kind through bmc.Options.Observe, and the build.
func TestOpsMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := newOpsMetrics(reg)
	st, err := state.Open(t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m.store = st.List
	setPhase := func(node, phase string) {
		t.Helper()
		if _, err := st.Update(node, func(n *state.Node) ([]state.Event, error) {
			n.Phase = phase
			return []state.Event{{Kind: "test." + phase, Time: time.Now()}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	setPhase("n1", "powering")
	setPhase("n2", "failed")
	setPhase("n3", "")

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	follow := m.followTransitions(st)
	go func() { defer close(done); follow(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	// The loop compares phases after each batch of log events, so two changes in one
	// batch count as one transition (first to last): let it see each change on its own.
	waitCounted := func(from, to string) {
		t.Helper()
		for testutil.ToFloat64(m.transitions.WithLabelValues(from, to)) < 1 {
			select {
			case <-t.Context().Done():
				t.Fatalf("the transition %s -> %s was never counted", from, to)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	setPhase("n1", "pxe")
	waitCounted("powering", "pxe")
	setPhase("n1", "booting")
	waitCounted("pxe", "booting")

	want := `
# HELP racklift_nodes Nodes in each lifecycle phase (enrolled ... ready, failed), from serve's state at scrape time.
# TYPE racklift_nodes gauge
racklift_nodes{phase="agent"} 0
racklift_nodes{phase="booting"} 1
racklift_nodes{phase="deploying"} 0
racklift_nodes{phase="enrolled"} 1
racklift_nodes{phase="failed"} 1
racklift_nodes{phase="installed"} 0
racklift_nodes{phase="powering"} 0
racklift_nodes{phase="pxe"} 0
racklift_nodes{phase="ready"} 0
racklift_nodes{phase="rebooting"} 0
racklift_nodes{phase="validating"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "racklift_nodes"); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(m.transitions.WithLabelValues("powering", "pxe")); got != 1 {
		t.Errorf("transitions powering -> pxe = %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.transitions); n != 2 {
		t.Errorf("%d transition series, want 2 (n2 and n3 did not move)", n)
	}

	// A BMC nobody answers at: the call is counted with its failure kind.
	tgt := bmc.Target{Node: "n1", Protocol: "redfish", Host: "127.0.0.1", Port: 1,
		Login: inventory.Secret{Username: "admin", Password: "x"}, TLS: inventory.TLS{Insecure: true}}
	_, err = bmc.Do(t.Context(), tgt, bmc.Op{Power: bmc.PowerStatus}, bmc.Options{Timeout: 300 * time.Millisecond, Observe: m.observeBMC, Warn: &strings.Builder{}})
	if err == nil {
		t.Fatal("a BMC on port 1 answered")
	}
	if got := testutil.ToFloat64(m.bmcCalls.WithLabelValues("power status", bmc.ResultOf(err))); got != 1 || bmc.ResultOf(err) == "ok" {
		t.Errorf("racklift_bmc_calls_total{op=power status,result=%s} = %v, want 1", bmc.ResultOf(err), got)
	}
	if n := testutil.CollectAndCount(reg, "racklift_build_info"); n != 1 {
		t.Errorf("racklift_build_info: %d series", n)
	}
}
