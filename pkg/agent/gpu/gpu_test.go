package gpu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// healthy makes a go-nvml mock server answer every call the checks make the way a good
// DGX does: ECC on, links at gen5 x16, 18 NVLinks up, fabric trained, no Xids.
func healthy(s *server.Server) *server.Server {
	s.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(ms uint32) (nvml.EventData, nvml.Return) {
				time.Sleep(time.Duration(min(ms, 20)) * time.Millisecond)
				return nvml.EventData{}, nvml.ERROR_TIMEOUT
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	for _, dev := range s.Devices {
		d := dev.(*server.Device)
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			p := nvml.PciInfo{PciDeviceId: d.Config.PciDeviceId}
			// NVML writes an 8-digit domain in upper case.
			id := strings.ToUpper("0000" + d.PciBusID)
			for i := 0; i < len(id); i++ {
				p.BusId[i] = int8(id[i])
			}
			return p, nvml.SUCCESS
		}
		d.GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_ENABLED, nvml.SUCCESS }
		d.GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
			return nvml.FEATURE_ENABLED, nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		d.GetTotalEccErrorsFunc = func(nvml.MemoryErrorType, nvml.EccCounterType) (uint64, nvml.Return) { return 0, nvml.SUCCESS }
		d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, nvml.SUCCESS }
		d.GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, nvml.SUCCESS }
		d.GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, nvml.SUCCESS }
		d.GetMaxPcieLinkGenerationFunc = func() (int, nvml.Return) { return 5, nvml.SUCCESS }
		d.GetMaxPcieLinkWidthFunc = func() (int, nvml.Return) { return 16, nvml.SUCCESS }
		d.GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return nvml.PSTATE_0, nvml.SUCCESS }
		d.GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
			if l >= 18 {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) { return nvml.ClocksEventReasonGpuIdle, nvml.SUCCESS }
		d.GetGpuFabricInfoFunc = func() (nvml.GpuFabricInfo, nvml.Return) {
			return nvml.GpuFabricInfo{State: nvml.GPU_FABRIC_STATE_COMPLETED, Status: uint32(nvml.SUCCESS)}, nvml.SUCCESS
		}
		d.GetSupportedEventTypesFunc = func() (uint64, nvml.Return) {
			return nvml.EventTypeXidCriticalError | nvml.EventTypeDoubleBitEccError, nvml.SUCCESS
		}
		d.RegisterEventsFunc = func(uint64, nvml.EventSet) nvml.Return { return nvml.SUCCESS }
	}
	return s
}

