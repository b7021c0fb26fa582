package gpu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/racklift/racklift/pkg/check"
)

// TestGPURegressions: each case is a one-line regression that once went unnoticed by
// TestChecksAgainstMocks (issue 20); the name says which. Every other check must pass.
func TestGPURegressions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		server func() *server.Server
		pci    int
		status check.Status // of check
		check  string
		msg    string // substring of its message ("" for a pass)
	}{
		{
			// Regression: the `cur != FEATURE_ENABLED` case dropped, ECC off passes.
			name: "ECC turned off fails validation",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 3).GetEccModeFunc = func() (nvml.EnableState, nvml.EnableState, nvml.Return) {
					return nvml.FEATURE_DISABLED, nvml.FEATURE_DISABLED, nvml.SUCCESS
				}
				return s
			},
			pci: 8, check: "gpu.ecc_mode", status: check.Fail,
			msg: "GPU 3 (0000:03:00.0): ECC disabled: run 'nvidia-smi -i 3 -e 1' and reboot",
		},
		{
			// Regression: perGPU letting a later GPU's warn overwrite an earlier fail.
			name: "a failing GPU stays a fail when a later GPU warns",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 1).GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 4, nvml.SUCCESS }
				dev(s, 6).GetCurrPcieLinkGenerationFunc = func() (int, nvml.Return) { return 1, nvml.SUCCESS }
				dev(s, 6).GetPerformanceStateFunc = func() (nvml.Pstates, nvml.Return) { return nvml.PSTATE_8, nvml.SUCCESS }
				return s
			},
			pci: 8, check: "gpu.pcie", status: check.Fail,
			msg: "GPU 1 (0000:01:00.0): PCIe link at gen4 of gen5 under load",
		},
		{
			// Regression: perGPU letting a pass after a warn reset the status.
			name: "a warning GPU stays a warn when later GPUs pass",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 0).GetPersistenceModeFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
				return s
			},
			pci: 8, check: "gpu.persistence", status: check.Warn, msg: "GPU 0 (0000:00:00.0): persistence mode off",
		},
		{
			// Regression: the `present > exp.Count` case dropped: 9 GPUs where 8 are expected.
			name: "9 GPUs where the profile expects 8",
			server: func() *server.Server {
				s := dgxh100.New()
				s.Devices = append(s.Devices, server.NewDeviceFromConfig(dev(s, 0).Config, 8))
				return healthy(s)
			},
			pci: 9, check: "gpu.count", status: check.Fail, msg: "profile expects 8 GPUs, found 9",
		},
		{
			// Regression: the remapped-row limit moved (`unc > 512`).
			name: "512 rows remapped for uncorrectable errors is the limit",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 5).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 3, 512, false, false, nvml.SUCCESS }
				return s
			},
			pci: 8, check: "gpu.retired_memory", status: check.Fail,
			msg: "GPU 5 (0000:05:00.0): 512 rows remapped for uncorrectable errors (limit 512): RMA the GPU",
		},
		{
			// Regression: the remapped-row limit moved the other way (`unc >= 511`).
			name: "511 rows remapped for uncorrectable errors passes",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 5).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 3, 511, false, false, nvml.SUCCESS }
				return s
			},
			pci: 8, check: "gpu.retired_memory", status: check.Pass,
		},
		{
			// Regression: correctable remaps counted against the uncorrectable limit.
			name: "many correctable remaps pass",
			server: func() *server.Server {
				s := healthy(dgxh100.New())
				dev(s, 2).GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 600, 0, false, false, nvml.SUCCESS }
				return s
			},
			pci: 8, check: "gpu.retired_memory", status: check.Pass,
		},
		{
			// Regression: the retired-pages limit moved (Volta: table full at 64).
			name:   "63 retired pages fail on a GPU without row remapping",
			server: func() *server.Server { return retiredPages(healthy(dgxh100.New()), 4, 60, 3) },
			pci:    8, check: "gpu.retired_memory", status: check.Fail,
			msg: "GPU 4 (0000:04:00.0): 63 retired pages (table full at 64): RMA the GPU",
		},
		{
			name:   "62 retired pages pass",
			server: func() *server.Server { return retiredPages(healthy(dgxh100.New()), 4, 60, 2) },
			pci:    8, check: "gpu.retired_memory", status: check.Pass,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rs := Check(context.Background(), h100Expect(), Options{
				Lib:        tc.server(),
				SysRoot:    fakeSysfs(t, tc.pci),
				KernelLog:  func() ([]byte, error) { return nil, nil },
				Uptime:     func() (time.Duration, error) { return time.Hour, nil },
				XIDWindow:  50 * time.Millisecond,
				XIDHistory: 30 * time.Minute,
			})
			for _, r := range rs {
				if r.Name != tc.check && r.Status != check.Pass {
					t.Errorf("%s = %s (%s); only %s may differ\n%s", r.Name, r.Status, r.Message, tc.check, dump(rs))
				}
			}
			r := find(rs, tc.check)
			if r == nil || r.Status != tc.status || !strings.Contains(r.Message, tc.msg) {
				t.Fatalf("%s = %+v; want %s with %q\n%s", tc.check, r, tc.status, tc.msg, dump(rs))
			}
		})
	}
}

// retiredPages makes GPU i a pre-Ampere one (no row remapping) with sbe and dbe pages
// retired.
func retiredPages(s *server.Server, i, sbe, dbe int) *server.Server {
	d := dev(s, i)
	d.GetRemappedRowsFunc = func() (int, int, bool, bool, nvml.Return) { return 0, 0, false, false, nvml.ERROR_NOT_SUPPORTED }
	d.GetRetiredPagesPendingStatusFunc = func() (nvml.EnableState, nvml.Return) { return nvml.FEATURE_DISABLED, nvml.SUCCESS }
	d.GetRetiredPages_v2Func = func(c nvml.PageRetirementCause) ([]uint64, []uint64, nvml.Return) {
		n := sbe
		if c == nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR {
			n = dbe
		}
		return make([]uint64, n), make([]uint64, n), nvml.SUCCESS
	}
	return s
}
