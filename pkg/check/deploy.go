package check

// Where the agent that sent a report runs.
const (
	BootRamdisk = "ramdisk" // the PXE-booted agent ramdisk
	BootDisk    = "disk"    // the installed system, booted from its own disk
)

// DeployResult is the deploy section of a report: what the ramdisk agent wrote, where,
// how fast, and whether the written bytes hashed to the expected sha256.
type DeployResult struct {
	Image    string  `json:"image"`
	Device   string  `json:"device,omitempty"` // the disk chosen, e.g. /dev/vda
	Bytes    int64   `json:"bytes"`            // raw bytes written
	Seconds  float64 `json:"seconds"`
	MBps     float64 `json:"mb_per_s"` // 10^6 bytes per second
	SHA256   string  `json:"sha256,omitempty"`
	Verified bool    `json:"sha256_verified"`
	Error    string  `json:"error,omitempty"`   // why the deploy failed, in plain words
	Failure  string  `json:"failure,omitempty"` // FailChecksum, FailImage, FailNoDisk or FailWrite
	// Disks is every disk the agent saw and why it was or was not chosen.
	Disks []DiskChoice `json:"disks,omitempty"`
}

// DiskChoice is one disk the deploy looked at.
type DiskChoice struct {
	Device    string `json:"device"`
	SizeBytes int64  `json:"size_bytes"`
	Model     string `json:"model,omitempty"`
	Serial    string `json:"serial,omitempty"`
	WWN       string `json:"wwn,omitempty"`
	ByPath    string `json:"by_path,omitempty"`
	Removable bool   `json:"removable,omitempty"`
	Chosen    bool   `json:"chosen"`
	Why       string `json:"why"` // e.g. "smallest matching disk", "holds a filesystem (ext4): not a reprovision"
}
