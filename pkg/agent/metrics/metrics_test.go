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

func TestMetricsUseDCGMExporterNamesAndLabels(t *testing.T) {
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
		`DCGM_FI_DEV_GPU_TEMP{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000000",device="nvidia0",gpu="0",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:00:00.0"} 40`,
		`DCGM_FI_DEV_GPU_TEMP{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000007",device="nvidia7",gpu="7",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:07:00.0"} 47`,
		`DCGM_FI_DEV_POWER_USAGE{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000003",device="nvidia3",gpu="3",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:03:00.0"} 350.5`,
		`DCGM_FI_DEV_ECC_DBE_VOL_TOTAL{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000002",device="nvidia2",gpu="2",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:02:00.0"} 3`,
		`DCGM_FI_DEV_XID_ERRORS{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000002",device="nvidia2",gpu="2",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:02:00.0"} 79`,
		`DCGM_FI_DEV_XID_ERRORS{DCGM_FI_DRIVER_VERSION="550.54.15",Hostname="gpu-a01-01",UUID="GPU-00000001",device="nvidia1",gpu="1",modelName="NVIDIA H100 80GB HBM3",pci_bus_id="00000000:01:00.0"} 0`,
		"# TYPE DCGM_FI_DEV_ECC_DBE_VOL_TOTAL counter",
		"# TYPE DCGM_FI_DEV_GPU_TEMP gauge",
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
	if strings.Contains(body, "DCGM_FI_DEV_SM_CLOCK{") {
		t.Error("unsupported SM clock exported")
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
	if !strings.Contains(string(b), `racklift_check_status{check="gpu.nvml"} 2`) || strings.Contains(string(b), "DCGM_FI_DEV_GPU_TEMP{") {
		t.Fatalf("/metrics:\n%s", b)
	}
}
