package gpu

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/racklift/racklift/pkg/check"
)

// Sample is one GPU's gauges, named after the dcgm-exporter fields they feed. A value
// NVML does not support on this GPU is left out of Values.
type Sample struct {
	Index      int
	UUID       string
	PCIBusID   string // as NVML writes it (00000000:1B:00.0), dcgm-exporter's pci_bus_id label
	Device     string // nvidia<minor>
	ModelName  string
	Values     map[string]float64 // DCGM_FI_DEV_* → value
	Driver     string
	canonicBus string
}

// Bus is the GPU's PCI address as sysfs writes it (0000:1b:00.0).
func (s Sample) Bus() string { return s.canonicBus }

// Sampler reads GPU gauges on demand (at each /metrics scrape). It keeps NVML
// initialised between scrapes; Close shuts it down.
type Sampler struct {
	lib    nvml.Interface
	driver string
}

// NewSampler initialises NVML; on a machine without the driver it returns an error in
// plain words (InitMessage) and the agent serves no GPU metrics.
func NewSampler(lib nvml.Interface) (*Sampler, error) {
	if lib == nil {
		lib = nvml.New()
	}
	if ret := lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("%s", InitMessage(ret))
	}
	d, _ := lib.SystemGetDriverVersion()
	return &Sampler{lib: lib, driver: d}, nil
}

// Close shuts NVML down.
func (s *Sampler) Close() { s.lib.Shutdown() }

// Inventory lists the GPUs for the hardware report.
func (s *Sampler) Inventory() []check.GPU {
	var out []check.GPU
	for _, smp := range s.Sample() {
		out = append(out, check.GPU{Index: smp.Index, Name: smp.ModelName, UUID: smp.UUID, PCI: smp.canonicBus})
	}
	return out
}

// Sample reads every GPU's gauges.
func (s *Sampler) Sample() []Sample {
	n, ret := s.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil
	}
	var out []Sample
	for i := 0; i < n; i++ {
		d, ret := s.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			continue
		}
		out = append(out, s.sampleOne(i, d))
	}
	return out
}

func (s *Sampler) sampleOne(i int, d nvml.Device) (smp Sample) {
	smp = Sample{Index: i, Driver: s.driver, Values: map[string]float64{}}
	try(func() { smp.UUID, _ = d.GetUUID() })
	try(func() { smp.ModelName, _ = d.GetName() })
	try(func() {
		if minor, ret := d.GetMinorNumber(); ret == nvml.SUCCESS {
			smp.Device = fmt.Sprintf("nvidia%d", minor)
		}
	})
	try(func() {
		if p, ret := d.GetPciInfo(); ret == nvml.SUCCESS {
			smp.PCIBusID = cString(p.BusId[:])
			smp.canonicBus = canonicalBusID(smp.PCIBusID)
		}
	})
	set := func(name string, v float64, ret nvml.Return) {
		if ret == nvml.SUCCESS {
			smp.Values[name] = v
		}
	}
	// Each reading on its own: a call this driver (or a mock) lacks leaves only that
	// gauge out.
	for _, read := range []func(){
		func() { t, r := d.GetTemperature(nvml.TEMPERATURE_GPU); set("DCGM_FI_DEV_GPU_TEMP", float64(t), r) },
		func() { p, r := d.GetPowerUsage(); set("DCGM_FI_DEV_POWER_USAGE", float64(p)/1000, r) }, // mW → W
		func() {
			e, r := d.GetTotalEnergyConsumption()
			set("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", float64(e), r)
		},
		func() { c, r := d.GetClockInfo(nvml.CLOCK_SM); set("DCGM_FI_DEV_SM_CLOCK", float64(c), r) },
		func() { c, r := d.GetClockInfo(nvml.CLOCK_MEM); set("DCGM_FI_DEV_MEM_CLOCK", float64(c), r) },
		func() {
			u, r := d.GetUtilizationRates()
			set("DCGM_FI_DEV_GPU_UTIL", float64(u.Gpu), r)
			set("DCGM_FI_DEV_MEM_COPY_UTIL", float64(u.Memory), r)
		},
		func() {
			m, r := d.GetMemoryInfo()
			set("DCGM_FI_DEV_FB_FREE", float64(m.Free>>20), r) // MiB
			set("DCGM_FI_DEV_FB_USED", float64(m.Used>>20), r)
		},
		func() {
			n, r := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.VOLATILE_ECC)
			set("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", float64(n), r)
		},
		func() {
			n, r := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC)
			set("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", float64(n), r)
		},
		func() {
			n, r := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_CORRECTED, nvml.AGGREGATE_ECC)
			set("DCGM_FI_DEV_ECC_SBE_AGG_TOTAL", float64(n), r)
		},
		func() {
			n, r := d.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.AGGREGATE_ECC)
			set("DCGM_FI_DEV_ECC_DBE_AGG_TOTAL", float64(n), r)
		},
		func() { n, r := d.GetPcieReplayCounter(); set("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", float64(n), r) },
		func() { g, r := d.GetCurrPcieLinkGeneration(); set("DCGM_FI_DEV_PCIE_LINK_GEN", float64(g), r) },
		func() { w, r := d.GetCurrPcieLinkWidth(); set("DCGM_FI_DEV_PCIE_LINK_WIDTH", float64(w), r) },
		func() {
			corr, unc, pending, failed, r := d.GetRemappedRows()
			set("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", float64(corr), r)
			set("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", float64(unc), r)
			set("DCGM_FI_DEV_ROW_REMAP_PENDING", b2f(pending), r)
			set("DCGM_FI_DEV_ROW_REMAP_FAILURE", b2f(failed), r)
		},
		func() {
			c, r := d.GetCurrentClocksEventReasons()
			set("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", float64(c), r)
		},
	} {
		try(read)
	}
	return smp
}

func try(f func()) {
	defer func() { recover() }()
	f()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
