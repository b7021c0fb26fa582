// Package metrics serves the agent's Prometheus /metrics: GPU readings sampled from NVML
// at each scrape under racklift's own prefix (racklift_gpu_temp for dcgm-exporter's
// DCGM_FI_DEV_GPU_TEMP, ...), so a node that also runs dcgm-exporter has no series
// counted twice under one name, and the agent's own verdicts as
// racklift_check_status{check=...}.
package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/check"
)

// dcgm-exporter's fields the agent reads (exported as MetricName(name)), with their help text and type (its
// default-counters.csv: legacy names, which dashboards such as Grafana 12239 use).
var fields = []struct {
	name, help string
	counter    bool
}{
	{"DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", false},
	{"DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", false},
	{"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ).", true},
	{"DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", false},
	{"DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", false},
	{"DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", false},
	{"DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", false},
	{"DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", false},
	{"DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", false},
	{"DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "Total number of single-bit volatile ECC errors.", true},
	{"DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "Total number of double-bit volatile ECC errors.", true},
	{"DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", "Total number of single-bit persistent ECC errors.", true},
	{"DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", "Total number of double-bit persistent ECC errors.", true},
	{"DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", true},
	{"DCGM_FI_DEV_PCIE_LINK_GEN", "PCIe current link generation.", false},
	{"DCGM_FI_DEV_PCIE_LINK_WIDTH", "PCIe current link width.", false},
	{"DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "Number of remapped rows for correctable errors.", true},
	{"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "Number of remapped rows for uncorrectable errors.", true},
	{"DCGM_FI_DEV_ROW_REMAP_PENDING", "Whether a row remap is pending (1) or not (0).", false},
	{"DCGM_FI_DEV_ROW_REMAP_FAILURE", "Whether remapping of rows has failed.", false},
	{"DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "Current clock event (throttle) reasons, NVML bitmask.", false},
	{"DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", false},
}

// gpuLabels: dcgm-exporter's, in Prometheus' lower-case style (UUID is uuid, modelName
// model_name, DCGM_FI_DRIVER_VERSION driver_version), so a dashboard join on gpu or uuid
// across the two is a relabel away.
var gpuLabels = []string{"gpu", "uuid", "pci_bus_id", "device", "model_name", "hostname", "driver_version"}

// GPUPrefix is the agent's GPU metric prefix.
const GPUPrefix = "racklift_gpu_"

// GPUNames are the names of the agent's GPU metrics.
func GPUNames() []string {
	out := make([]string, 0, len(fields))
	for _, f := range fields {
		out = append(out, MetricName(f.name))
	}
	return out
}

// MetricName is the agent's name for the dcgm-exporter field: DCGM_FI_DEV_GPU_TEMP is
// racklift_gpu_temp, DCGM_FI_DEV_POWER_USAGE racklift_gpu_power_usage.
func MetricName(field string) string {
	n := strings.ToLower(strings.TrimPrefix(field, "DCGM_FI_DEV_"))
	return GPUPrefix + strings.TrimPrefix(n, "gpu_")
}

// Metrics is the agent's registry.
type Metrics struct {
	reg      *prometheus.Registry
	hostname string
	sampler  *gpu.Sampler // nil without NVML

	descs map[string]*prometheus.Desc

	mu      sync.Mutex
	lastXID map[string]int // canonical PCI address → last Xid

	status   *prometheus.GaugeVec
	duration *prometheus.GaugeVec
	lastRun  prometheus.Gauge
	failed   prometheus.Gauge
}

// New builds the registry; sampler may be nil (no driver: no GPU gauges). spooled, if
// not nil, reports how many reports wait on disk for the server.
func New(hostname string, sampler *gpu.Sampler, spooled func() int) *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		hostname: hostname,
		sampler:  sampler,
		descs:    map[string]*prometheus.Desc{},
		lastXID:  map[string]int{},
		status: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "racklift_check_status",
			Help: "Result of each node-agent check in the last run: 0 pass, 1 warn, 2 fail.",
		}, []string{"check"}),
		duration: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "racklift_check_duration_seconds",
			Help: "How long each check took in the last run.",
		}, []string{"check"}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racklift_check_last_run_timestamp_seconds",
			Help: "When the last check run finished (Unix time).",
		}),
		failed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "racklift_checks_failed",
			Help: "Number of failed checks in the last run.",
		}),
	}
	for _, f := range fields {
		m.descs[f.name] = prometheus.NewDesc(MetricName(f.name), f.help+" dcgm-exporter: "+f.name+".", gpuLabels, nil)
	}
	m.reg.MustRegister(m.status, m.duration, m.lastRun, m.failed, gpuCollector{m})
	if spooled != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "racklift_reports_spooled",
			Help: "Reports written to the spool and not yet accepted by the server.",
		}, func() float64 { return float64(spooled()) }))
	}
	return m
}

// Registry is the agent's registry (for tests of names across racklift's exporters).
func (m *Metrics) Registry() prometheus.Gatherer { return m.reg }

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Observe records a run's results; checks absent from this run disappear.
func (m *Metrics) Observe(rs []check.Result) {
	m.status.Reset()
	m.duration.Reset()
	failed := 0
	for _, r := range rs {
		v := 0.0
		switch r.Status {
		case check.Warn:
			v = 1
		case check.Fail:
			v = 2
			failed++
		}
		m.status.WithLabelValues(r.Name).Set(v)
		m.duration.WithLabelValues(r.Name).Set(r.Duration.Seconds())
	}
	m.failed.Set(float64(failed))
	m.lastRun.Set(float64(time.Now().Unix()))
}

// XID remembers the last Xid of a GPU (gpu.Options.OnXID).
func (m *Metrics) XID(bus string, code int) {
	m.mu.Lock()
	m.lastXID[bus] = code
	m.mu.Unlock()
}

// gpuCollector samples NVML at scrape time, as dcgm-exporter does on its interval.
type gpuCollector struct{ m *Metrics }

// Describe sends nothing: the GPU set is only known when sampled (an unchecked collector).
func (gpuCollector) Describe(chan<- *prometheus.Desc) {}

func (c gpuCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	if m.sampler == nil {
		return
	}
	for _, s := range m.sampler.Sample() {
		labels := []string{strconv.Itoa(s.Index), s.UUID, s.PCIBusID, s.Device, s.ModelName, m.hostname, s.Driver}
		m.mu.Lock()
		if x, ok := m.lastXID[s.Bus()]; ok {
			s.Values["DCGM_FI_DEV_XID_ERRORS"] = float64(x)
		} else {
			s.Values["DCGM_FI_DEV_XID_ERRORS"] = 0
		}
		m.mu.Unlock()
		for _, f := range fields {
			v, ok := s.Values[f.name]
			if !ok {
				continue
			}
			t := prometheus.GaugeValue
			if f.counter {
				t = prometheus.CounterValue
			}
			ch <- prometheus.MustNewConstMetric(m.descs[f.name], t, v, labels...)
		}
	}
}
