// Package gpu checks a node's NVIDIA GPUs through NVML (go-nvml behind nvml.Interface, so
// tests run against go-nvml's mock servers) and the PCI bus, and samples the gauges
// dcgm-exporter publishes.
package gpu

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// DefaultXIDIgnore are Xids caused by applications, not hardware (k8s-device-plugin's
// list); a profile's xid_ignore replaces it.
var DefaultXIDIgnore = []int{13, 31, 43, 45, 68, 109}

// Options are where the checks read from; zero values mean the real machine.
type Options struct {
	Lib        nvml.Interface                // nil: libnvidia-ml.so.1 via nvml.New()
	SysRoot    string                        // "" : /sys (PCI bus scan)
	KernelLog  func() ([]byte, error)        // nil: read /dev/kmsg
	Uptime     func() (time.Duration, error) // nil: /proc/uptime (ages kernel log records)
	XIDWindow  time.Duration                 // how long to listen for NVML Xid events; 0: 2s, <0: not at all
	XIDHistory time.Duration                 // how far back the kernel log counts; 0: 2h
	OnXID      func(pciBus string, code int) // told of every Xid seen (metrics); may be nil
}

func (o *Options) defaults() {
	if o.Lib == nil {
		o.Lib = nvml.New()
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.KernelLog == nil {
		o.KernelLog = ReadKmsg
	}
	if o.Uptime == nil {
		o.Uptime = procUptime
	}
	if o.XIDWindow == 0 {
		o.XIDWindow = 2 * time.Second
	}
	if o.XIDHistory == 0 {
		o.XIDHistory = 2 * time.Hour
	}
}

// device is one GPU as NVML enumerates it.
type device struct {
	Index int
	Dev   nvml.Device
	Name  string
	UUID  string
	BusID string // canonical, "" when NVML did not say
}

func (d device) label() string {
	if d.BusID != "" {
		return fmt.Sprintf("GPU %d (%s)", d.Index, d.BusID)
	}
	return fmt.Sprintf("GPU %d", d.Index)
}

// Check runs every GPU check against the profile's expectation. It never panics on a
// machine without the driver: NVML start-up failures become a failed "gpu.nvml" result.
func Check(ctx context.Context, exp *expect.GPU, o Options) []check.Result {
	o.defaults()
	if exp == nil {
		exp = &expect.GPU{}
	}
	var out []check.Result
	add := func(name string, f func() check.Result) {
		start := time.Now()
		r := safely(name, f)
		r.Name = name
		r.Duration = time.Since(start)
		out = append(out, r)
	}

	pci, pciErr := PCIGPUs(o.SysRoot)
	var ret nvml.Return
	add("gpu.nvml", func() check.Result {
		ret = o.Lib.Init()
		if ret != nvml.SUCCESS {
			return check.Result{Status: check.Fail, Observed: errorName(ret), Expected: "NVML starts", Message: InitMessage(ret)}
		}
		v, _ := o.Lib.SystemGetNVMLVersion()
		return check.Result{Status: check.Pass, Observed: "NVML " + v, Expected: "NVML starts"}
	})
	if ret != nvml.SUCCESS {
		add("gpu.count", func() check.Result { return pciOnlyCount(exp, pci, pciErr) })
		return out
	}
	defer o.Lib.Shutdown()

	var devs []device
	add("gpu.count", func() check.Result {
		var r check.Result
		devs, r = enumerate(o.Lib, exp, pci, pciErr)
		return r
	})
	if exp.Model != "" {
		add("gpu.model", func() check.Result { return checkModel(devs, exp.Model) })
	}
	add("gpu.driver", func() check.Result { return checkDriver(o.Lib, exp.MinDriver) })
	add("gpu.cuda", func() check.Result { return checkCUDA(o.Lib, exp.CUDA) })
	add("gpu.persistence", func() check.Result { return checkPersistence(devs) })
	add("gpu.ecc_mode", func() check.Result { return checkECCMode(devs) })
	add("gpu.ecc_errors", func() check.Result { return checkECCErrors(devs) })
	add("gpu.retired_memory", func() check.Result { return checkRetiredMemory(devs) })
	add("gpu.pcie", func() check.Result { return checkPCIe(devs) })
	add("gpu.nvlink", func() check.Result { return checkNVLink(devs) })
	add("gpu.clocks", func() check.Result { return checkClocks(devs) })
	add("gpu.fabric", func() check.Result { return checkFabric(devs) })
	add("gpu.xid", func() check.Result { return checkXID(ctx, o, devs, exp) })
	return out
}

// safely turns a panic inside one check (a driver returning something unexpected) into
// that check's failure, so the rest of the report still goes out.
func safely(name string, f func() check.Result) (r check.Result) {
	defer func() {
		if p := recover(); p != nil {
			r = check.Result{Status: check.Fail, Message: fmt.Sprintf("internal error in %s: %v (please report)", name, p)}
		}
	}()
	return f()
}

func pciOnlyCount(exp *expect.GPU, pci []PCIGPU, pciErr error) check.Result {
	r := check.Result{Observed: fmt.Sprintf("%d on PCI, NVML unavailable", len(pci)), Expected: expectedCount(exp)}
	switch {
	case pciErr != nil:
		r.Status, r.Message = check.Fail, "cannot count GPUs: NVML unavailable and "+pciErr.Error()
	case exp.Count > 0 && len(pci) != exp.Count:
		r.Status = check.Fail
		r.Message = fmt.Sprintf("profile expects %d GPUs, %d NVIDIA GPUs on the PCI bus (and NVML unavailable, see gpu.nvml)", exp.Count, len(pci))
		if len(pci) == 0 {
			r.Message += ": is this the right node and profile? are the GPUs seated and enabled in the BIOS?"
		}
	default:
		r.Status, r.Message = check.Fail, fmt.Sprintf("%d NVIDIA GPUs on the PCI bus but NVML unavailable (see gpu.nvml)", len(pci))
	}
	return r
}

func expectedCount(exp *expect.GPU) string {
	if exp.Count == 0 {
		return "as many in NVML as on PCI"
	}
	return fmt.Sprintf("%d", exp.Count)
}

// enumerate lists NVML's devices and compares the count with the profile and the PCI bus.
func enumerate(lib nvml.Interface, exp *expect.GPU, pci []PCIGPU, pciErr error) ([]device, check.Result) {
	n, ret := lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, check.Result{Status: check.Fail, Expected: expectedCount(exp), Message: callErr("DeviceGetCount", ret)}
	}
	var devs []device
	var problems []string
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		h, ret := lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			problems = append(problems, fmt.Sprintf("GPU %d: %s", i, callErr("DeviceGetHandleByIndex", ret)))
			continue
		}
		d := device{Index: i, Dev: h}
		d.Name, _ = h.GetName()
		d.UUID, _ = h.GetUUID()
		if info, ret := h.GetPciInfo(); ret == nvml.SUCCESS {
			if id := cString(info.BusId[:]); id != "" {
				d.BusID = canonicalBusID(id)
				seen[d.BusID] = true
			}
		}
		devs = append(devs, d)
	}
	r := check.Result{Status: check.Pass, Expected: expectedCount(exp)}
	r.Observed = fmt.Sprintf("%d in NVML", len(devs))
	if pciErr == nil {
		r.Observed += fmt.Sprintf(", %d on PCI", len(pci))
	}
	// A GPU that fell off the bus (Xid 79) or failed RmInitAdapter is on PCI, not in NVML.
	if pciErr == nil && len(pci) > len(devs) {
		var missing []string
		for _, p := range pci {
			if len(seen) > 0 && !seen[p.Address] {
				missing = append(missing, p.Address)
			}
		}
		what := fmt.Sprintf("%d GPU(s)", len(pci)-len(devs))
		if len(missing) > 0 {
			what = "GPU " + strings.Join(missing, ", ")
		}
		problems = append(problems, what+" on the PCI bus but not visible to NVML: fallen off the bus or failed to initialise (look for Xid 79 or 'RmInitAdapter failed' in dmesg); power-cycle the node and reseat the GPU if it recurs")
	}
	if exp.Count > 0 {
		present := len(devs)
		if pciErr == nil && len(pci) > present {
			present = len(pci)
		}
		switch {
		case present < exp.Count:
			problems = append(problems, fmt.Sprintf("profile expects %d GPUs, only %d on the PCI bus: a GPU is missing; check it is seated, powered and enabled in the BIOS (slot, above-4G decoding)", exp.Count, present))
		case present > exp.Count:
			problems = append(problems, fmt.Sprintf("profile expects %d GPUs, found %d: is the node's profile right?", exp.Count, present))
		}
	}
	if len(problems) > 0 {
		r.Status, r.Message = check.Fail, strings.Join(problems, "; ")
	}
	return devs, r
}

