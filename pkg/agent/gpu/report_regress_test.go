package gpu

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// Tests for mutants `make mutate` found alive in pkg/agent/gpu (issue 20): the words and
// figures of the GPU report where the checks' statuses alone did not tell. Each was put
// back by hand and a test here failed.

func devices(t *testing.T, s *server.Server, n int) []device {
	t.Helper()
	var ds []device
	for i := range n {
		ds = append(ds, device{Index: i, Dev: s.Devices[i], BusID: canonicalBusID("0000" + dev(s, i).PciBusID)})
	}
	return ds
}

// TestOptionsDefaults: the Xid listening window is 2 s and the kernel log history 2 h
// unless set.
func TestOptionsDefaults(t *testing.T) {
	t.Parallel()
	var o Options
	o.Lib = dgxh100.New()
	o.defaults()
	if o.XIDWindow != 2*time.Second || o.XIDHistory != 2*time.Hour || o.SysRoot != "/sys" {
		t.Errorf("defaults: window %v history %v sysroot %q; want 2s, 2h, /sys", o.XIDWindow, o.XIDHistory, o.SysRoot)
	}
	o = Options{Lib: o.Lib, XIDWindow: -1, XIDHistory: time.Minute}
	o.defaults()
	if o.XIDWindow != -1 || o.XIDHistory != time.Minute {
		t.Errorf("set values changed: %v %v", o.XIDWindow, o.XIDHistory)
	}
}

// TestCountWords: what the count check says when NVML is missing, when NVML gives no bus
// addresses, when the PCI scan failed, and with one GPU more than the profile.
func TestCountWords(t *testing.T) {
	t.Parallel()
	if got := expectedCount(&expect.GPU{}); got != "as many in NVML as on PCI" {
		t.Errorf("expectedCount(0) = %q", got)
	}
	if got := expectedCount(&expect.GPU{Count: 8}); got != "8" {
		t.Errorf("expectedCount(8) = %q", got)
	}
	r := pciOnlyCount(&expect.GPU{Count: 8}, nil, nil)
	if r.Status != check.Fail || !strings.Contains(r.Message, "is this the right node and profile?") {
		t.Errorf("no GPU on PCI, NVML unavailable: %+v", r)
	}
	r = pciOnlyCount(&expect.GPU{Count: 8}, make([]PCIGPU, 7), nil)
	if strings.Contains(r.Message, "right node") || !strings.Contains(r.Message, "profile expects 8 GPUs, 7") {
		t.Errorf("7 of 8 on PCI, NVML unavailable: %+v", r)
	}

	pci := func(n int) []PCIGPU {
		s := dgxh100.New()
		var out []PCIGPU
		for i := range n {
			out = append(out, PCIGPU{Address: canonicalBusID("0000" + dev(s, i%8).PciBusID)})
		}
		return out
	}
	// NVML without bus addresses: the missing GPU can only be counted.
	s := dgxh100.New()
	s.Devices = s.Devices[:7]
	for _, d := range s.Devices {
		d.(*server.Device).GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{}, nvml.ERROR_NOT_SUPPORTED }
	}
	_, r = enumerate(s, &expect.GPU{}, pci(8), nil)
	if !strings.Contains(r.Message, "1 GPU(s) on the PCI bus but not visible to NVML") || r.Observed != "7 in NVML, 8 on PCI" {
		t.Errorf("NVML 7 without addresses, PCI 8: %+v", r)
	}
	// The PCI scan failed: NVML's count alone, and no PCI figure.
	_, r = enumerate(healthy(dgxh100.New()), &expect.GPU{}, nil, errors.New("no /sys"))
	if r.Observed != "8 in NVML" || r.Status != check.Pass {
		t.Errorf("PCI scan failed: %+v", r)
	}
	// One more on PCI than the profile and NVML: found 9.
	_, r = enumerate(healthy(dgxh100.New()), &expect.GPU{Count: 8}, pci(9), nil)
	if !strings.Contains(r.Message, "profile expects 8 GPUs, found 9") {
		t.Errorf("NVML 8, PCI 9, profile 8: %+v", r)
	}
	// No count in the profile: NVML and PCI agreeing is a pass whatever the number.
	_, r = enumerate(healthy(dgxh100.New()), &expect.GPU{}, pci(8), nil)
	if r.Status != check.Pass || r.Message != "" {
		t.Errorf("no count expected, 8 and 8: %+v", r)
	}
}

