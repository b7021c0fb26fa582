package check

// Hardware is a node's hardware inventory as the agent reports it (pkg/agent/hw collects
// it from sysfs and procfs; the gpu package adds what NVML names).
type Hardware struct {
	Hostname string      `json:"hostname,omitempty"`
	CPU      CPU         `json:"cpu"`
	MemoryKB uint64      `json:"memory_kb"`
	Disks    []Disk      `json:"disks"`
	NICs     []NIC       `json:"nics"`
	PCI      []PCIDevice `json:"pci"`
	GPUs     []GPU       `json:"gpus,omitempty"`
}

// CPU sums /proc/cpuinfo.
type CPU struct {
	Model   string `json:"model"`
	Sockets int    `json:"sockets"`
	Cores   int    `json:"cores"`   // physical cores, all sockets
	Threads int    `json:"threads"` // logical CPUs
}

// Disk is a whole block device under /sys/block (no partitions, loops or RAM disks).
type Disk struct {
	Name       string `json:"name"`
	SizeBytes  uint64 `json:"size_bytes"`
	Model      string `json:"model,omitempty"`
	Serial     string `json:"serial,omitempty"`
	Rotational bool   `json:"rotational"`
}

// NIC is a network interface with a device behind it (no lo, bridges or veths).
type NIC struct {
	Name      string `json:"name"`
	MAC       string `json:"mac"`
	SpeedMbps int    `json:"speed_mbps,omitempty"` // -1 or absent without carrier
	MTU       int    `json:"mtu"`
	State     string `json:"state"`
	Driver    string `json:"driver,omitempty"`
	PCI       string `json:"pci,omitempty"`
}

// PCIDevice is one PCI function.
type PCIDevice struct {
	Address string `json:"address"`
	Vendor  string `json:"vendor"`
	Device  string `json:"device"`
	Class   string `json:"class"`
	Driver  string `json:"driver,omitempty"`
}

// GPU is an NVIDIA GPU as NVML names it.
type GPU struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	UUID  string `json:"uuid"`
	PCI   string `json:"pci"`
}
