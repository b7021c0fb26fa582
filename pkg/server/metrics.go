package server

import (
	"context"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
	"github.com/racklift/racklift/pkg/version"
)

// Serve's operational metrics beyond the boot services' (racklift_boot_events_total by
// kind and outcome counts DHCP, TFTP and HTTP; pkg/events): how many nodes are in each
// phase, the phase transitions, BMC calls by result kind, and the build. The alert rules
// and the dashboard in docs/metrics/ use these names.
type opsMetrics struct {
	phases      *prometheus.Desc
	transitions *prometheus.CounterVec
	bmcCalls    *prometheus.CounterVec
	store       func() ([]state.Node, error) // nil: serve runs without the provisioning core
	// pause is the back-off after a failed wait for the state's log (a second).
	pause func()
}

func newOpsMetrics(reg prometheus.Registerer) *opsMetrics {
	m := &opsMetrics{
		phases: prometheus.NewDesc("racklift_nodes",
			"Nodes in each lifecycle phase (enrolled ... ready, failed), from serve's state at scrape time.", []string{"phase"}, nil),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racklift_node_transitions_total",
			Help: "Lifecycle phase changes seen since serve started, by the phase left and the phase entered.",
		}, []string{"from", "to"}),
		bmcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racklift_bmc_calls_total",
			Help: "BMC operations serve made (power cycles, boot overrides, status reads), by operation and result: ok or the failure kind (timeout, auth, tls, refused, not-applied, ...).",
		}, []string{"op", "result"}),
		pause: func() { time.Sleep(time.Second) },
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "racklift_build_info",
		Help:        "Always 1: the version, commit, build date and Go version of this provision binary.",
		ConstLabels: prometheus.Labels{"version": version.Version, "commit": version.Commit, "date": version.Date, "goversion": runtime.Version()},
	})
	build.Set(1)
	reg.MustRegister(m, m.transitions, m.bmcCalls, build)
	return m
}

// Describe implements prometheus.Collector for racklift_nodes.
func (m *opsMetrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.phases }

// Collect counts the nodes per phase from the state; every phase is reported, 0 too,
// so an alert on failed > 0 has a series to read.
func (m *opsMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.store == nil {
		return
	}
	nodes, err := m.store()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.phases, err)
		return
	}
	count := map[string]int{}
	for _, n := range nodes {
		count[phaseName(n.Phase)]++
	}
	for _, p := range lifecycle.Phases {
		ch <- prometheus.MustNewConstMetric(m.phases, prometheus.GaugeValue, float64(count[string(p)]), string(p))
		delete(count, string(p))
	}
	for p, c := range count { // a phase a newer state holds; still counted
		ch <- prometheus.MustNewConstMetric(m.phases, prometheus.GaugeValue, float64(c), p)
	}
}

// phaseName is a node record's phase for the label: a node never seen is enrolled.
func phaseName(p string) string {
	if p == "" {
		return string(lifecycle.Enrolled)
	}
	return p
}

// observeBMC is bmc.Options.Observe for the core's BMC calls.
func (m *opsMetrics) observeBMC(op, result string) { m.bmcCalls.WithLabelValues(op, result).Inc() }

// followTransitions counts phase changes: it notes each node's phase now, and the
// returned loop, after every batch of events in the state's log, compares each node's
// phase with the one it had, until ctx ends.
func (m *opsMetrics) followTransitions(st state.Store) func(ctx context.Context) {
	last := map[string]string{}
	seen := func() {
		nodes, err := st.List()
		if err != nil {
			return
		}
		for _, n := range nodes {
			p := phaseName(n.Phase)
			if prev, ok := last[n.Name]; ok && prev != p {
				m.transitions.WithLabelValues(prev, p).Inc()
			}
			last[n.Name] = p
		}
	}
	after, _ := st.LastSeq()
	seen()
	return func(ctx context.Context) {
		for ctx.Err() == nil {
			if err := st.Wait(ctx, after); err != nil {
				if ctx.Err() == nil {
					m.pause() // a damaged store is logged by the core; do not spin
				}
				continue
			}
			if seq, err := st.LastSeq(); err == nil {
				after = seq
			}
			seen()
		}
	}
}