// TestPerGPUWords: findings name the GPUs (all N when every one has it), observed values
// come with their counts on a multi-GPU node and without on a single GPU, and a node
// without GPUs observes "no GPUs".
func TestPerGPUWords(t *testing.T) {
	t.Parallel()
	s := healthy(dgxh100.New())
	all := devices(t, s, 8)
	off := func(d device) (string, check.Status, string) { return "disabled", check.Warn, "persistence mode off" }
	r := perGPU(all, "enabled", off)
	if r.Observed != "8× disabled" || !strings.HasPrefix(r.Message, "all 8 GPUs: ") {
		t.Errorf("8 GPUs, all off: observed %q message %q", r.Observed, r.Message)
	}
	one := perGPU(all[:1], "enabled", off)
	if one.Observed != "disabled" || strings.Contains(one.Message, "all 1") || !strings.Contains(one.Message, "GPU 0") {
		t.Errorf("1 GPU: observed %q message %q", one.Observed, one.Message)
	}
	mixed := perGPU(all, "enabled", func(d device) (string, check.Status, string) {
		if d.Index == 2 {
			return "disabled", check.Warn, "persistence mode off"
		}
		return "enabled", check.Pass, ""
	})
	if mixed.Observed != "7× enabled, 1× disabled" || strings.Contains(mixed.Message, "all") {
		t.Errorf("1 of 8 off: observed %q message %q", mixed.Observed, mixed.Message)
	}
	if none := perGPU(nil, "enabled", off); none.Observed != "no GPUs" || none.Status != check.Pass {
		t.Errorf("no GPUs: %+v", none)
	}
}

// TestVersionChecksWithoutMinimum: no minimum in the profile expects "any" version.
func TestVersionChecksWithoutMinimum(t *testing.T) {
	t.Parallel()
	s := dgxh100.New()
	if r := checkDriver(s, ""); r.Expected != "any" || r.Status != check.Pass {
		t.Errorf("driver without minimum: %+v", r)
	}
	if r := checkCUDA(s, ""); r.Expected != "any" || r.Status != check.Pass {
		t.Errorf("CUDA without minimum: %+v", r)
	}
	if r := checkDriver(s, "999.0"); r.Expected != "≥ 999.0" || r.Status != check.Fail {
		t.Errorf("driver below minimum: %+v", r)
	}
}

// TestECCPendingWords: a pending ECC change names both states.
func TestECCPendingWords(t *testing.T) {
	t.Parallel()
	s := healthy(dgxh100.New())
	dev(s, 0).GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
		return nvml.FEATURE_ENABLED, nvml.FEATURE_DISABLED, nvml.SUCCESS
	}
	r := checkECCMode(devices(t, s, 1))
	if r.Observed != "current enabled, pending disabled" || r.Status != check.Fail {
		t.Errorf("ECC on, off pending: %+v", r)
	}
}

// TestNVLinkCounts: the links counted are those NVML reports, up to the last one
// (NVLINK_MAX_LINKS); a GPU with every link up observes N/N, one link down N-1/N.
func TestNVLinkCounts(t *testing.T) {
	t.Parallel()
	s := healthy(dgxh100.New())
	dev(s, 0).GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
		if l >= nvml.NVLINK_MAX_LINKS {
			return nvml.FEATURE_DISABLED, nvml.SUCCESS // a driver that answers past the last link
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	r := checkNVLink(devices(t, s, 1))
	max := nvml.NVLINK_MAX_LINKS
	if want := fmt.Sprintf("%d/%d links active", max, max); r.Observed != want || r.Status != check.Pass {
		t.Errorf("all links up: %+v, want %s", r, want)
	}
	dev(s, 0).GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
		if l == 5 {
			return nvml.FEATURE_DISABLED, nvml.SUCCESS
		}
		if l >= max {
			return 0, nvml.ERROR_INVALID_ARGUMENT
		}
		return nvml.FEATURE_ENABLED, nvml.SUCCESS
	}
	r = checkNVLink(devices(t, s, 1))
	if r.Observed != fmt.Sprintf("%d/%d links active", max-1, max) || r.Status != check.Fail || !strings.Contains(r.Message, "NVLink 5 down") {
		t.Errorf("link 5 down: %+v", r)
	}
}

// TestFabricNotSupportedStates: a GPU without an NVSwitch fabric passes, however NVML
// says so; a fabric call failing otherwise is a failure naming the call.
func TestFabricNotSupportedStates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fi   nvml.GpuFabricInfo
		ret  nvml.Return
		want check.Status
	}{
		{name: "not supported", ret: nvml.ERROR_NOT_SUPPORTED, want: check.Pass},
		{name: "old library", ret: nvml.ERROR_FUNCTION_NOT_FOUND, want: check.Pass},
		{name: "state not supported", fi: nvml.GpuFabricInfo{State: nvml.GPU_FABRIC_STATE_NOT_SUPPORTED}, ret: nvml.SUCCESS, want: check.Pass},
		{name: "GPU lost", ret: nvml.ERROR_GPU_IS_LOST, want: check.Fail},
	} {
		s := healthy(dgxh100.New())
		dev(s, 0).GetGpuFabricInfoFunc = func() (nvml.GpuFabricInfo, nvml.Return) { return tc.fi, tc.ret }
		if r := checkFabric(devices(t, s, 1)); r.Status != tc.want {
			t.Errorf("%s: %+v, want %s", tc.name, r, tc.want)
		}
	}
}
