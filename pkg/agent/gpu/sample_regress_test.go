package gpu

import (
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
)

// TestSamplerGauges: the /metrics sampler (untested before make mutate, issue 20) reads
// each GPU NVML hands out, in dcgm-exporter's units (power in W from NVML's mW, memory
// in MiB), leaves out a gauge the GPU does not support, skips a GPU whose handle fails,
// and lists the GPUs for the hardware report by their sysfs PCI address.
func TestSamplerGauges(t *testing.T) {
	t.Parallel()
	s := healthy(dgxh100.New())
	for i := range s.Devices {
		d := dev(s, i)
		d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 350_500, nvml.SUCCESS }
		d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 41, nvml.SUCCESS }
		d.GetMemoryInfoFunc = func() (nvml.Memory, nvml.Return) {
			return nvml.Memory{Total: 80 << 30, Free: 60 << 30, Used: 20 << 30}, nvml.SUCCESS
		}
	}
	dev(s, 3).GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	handle := s.DeviceGetHandleByIndexFunc
	s.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) {
		if i == 5 {
			return nil, nvml.ERROR_GPU_IS_LOST
		}
		return handle(i)
	}
	smp, err := NewSampler(s)
	if err != nil {
		t.Fatal(err)
	}
	defer smp.Close()
	got := smp.Sample()
	var idx []int
	for _, g := range got {
		idx = append(idx, g.Index)
	}
	if len(got) != 7 || idx[4] != 4 || idx[5] != 6 || idx[6] != 7 {
		t.Fatalf("sampled GPUs %v, want 0-7 without the lost 5", idx)
	}
	for _, g := range got {
		if g.Values["DCGM_FI_DEV_POWER_USAGE"] != 350.5 {
			t.Errorf("GPU %d power %v W, want 350.5 (NVML's 350500 mW)", g.Index, g.Values["DCGM_FI_DEV_POWER_USAGE"])
		}
		if g.Values["DCGM_FI_DEV_FB_FREE"] != 60<<10 || g.Values["DCGM_FI_DEV_FB_USED"] != 20<<10 {
			t.Errorf("GPU %d framebuffer free %v used %v MiB, want 61440, 20480", g.Index, g.Values["DCGM_FI_DEV_FB_FREE"], g.Values["DCGM_FI_DEV_FB_USED"])
		}
		temp, ok := g.Values["DCGM_FI_DEV_GPU_TEMP"]
		if g.Index == 3 && ok || g.Index != 3 && temp != 41 {
			t.Errorf("GPU %d temperature %v (present %v); want 41, and none where unsupported", g.Index, temp, ok)
		}
		if g.UUID == "" || !strings.Contains(g.ModelName, "H100") || g.Device == "" || g.Driver == "" {
			t.Errorf("GPU %d identity %+v", g.Index, g)
		}
		if g.Bus() == "" || g.Bus() != canonicalBusID(g.PCIBusID) || strings.ToLower(g.Bus()) != g.Bus() {
			t.Errorf("GPU %d bus %q from NVML's %q", g.Index, g.Bus(), g.PCIBusID)
		}
	}
	inv := smp.Inventory()
	if len(inv) != 7 || inv[0].PCI != got[0].Bus() || inv[0].UUID != got[0].UUID || inv[0].Name != got[0].ModelName {
		t.Errorf("inventory %+v, want the 7 sampled GPUs", inv)
	}
	// No GPU count: nothing to sample.
	s.DeviceGetCountFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_UNKNOWN }
	if got := smp.Sample(); got != nil {
		t.Errorf("Sample with DeviceGetCount failing = %v, want none", got)
	}
}

// TestSamplerWithoutDriver: NVML that does not start is an error in plain words.
func TestSamplerWithoutDriver(t *testing.T) {
	t.Parallel()
	s := dgxh100.New()
	s.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
	if smp, err := NewSampler(s); err == nil || smp != nil || !strings.Contains(err.Error(), "modprobe nvidia") {
		t.Errorf("NewSampler without the kernel module = %v, %v; want the modprobe advice", smp, err)
	}
}

// TestB2F: booleans as gauges.
func TestB2F(t *testing.T) {
	t.Parallel()
	if b2f(true) != 1 || b2f(false) != 0 {
		t.Error("b2f")
	}
}