func cString(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

// perGPU runs f on every GPU and folds the answers into one result: the observed values
// with their counts, the worst status and one message naming each GPU with a finding.
// f returns the observed value and, when something is wrong, a status and message.
func perGPU(devs []device, expected string, f func(d device) (obs string, st check.Status, msg string)) check.Result {
	r := check.Result{Status: check.Pass, Expected: expected}
	var order []string
	counts := map[string]int{}
	var msgOrder []string
	msgGPUs := map[string][]string{}
	for _, d := range devs {
		obs, st, msg := f(d)
		if _, ok := counts[obs]; !ok {
			order = append(order, obs)
		}
		counts[obs]++
		if st == check.Fail || (st == check.Warn && r.Status == check.Pass) {
			r.Status = st
		}
		if msg != "" {
			if _, ok := msgGPUs[msg]; !ok {
				msgOrder = append(msgOrder, msg)
			}
			msgGPUs[msg] = append(msgGPUs[msg], d.label())
		}
	}
	var msgs []string
	for _, m := range msgOrder {
		who := strings.Join(msgGPUs[m], ", ")
		if len(devs) > 1 && len(msgGPUs[m]) == len(devs) {
			who = fmt.Sprintf("all %d GPUs", len(devs))
		}
		msgs = append(msgs, who+": "+m)
	}
	var parts []string
	for _, o := range order {
		if len(devs) > 1 {
			parts = append(parts, fmt.Sprintf("%d× %s", counts[o], o))
		} else {
			parts = append(parts, o)
		}
	}
	r.Observed = strings.Join(parts, ", ")
	if len(devs) == 0 {
		r.Observed = "no GPUs"
	}
	r.Message = strings.Join(msgs, "; ")
	return r
}

func checkModel(devs []device, model string) check.Result {
	return perGPU(devs, model, func(d device) (string, check.Status, string) {
		if !strings.Contains(strings.ToLower(d.Name), strings.ToLower(model)) {
			return d.Name, check.Fail, fmt.Sprintf("is %q, profile expects %q: wrong node, profile or GPU fitted", d.Name, model)
		}
		return d.Name, check.Pass, ""
	})
}

func checkDriver(lib nvml.Interface, min string) check.Result {
	v, ret := lib.SystemGetDriverVersion()
	r := check.Result{Status: check.Pass, Observed: v, Expected: "≥ " + min}
	if min == "" {
		r.Expected = "any"
	}
	if ret != nvml.SUCCESS {
		r.Status, r.Message = check.Fail, callErr("SystemGetDriverVersion", ret)
		return r
	}
	if min == "" {
		return r
	}
	c, err := compareVersions(v, min)
	if err != nil {
		r.Status, r.Message = check.Fail, "cannot compare driver versions: "+err.Error()
		return r
	}
	if c < 0 {
		r.Status = check.Fail
		r.Message = fmt.Sprintf("driver %s is older than the profile's minimum %s: install driver %s or newer (and the matching fabric manager on NVSwitch systems)", v, min, min)
	}
	return r
}

func checkCUDA(lib nvml.Interface, min string) check.Result {
	v, ret := lib.SystemGetCudaDriverVersion()
	r := check.Result{Status: check.Pass, Expected: "≥ " + min}
	if min == "" {
		r.Expected = "any"
	}
	if ret != nvml.SUCCESS {
		r.Status, r.Message = check.Fail, callErr("SystemGetCudaDriverVersion", ret)
		return r
	}
	r.Observed = cudaVersion(v)
	if min == "" {
		return r
	}
	c, err := compareVersions(r.Observed, min)
	if err != nil {
		r.Status, r.Message = check.Fail, "cannot compare CUDA versions: "+err.Error()
		return r
	}
	if c < 0 {
		r.Status = check.Fail
		r.Message = fmt.Sprintf("the driver supports CUDA %s, the profile needs %s: upgrade the NVIDIA driver (the CUDA driver API comes with it)", r.Observed, min)
	}
	return r
}

func checkPersistence(devs []device) check.Result {
	return perGPU(devs, "enabled", func(d device) (string, check.Status, string) {
		m, ret := d.Dev.GetPersistenceMode()
		switch {
		case ret == nvml.ERROR_NOT_SUPPORTED:
			return "not supported", check.Pass, ""
		case ret != nvml.SUCCESS:
			return "unknown", check.Fail, callErr("GetPersistenceMode", ret)
		case m != nvml.FEATURE_ENABLED:
			return "disabled", check.Warn, "persistence mode off: the driver tears down between jobs (slow starts, lost state); run 'systemctl enable --now nvidia-persistenced'"
		}
		return "enabled", check.Pass, ""
	})
}

func checkECCMode(devs []device) check.Result {
	return perGPU(devs, "enabled, no change pending", func(d device) (string, check.Status, string) {
		cur, pend, ret := d.Dev.GetEccMode()
		switch {
		case ret == nvml.ERROR_NOT_SUPPORTED:
			return "not supported", check.Pass, ""
		case ret != nvml.SUCCESS:
			return "unknown", check.Fail, callErr("GetEccMode", ret)
		case cur != pend:
			return fmt.Sprintf("current %s, pending %s", onOff(cur), onOff(pend)), check.Fail, "ECC mode change pending: reboot the node to apply it"
		case cur != nvml.FEATURE_ENABLED:
			return "disabled", check.Fail, "ECC disabled: run 'nvidia-smi -i " + fmt.Sprint(d.Index) + " -e 1' and reboot"
		}
		return "enabled", check.Pass, ""
	})
}

func onOff(s nvml.EnableState) string {
	if s == nvml.FEATURE_ENABLED {
		return "enabled"
	}
	return "disabled"
}

func checkECCErrors(devs []device) check.Result {
	return perGPU(devs, "0 uncorrectable since driver load", func(d device) (string, check.Status, string) {
		n, ret := d.Dev.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
		switch {
		case ret == nvml.ERROR_NOT_SUPPORTED:
			return "not supported", check.Pass, ""
		case ret != nvml.SUCCESS:
			return "unknown", check.Fail, callErr("GetTotalEccErrors", ret)
		case n > 0:
			return fmt.Sprintf("%d uncorrectable", n), check.Fail, fmt.Sprintf("%d uncorrectable ECC errors since the driver loaded: drain the node, reset the GPU (nvidia-smi -r) and RMA it if they come back", n)
		}
		return "0 uncorrectable", check.Pass, ""
	})
}

// checkRetiredMemory reads row remapping (A100 and later) or, where that is not
// supported, retired pages (Volta and older).
func checkRetiredMemory(devs []device) check.Result {
	return perGPU(devs, "no remap pending or failed, retired pages < 63", func(d device) (string, check.Status, string) {
		corr, unc, pending, failed, ret := d.Dev.GetRemappedRows()
		if ret == nvml.SUCCESS {
			obs := fmt.Sprintf("%d/%d rows remapped (corr/unc)", corr, unc)
			switch {
			case failed:
				return obs + ", remap failed", check.Fail, "row remapping failed: the GPU's memory has run out of spare rows; RMA the GPU"
			case pending:
				return obs + ", remap pending", check.Fail, "row remap pending: reset the GPU (nvidia-smi -r on an idle GPU) or reboot to apply it"
			case unc >= 512:
				return obs, check.Fail, fmt.Sprintf("%d rows remapped for uncorrectable errors (limit 512): RMA the GPU", unc)
			}
			return obs, check.Pass, ""
		}
		if ret != nvml.ERROR_NOT_SUPPORTED {
			return "unknown", check.Fail, callErr("GetRemappedRows", ret)
		}
		p, ret := d.Dev.GetRetiredPagesPendingStatus()
		if ret == nvml.ERROR_NOT_SUPPORTED {
			return "not supported", check.Pass, ""
		}
		if ret != nvml.SUCCESS {
			return "unknown", check.Fail, callErr("GetRetiredPagesPendingStatus", ret)
		}
		sbe, _, _ := d.Dev.GetRetiredPages_v2(nvml.PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS)
		dbe, _, _ := d.Dev.GetRetiredPages_v2(nvml.PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR)
		total := len(sbe) + len(dbe)
		obs := fmt.Sprintf("%d pages retired", total)
		switch {
		case p == nvml.FEATURE_ENABLED:
			return obs + ", retirement pending", check.Fail, "page retirement pending: reboot to retire the pages"
		case total >= 63:
			return obs, check.Fail, fmt.Sprintf("%d retired pages (table full at 64): RMA the GPU", total)
		}
		return obs, check.Pass, ""
	})
}

func checkPCIe(devs []device) check.Result {
	return perGPU(devs, "current gen and width = maximum", func(d device) (string, check.Status, string) {
		gen, r1 := d.Dev.GetCurrPcieLinkGeneration()
		width, r2 := d.Dev.GetCurrPcieLinkWidth()
		maxGen, r3 := d.Dev.GetMaxPcieLinkGeneration()
		maxWidth, r4 := d.Dev.GetMaxPcieLinkWidth()
		for _, c := range []struct {
			n string
			r nvml.Return
		}{{"GetCurrPcieLinkGeneration", r1}, {"GetCurrPcieLinkWidth", r2}, {"GetMaxPcieLinkGeneration", r3}, {"GetMaxPcieLinkWidth", r4}} {
			if c.r == nvml.ERROR_NOT_SUPPORTED {
				return "not supported", check.Pass, ""
			}
			if c.r != nvml.SUCCESS {
				return "unknown", check.Fail, callErr(c.n, c.r)
			}
		}
		obs := fmt.Sprintf("gen%d x%d", gen, width)
		if width < maxWidth {
			return obs, check.Fail, fmt.Sprintf("PCIe link trained at x%d of x%d: reseat the GPU or its riser/retimer cable, and check the slot's bifurcation setting in the BIOS", width, maxWidth)
		}
		if gen < maxGen {
			ps, ret := d.Dev.GetPerformanceState()
			if ret == nvml.SUCCESS && ps != nvml.PSTATE_0 {
				return obs, check.Warn, fmt.Sprintf("PCIe link at gen%d of gen%d while the GPU idles in P%d: idle GPUs lower their link speed to save power; rerun under load to confirm", gen, maxGen, int(ps))
			}
			return obs, check.Fail, fmt.Sprintf("PCIe link at gen%d of gen%d under load (P0): check the riser/retimer, the slot's PCIe generation in the BIOS and AER errors in dmesg", gen, maxGen)
		}
		return obs, check.Pass, ""
	})
}

func checkNVLink(devs []device) check.Result {
	return perGPU(devs, "all links active", func(d device) (string, check.Status, string) {
		var active int
		var down []string
		for l := 0; l < nvml.NVLINK_MAX_LINKS; l++ {
			st, ret := d.Dev.GetNvLinkState(l)
			if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_INVALID_ARGUMENT {
				if l == 0 {
					return "no NVLink", check.Pass, ""
				}
				break
			}
			if ret != nvml.SUCCESS {
				down = append(down, fmt.Sprintf("%d (%s)", l, errorName(ret)))
				continue
			}
			if st == nvml.FEATURE_ENABLED {
				active++
			} else {
				down = append(down, fmt.Sprint(l))
			}
		}
		obs := fmt.Sprintf("%d/%d links active", active, active+len(down))
		if len(down) > 0 {
			return obs, check.Fail, fmt.Sprintf("NVLink %s down: check the NVLink bridge/cable tray or NVSwitch baseboard, then 'nvidia-smi nvlink -s -i %d'", strings.Join(down, ", "), d.Index)
		}
		return obs, check.Pass, ""
	})
}

// Clock event reasons that mean hardware trouble, and the ones that only warn.
var (
	clockFail = []struct {
		bit  uint64
		name string
		fix  string
	}{
		{nvml.ClocksThrottleReasonHwSlowdown, "hardware slowdown", "power supply or board fault (EDPp): check PSU redundancy and the BMC's event log"},
		{nvml.ClocksThrottleReasonHwThermalSlowdown, "hardware thermal slowdown", "the GPU is overheating: check fans, airflow and inlet temperature"},
		{nvml.ClocksThrottleReasonHwPowerBrakeSlowdown, "power brake", "the chassis asserted power brake: check PSUs and the BMC's power capping"},
	}
	clockWarn = []struct {
		bit  uint64
		name string
		fix  string
	}{
		{nvml.ClocksEventReasonSwThermalSlowdown, "software thermal slowdown", "the GPU runs hot: check cooling"},
	}
)

func checkClocks(devs []device) check.Result {
	return perGPU(devs, "no hardware slowdown or thermal throttling", func(d device) (string, check.Status, string) {
		reasons, ret := d.Dev.GetCurrentClocksEventReasons()
		if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_FUNCTION_NOT_FOUND {
			reasons, ret = d.Dev.GetCurrentClocksThrottleReasons()
		}
		if ret == nvml.ERROR_NOT_SUPPORTED {
			return "not supported", check.Pass, ""
		}
		if ret != nvml.SUCCESS {
			return "unknown", check.Fail, callErr("GetCurrentClocksEventReasons", ret)
		}
		var names, fixes []string
		st := check.Pass
		for _, c := range clockFail {
			if reasons&c.bit != 0 {
				names, fixes, st = append(names, c.name), append(fixes, c.fix), check.Fail
			}
		}
		for _, c := range clockWarn {
			if reasons&c.bit != 0 {
				names, fixes = append(names, c.name), append(fixes, c.fix)
				if st == check.Pass {
					st = check.Warn
				}
			}
		}
		if len(names) == 0 {
			return "no throttling", check.Pass, ""
		}
		return strings.Join(names, "+"), st, strings.Join(names, ", ") + ": " + strings.Join(fixes, "; ")
	})
}

func checkFabric(devs []device) check.Result {
	return perGPU(devs, "fabric training completed (NVSwitch systems)", func(d device) (string, check.Status, string) {
		fi, ret := d.Dev.GetGpuFabricInfo()
		if ret == nvml.ERROR_NOT_SUPPORTED || ret == nvml.ERROR_FUNCTION_NOT_FOUND || (ret == nvml.SUCCESS && fi.State == nvml.GPU_FABRIC_STATE_NOT_SUPPORTED) {
			return "no NVSwitch fabric", check.Pass, ""
		}
		if ret != nvml.SUCCESS {
			return "unknown", check.Fail, callErr("GetGpuFabricInfo", ret)
		}
		switch fi.State {
		case nvml.GPU_FABRIC_STATE_NOT_STARTED:
			return "not started", check.Fail, "NVSwitch fabric not started: start nvidia-fabricmanager (same version as the driver); CUDA fails with 'system not yet initialized' until it runs"
		case nvml.GPU_FABRIC_STATE_IN_PROGRESS:
			return "in progress", check.Warn, "NVSwitch fabric training in progress: wait a minute and check again; if it stays, read journalctl -u nvidia-fabricmanager"
		}
		if nvml.Return(fi.Status) != nvml.SUCCESS {
			return "completed with error", check.Fail, fmt.Sprintf("NVSwitch fabric training failed (%s): read journalctl -u nvidia-fabricmanager; check fabric manager and driver versions match", errorName(nvml.Return(fi.Status)))
		}
		return "completed", check.Pass, ""
	})
}