// fakeSysfs writes n NVIDIA GPUs (at the mock's bus ids), an NVSwitch and a NIC.
func fakeSysfs(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	add := func(addr, vendor, class, device string) {
		d := filepath.Join(root, "bus", "pci", "devices", addr)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, v := range map[string]string{"vendor": vendor, "class": class, "device": device} {
			if err := os.WriteFile(filepath.Join(d, f), []byte(v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 0; i < n; i++ {
		add(fmt.Sprintf("0000:%02x:00.0", i), "0x10de", "0x030200", "0x2330")
	}
	add("0000:c0:00.0", "0x10de", "0x068000", "0x22a3") // NVSwitch: not a GPU
	add("0000:d0:00.0", "0x15b3", "0x020000", "0x1021") // ConnectX NIC
	return root
}

func dev(s *server.Server, i int) *server.Device { return s.Devices[i].(*server.Device) }

func h100Expect() *expect.GPU {
	return &expect.GPU{Model: "H100 80GB HBM3", Count: 8, MinDriver: "550.54.15", CUDA: "12.4"}
}

func TestChecksAgainstMocks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func() *server.Server
		pci    int
		exp    func() *expect.GPU
		klog   string
		want   map[string]check.Status // every non-pass result, exactly
		msg    map[string]string       // substring each of those messages must hold
	}{
		{name: "healthy DGX H100", server: func() *server.Server { return healthy(dgxh100.New()) }, pci: 8},
		{
			name: "GPU fell off the bus: NVML 7, PCI 8",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				s.Devices = slices.Delete(s.Devices, 3, 4)
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.count": check.Fail},
			msg:  map[string]string{"gpu.count": "GPU 0000:03:00.0 on the PCI bus but not visible to NVML"},
		},
		{
			name: "GPU missing from the bus: 7 everywhere",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				s.Devices = s.Devices[:7]
				return s
			},
			pci:  7,
			want: map[string]check.Status{"gpu.count": check.Fail},
			msg:  map[string]string{"gpu.count": "profile expects 8 GPUs, only 7 on the PCI bus"},
		},
		{
			name: "uncorrectable ECC errors",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 2).GetTotalEccErrorsFunc = func(t nvml.MemoryErrorType, _ nvml.EccCounterType) (uint64, nvml.Return) {
					if t == nvml.MEMORY_ERROR_TYPE_UNCORRECTED {
						return 4, nvml.SUCCESS
					}
					return 100, nvml.SUCCESS
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.ecc_errors": check.Fail},
			msg:  map[string]string{"gpu.ecc_errors": "GPU 2 (0000:02:00.0): 4 uncorrectable ECC errors since the driver loaded"},
		},
		{
			name: "ECC mode change pending",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 6).GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
					return nvml.FEATURE_DISABLED, nvml.FEATURE_ENABLED, nvml.SUCCESS
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.ecc_mode": check.Fail},
			msg:  map[string]string{"gpu.ecc_mode": "GPU 6 (0000:06:00.0): ECC mode change pending: reboot"},
		},
		{
			name: "row remap pending",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 1).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 2, true, false, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.retired_memory": check.Fail},
			msg:  map[string]string{"gpu.retired_memory": "GPU 1 (0000:01:00.0): row remap pending: reset the GPU"},
		},
		{
			name: "row remap failed",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 4).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 9, false, true, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.retired_memory": check.Fail},
			msg:  map[string]string{"gpu.retired_memory": "row remapping failed"},
		},
		{
			name: "link trained at x8",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 5).GetCurrPcieLinkWidthFunc = func() (int, nvml.Return) { return 8, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.pcie": check.Fail},
			msg:  map[string]string{"gpu.pcie": "GPU 5 (0000:05:00.0): PCIe link trained at x8 of x16: reseat"},
		},
		{
			name: "idle GPU downtrained to gen1: warn, not fail",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 0).GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 1, nvml.SUCCESS }
				dev(s, 0).GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return nvml.PSTATE_8, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.pcie": check.Warn},
			msg:  map[string]string{"gpu.pcie": "idle GPUs lower their link speed to save power"},
		},
		{
			name: "gen4 under load",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 7).GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 4, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.pcie": check.Fail},
			msg:  map[string]string{"gpu.pcie": "GPU 7 (0000:07:00.0): PCIe link at gen4 of gen5 under load"},
		},
		{
			name: "NVLink down",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 3).GetNvLinkStateFunc = func(l int) (nvml.EnableState, nvml.Return) {
					switch {
					case l >= 18:
						return 0, nvml.ERROR_INVALID_ARGUMENT
					case l == 7:
						return nvml.FEATURE_DISABLED, nvml.SUCCESS
					}
					return nvml.FEATURE_ENABLED, nvml.SUCCESS
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.nvlink": check.Fail},
			msg:  map[string]string{"gpu.nvlink": "GPU 3 (0000:03:00.0): NVLink 7 down"},
		},
		{
			name:   "old driver",
			server: func() *server.Server { s := healthy(dgxh100.New()); s.DriverVersion = "535.104.05"; return s },
			pci:    8,
			want:   map[string]check.Status{"gpu.driver": check.Fail},
			msg:    map[string]string{"gpu.driver": "driver 535.104.05 is older than the profile's minimum 550.54.15"},
		},
		{
			name:   "newer driver with a shorter minor passes (numeric compare)",
			server: func() *server.Server { s := healthy(dgxh100.New()); s.DriverVersion = "550.100"; return s },
			pci:    8,
		},
		{
			name:   "CUDA too old",
			server: func() *server.Server { return healthy(dgxh100.New()) },
			pci:    8,
			exp:    func() *expect.GPU { e := h100Expect(); e.CUDA = "12.10"; return e },
			want:   map[string]check.Status{"gpu.cuda": check.Fail},
			msg:    map[string]string{"gpu.cuda": "the driver supports CUDA 12.4, the profile needs 12.10"},
		},
		{
			name:   "wrong model: A100s where H100s are expected",
			server: func() *server.Server { return healthy(dgxa100.New()) },
			pci:    8,
			want:   map[string]check.Status{"gpu.model": check.Fail},
			msg:    map[string]string{"gpu.model": `all 8 GPUs: is "Mock NVIDIA A100-SXM4-40GB", profile expects "H100 80GB HBM3"`},
		},
		{
			name: "persistence mode off warns",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 2).GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.persistence": check.Warn},
			msg:  map[string]string{"gpu.persistence": "nvidia-persistenced"},
		},
		{
			name: "hardware thermal slowdown",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 0).GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
					return nvml.ClocksThrottleReasonHwSlowdown | nvml.ClocksThrottleReasonHwThermalSlowdown, nvml.SUCCESS
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.clocks": check.Fail},
			msg:  map[string]string{"gpu.clocks": "GPU 0 (0000:00:00.0): hardware slowdown, hardware thermal slowdown"},
		},
		{
			name: "fabric manager not started",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				for i := range s.Devices {
					dev(s, i).GetGpuFabricInfoFunc = func() (nvml.GpuFabricInfo, nvml.Return) {
						return nvml.GpuFabricInfo{State: nvml.GPU_FABRIC_STATE_NOT_STARTED}, nvml.SUCCESS
					}
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.fabric": check.Fail},
			msg:  map[string]string{"gpu.fabric": "start nvidia-fabricmanager"},
		},
		{
			name:   "Xid 79 in the kernel log",
			server: func() *server.Server { return healthy(dgxh100.New()) },
			pci:    8,
			klog:   "4,1201,3500000000,-;NVRM: Xid (PCI:0000:04:00): 79, pid=1234, GPU has fallen off the bus.\n",
			want:   map[string]check.Status{"gpu.xid": check.Fail},
			msg:    map[string]string{"gpu.xid": "Xid 79 on 0000:04:00.0 (kernel log, 1m40s ago): GPU has fallen off the bus"},
		},
		{
			name:   "old Xid outside the window and an ignored one pass",
			server: func() *server.Server { return healthy(dgxh100.New()) },
			pci:    8,
			klog: "4,1,1000000,-;NVRM: Xid (PCI:0000:04:00): 79, pid=1, GPU has fallen off the bus.\n" +
				"4,2,3550000000,-;NVRM: Xid (PCI:0000:02:00): 13, pid=9, Graphics Exception\n",
		},
		{
			name:   "ignore list replaced by the profile",
			server: func() *server.Server { return healthy(dgxh100.New()) },
			pci:    8,
			exp:    func() *expect.GPU { e := h100Expect(); e.XIDIgnore = []int{}; return e },
			klog:   "4,2,3550000000,-;NVRM: Xid (PCI:0000:02:00): 13, pid=9, Graphics Exception\n",
			want:   map[string]check.Status{"gpu.xid": check.Fail},
			msg:    map[string]string{"gpu.xid": "Xid 13 on 0000:02:00"},
		},
		{
			name: "Xid 48 from an NVML event",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				sent := false
				s.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
					return &mock.EventSet{
						WaitFunc: func(ms uint32) (nvml.EventData, nvml.Return) {
							if !sent {
								sent = true
								return nvml.EventData{Device: s.Devices[6], EventType: nvml.EventTypeXidCriticalError, EventData: 48}, nvml.SUCCESS
							}
							time.Sleep(10 * time.Millisecond)
							return nvml.EventData{}, nvml.ERROR_TIMEOUT
						},
						FreeFunc: func() nvml.Return { return nvml.SUCCESS },
					}, nvml.SUCCESS
				}
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.xid": check.Fail},
			msg:  map[string]string{"gpu.xid": "Xid 48 on GPU 6 (0000:06:00.0) (NVML event): double-bit ECC error"},
		},
		{
			name: "driver library not found",
			server: func() *server.Server {
				s := dgxh100.New()
				s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.nvml": check.Fail, "gpu.count": check.Fail},
			msg: map[string]string{
				"gpu.nvml":  "NVIDIA driver not installed (libnvidia-ml.so.1 not found)",
				"gpu.count": "8 NVIDIA GPUs on the PCI bus but NVML unavailable",
			},
		},
		{
			name: "driver library not found and no GPU on the bus",
			server: func() *server.Server {
				s := dgxh100.New()
				s.InitFunc = func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }
				return s
			},
			pci:  0,
			want: map[string]check.Status{"gpu.nvml": check.Fail, "gpu.count": check.Fail},
			msg:  map[string]string{"gpu.count": "profile expects 8 GPUs, 0 NVIDIA GPUs on the PCI bus"},
		},
		{
			name: "kernel module and library differ",
			server: func() *server.Server {
				s := dgxh100.New()
				s.InitFunc = func() nvml.Return { return nvml.ERROR_LIB_RM_VERSION_MISMATCH }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.nvml": check.Fail, "gpu.count": check.Fail},
			msg:  map[string]string{"gpu.nvml": "kernel module and user-space driver differ: reboot or reinstall the driver"},
		},
		{
			name: "driver not loaded",
			server: func() *server.Server {
				s := dgxh100.New()
				s.InitFunc = func() nvml.Return { return nvml.ERROR_DRIVER_NOT_LOADED }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.nvml": check.Fail, "gpu.count": check.Fail},
			msg:  map[string]string{"gpu.nvml": "NVIDIA kernel module not loaded"},
		},
		{
			name: "no permission",
			server: func() *server.Server {
				s := dgxh100.New()
				s.InitFunc = func() nvml.Return { return nvml.ERROR_NO_PERMISSION }
				return s
			},
			pci:  8,
			want: map[string]check.Status{"gpu.nvml": check.Fail, "gpu.count": check.Fail},
			msg:  map[string]string{"gpu.nvml": "run node-agent as root"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exp := h100Expect()
			if tc.exp != nil {
				exp = tc.exp()
			}
			o := Options{
				Lib:        tc.server(),
				SysRoot:    fakeSysfs(t, tc.pci),
				KernelLog:  func() ([]byte, error) { return []byte(tc.klog), nil },
				Uptime:     func() (time.Duration, error) { return 3600 * time.Second, nil },
				XIDWindow:  100 * time.Millisecond,
				XIDHistory: 30 * time.Minute,
			}
			rs := Check(context.Background(), exp, o)
			got := map[string]check.Status{}
			for _, r := range rs {
				if r.Status != check.Pass {
					got[r.Name] = r.Status
				}
			}
			if !mapsEqual(got, tc.want) {
				t.Fatalf("non-passing checks = %v, want %v\n%s", got, tc.want, dump(rs))
			}
			for name, sub := range tc.msg {
				r := find(rs, name)
				if r == nil || !strings.Contains(r.Message, sub) {
					t.Errorf("%s message = %q, want it to contain %q", name, msgOf(r), sub)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]check.Status) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func find(rs []check.Result, name string) *check.Result {
	for i := range rs {
		if rs[i].Name == name {
			return &rs[i]
		}
	}
	return nil
}

func msgOf(r *check.Result) string {
	if r == nil {
		return "<no such result>"
	}
	return r.Message
}

func dump(rs []check.Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "  %-20s %-4s obs=%q exp=%q msg=%q\n", r.Name, r.Status, r.Observed, r.Expected, r.Message)
	}
	return b.String()
}

// On a machine without the NVIDIA driver (this one, CI) the real library must fail
// cleanly with the plain-words message, never panic.
func TestRealLibraryWithoutDriver(t *testing.T) {
	for _, p := range []string{"/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1", "/usr/lib64/libnvidia-ml.so.1", "/usr/lib/libnvidia-ml.so.1"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists: this machine has the NVIDIA driver", p)
		}
	}
	rs := Check(context.Background(), h100Expect(), Options{SysRoot: fakeSysfs(t, 0), XIDWindow: -1})
	r := find(rs, "gpu.nvml")
	if r == nil || r.Status != check.Fail || !strings.Contains(r.Message, "NVIDIA driver not installed (libnvidia-ml.so.1 not found)") {
		t.Fatalf("gpu.nvml = %+v", r)
	}
}

func TestCompareVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"550.54.15", "550.54.15", 0},
		{"550.100", "550.54.15", 1},
		{"535.183.01", "550.54.15", -1},
		{"12.10", "12.4", 1},
		{"12", "12.0", 0},
	} {
		got, err := compareVersions(tc.a, tc.b)
		if err != nil || got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
	if _, err := compareVersions("550.x", "1"); err == nil {
		t.Error("compareVersions accepted a non-numeric part")
	}
}

func TestCanonicalBusID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"00000000:1B:00.0": "0000:1b:00.0",
		"0000:1b:00.0":     "0000:1b:00.0",
		"0000:04:00":       "0000:04:00.0", // Xid lines leave the function out
	} {
		if got := canonicalBusID(in); got != want {
			t.Errorf("canonicalBusID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPCIGPUsFiltersNVSwitchAndOtherVendors(t *testing.T) {
	t.Parallel()
	gs, err := PCIGPUs(fakeSysfs(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, g := range gs {
		addrs = append(addrs, g.Address)
	}
	sort.Strings(addrs)
	if strings.Join(addrs, " ") != "0000:00:00.0 0000:01:00.0 0000:02:00.0" {
		t.Fatalf("PCIGPUs = %v", addrs)
	}
}
