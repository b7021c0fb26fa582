package expect

// GPU is the GPU complement a node must have (a profile's expect.gpu).
type GPU struct {
	Model     string `yaml:"model,omitempty" json:"model,omitempty"` // substring of the NVML name, e.g. "H100 80GB HBM3"
	Count     int    `yaml:"count,omitempty" json:"count,omitempty"`
	MinDriver string `yaml:"min_driver,omitempty" json:"min_driver,omitempty"` // e.g. "550.54.15"
	CUDA      string `yaml:"cuda,omitempty" json:"cuda,omitempty"`             // minimum CUDA driver version, e.g. "12.4"
	XIDIgnore []int  `yaml:"xid_ignore,omitempty" json:"xid_ignore,omitempty"`
}
