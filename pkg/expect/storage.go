package expect

// Storage is a mount the agent measures (an item of a profile's expect.storage).
type Storage struct {
	Mount        string  `yaml:"mount" json:"mount"`
	MinReadMBps  float64 `yaml:"min_read_mbps,omitempty" json:"min_read_mbps,omitempty"`
	MinWriteMBps float64 `yaml:"min_write_mbps,omitempty" json:"min_write_mbps,omitempty"`
	Nconnect     int     `yaml:"nconnect,omitempty" json:"nconnect,omitempty"` // NFS: expected nconnect
	// TestSizeMiB and TestSeconds bound the throughput test on this mount (the agent's
	// --storage-size and --storage-time otherwise): small disks, slow labs.
	TestSizeMiB int `yaml:"test_size_mib,omitempty" json:"test_size_mib,omitempty"`
	TestSeconds int `yaml:"test_seconds,omitempty" json:"test_seconds,omitempty"`
}
