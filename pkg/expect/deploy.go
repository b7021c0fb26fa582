package expect

import (
	"fmt"
	"strings"
)

// Deploy is what the ramdisk agent puts on the node's disk after its checks pass: the
// server derives it from the profile's image (pkg/plan) and sends it inside the node's
// Expectations. No Deploy: a stateless node, ready after the ramdisk's report.
type Deploy struct {
	Image string `json:"image" yaml:"image"` // the image's name, for reports and errors
	URL   string `json:"url" yaml:"url"`     // where the agent streams it from (HTTP, Range-capable)
	// SHA256 is the hex digest of the raw image as it lands on the disk (after any
	// decompression). Required: no checksum, no deploy.
	SHA256 string `json:"sha256" yaml:"sha256"`
	Size   int64  `json:"size,omitempty" yaml:"size,omitempty"` // raw bytes, when known
	// RootDevice picks the disk; the zero value means the smallest non-removable disk
	// large enough for the image.
	RootDevice RootDeviceHints `json:"root_device,omitzero" yaml:"root_device,omitempty"`
	// Login is the user the deploy creates on the installed system with its SSH keys
	// (pkg/agent/deploy/login.go); nil: none.
	Login *Login `json:"login,omitempty" yaml:"login,omitempty"`
	// Reprovision allows overwriting a disk that holds a partition table or a filesystem;
	// without it such a disk is refused.
	Reprovision bool   `json:"reprovision,omitempty" yaml:"reprovision,omitempty"`
	Hostname    string `json:"hostname,omitempty" yaml:"hostname,omitempty"`
}

// RootDeviceHints choose the disk to deploy on; every hint given must match (as Ironic's
// root device hints). Sizes are in GiB (2^30 bytes).
type RootDeviceHints struct {
	MinSizeGiB int64  `json:"min_size_gib,omitempty" yaml:"min_size_gib,omitempty"`
	MaxSizeGiB int64  `json:"max_size_gib,omitempty" yaml:"max_size_gib,omitempty"`
	Model      string `json:"model,omitempty" yaml:"model,omitempty"`     // as /sys/block/X/device/model, trimmed, case-insensitive
	Serial     string `json:"serial,omitempty" yaml:"serial,omitempty"`   // as udev's ID_SERIAL_SHORT or /sys/block/X/device/serial
	WWN        string `json:"wwn,omitempty" yaml:"wwn,omitempty"`         // as /sys/block/X/device/wwid or /sys/block/X/wwid
	ByPath     string `json:"by_path,omitempty" yaml:"by_path,omitempty"` // a /dev/disk/by-path/ name
	// Smallest picks the smallest matching non-removable disk when several match (the
	// default when no other hint is given); otherwise several matches are an error.
	Smallest bool `json:"smallest,omitempty" yaml:"smallest,omitempty"`
}

// IsZero reports whether no hint is set.
func (h RootDeviceHints) IsZero() bool { return h == RootDeviceHints{} }

// TakesSmallest reports whether several matching disks resolve to the smallest: when
// asked to, and by default when no identity hint (model, serial, wwn, by_path) is given.
// Otherwise several matches are an error. The image deploy and the installers' disk
// picker both follow it.
func (h RootDeviceHints) TakesSmallest() bool {
	return h.Smallest || (h.Model == "" && h.Serial == "" && h.WWN == "" && h.ByPath == "")
}

// String renders hints for messages, e.g. {min_size_gib=100 model="SAMSUNG"}.
func (h RootDeviceHints) String() string {
	var p []string
	if h.MinSizeGiB > 0 {
		p = append(p, fmt.Sprintf("min_size_gib=%d", h.MinSizeGiB))
	}
	if h.MaxSizeGiB > 0 {
		p = append(p, fmt.Sprintf("max_size_gib=%d", h.MaxSizeGiB))
	}
	for _, kv := range [][2]string{{"model", h.Model}, {"serial", h.Serial}, {"wwn", h.WWN}, {"by_path", h.ByPath}} {
		if kv[1] != "" {
			p = append(p, fmt.Sprintf("%s=%q", kv[0], kv[1]))
		}
	}
	if h.Smallest {
		p = append(p, "smallest")
	}
	if len(p) == 0 {
		return "{none: the smallest non-removable disk}"
	}
	return "{" + strings.Join(p, " ") + "}"
}

// NormWWN is a WWN as sysfs (naa.5000…) and udev (0x5000…) both reduce to: lower case,
// no type prefix.
func NormWWN(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []string{"naa.", "eui.", "t10.", "0x"} {
		s = strings.TrimPrefix(s, p)
	}
	return s
}
