package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/racklift/racklift/pkg/agent/gpu"
	"github.com/racklift/racklift/pkg/check"
)

func TestGPUMetricsHaveTheirOwnPrefix(t *testing.T) {
	t.Parallel()
	s := dgxh100.New()
	for i, dv := range s.Devices {
		d := dv.(*server.Device)
		d.UUID = "GPU-0000000" + string(rune('0'+i))
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			var p nvml.PciInfo
			id := "0000" + strings.ToUpper(d.PciBusID)
			for j := range id {
				p.BusId[j] = int8(id[j])
			}
			return p, nvml.SUCCESS
		}
		d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return uint32(40 + i), nvml.SUCCESS }
		d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 350500, nvml.SUCCESS } // mW
		d.GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, c nvml.EccCounterType) (uint64, nvml.Return) {
			if t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && c == nvml.VOLATILE_ECC && i == 2 {
				return 3, nvml.SUCCESS
			}
			return 0, nvml.SUCCESS
		}
		d.GetClockInfoFunc = func(nvml.ClockType) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	}
	smp, err := gpu.NewSampler(s)
	if err != nil {
		t.Fatal(err)
	}
	m := New("gpu-a01-01", smp, func() int { return 2 })
	m.XID("0000:02:00.0", 79)
	m.Observe([]check.Result{
		{Name: "gpu.count", Status: check.Pass, Duration: time.Second},
		{Name: "gpu.pcie", Status: check.Warn},
		{Name: "storage./raid.read", Status: check.Fail},
	})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(b)
	for _, want := range []string{
		`racklift_gpu_temp{device="nvidia0",driver_version="550.54.15",gpu="0",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:00:00.0",uuid="GPU-00000000"} 40`,
		`racklift_gpu_temp{device="nvidia7",driver_version="550.54.15",gpu="7",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:07:00.0",uuid="GPU-00000007"} 47`,
		`racklift_gpu_power_usage{device="nvidia3",driver_version="550.54.15",gpu="3",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:03:00.0",uuid="GPU-00000003"} 350.5`,
		`racklift_gpu_ecc_dbe_vol_total{device="nvidia2",driver_version="550.54.15",gpu="2",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:02:00.0",uuid="GPU-00000002"} 3`,
		`racklift_gpu_xid_errors{device="nvidia2",driver_version="550.54.15",gpu="2",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:02:00.0",uuid="GPU-00000002"} 79`,
		`racklift_gpu_xid_errors{device="nvidia1",driver_version="550.54.15",gpu="1",hostname="gpu-a01-01",model_name="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:01:00.0",uuid="GPU-00000001"} 0`,
		"# TYPE racklift_gpu_ecc_dbe_vol_total counter",
		"# TYPE racklift_gpu_temp gauge",
		`racklift_check_status{check="gpu.count"} 0`,
		`racklift_check_status{check="gpu.pcie"} 1`,
		`racklift_check_status{check="storage./raid.read"} 2`,
		`racklift_check_duration_seconds{check="gpu.count"} 1`,
		"racklift_checks_failed 1",
		"racklift_reports_spooled 2",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// Unsupported readings are left out, not reported as 0.
	if strings.Contains(body, "racklift_gpu_sm_clock{") {
		t.Error("unsupported SM clock exported")
	}
	// Nothing under dcgm-exporter's names: with it on the node, no series is counted twice.
	// (The help text names the dcgm-exporter field each one matches.)
	if strings.Contains("\n"+body, "\nDCGM_FI_") || strings.Contains(body, "# TYPE DCGM_FI_") {
		t.Error("/metrics has series under dcgm-exporter's names")
	}
	if !strings.Contains(body, "# HELP racklift_gpu_temp GPU temperature (in C). dcgm-exporter: DCGM_FI_DEV_GPU_TEMP.") {
		t.Error("racklift_gpu_temp's help does not name the dcgm-exporter field")
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestMetricsWithoutDriver(t *testing.T) {
	t.Parallel()
	s := dgxh100.New()
	s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
	if _, err := gpu.NewSampler(s); err == nil || !strings.Contains(err.Error(), "libnvidia-ml.so.1 not found") {
		t.Fatalf("NewSampler: %v", err)
	}
	m := New("n1", nil, nil)
	m.Observe([]check.Result{{Name: "gpu.nvml", Status: check.Fail}})
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `racklift_check_status{check="gpu.nvml"} 2`) || strings.Contains(string(b), "racklift_gpu_temp{") {
		t.Fatalf("/metrics:\n%s", b)
	}
}
