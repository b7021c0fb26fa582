package state

import (
	"encoding/json"
	"time"
)

// Deployed is what racklift put on a node's disk: written by the ramdisk agent and
// verified (sha256) in run Run. It is kept across runs so a deployed node is deployed
// once, cleared when a new deploy starts or fails (the disk no longer holds it), and
// makes serve answer the node's iPXE with the local-disk script.
type Deployed struct {
	Image  string      `json:"image"`
	SHA256 string      `json:"sha256"`
	Device string      `json:"device,omitempty"`
	Bytes  int64       `json:"bytes,omitempty"`
	Run    int         `json:"run"`
	At     time.Time   `json:"at"`
	Reboot PowerRecord `json:"reboot,omitzero"` // the BMC's disk boot + power cycle into it
	// Result is the deploy section of the ramdisk's report (check.DeployResult) as the
	// agent sent it: provision report shows it after the installed system's report.
	Result json.RawMessage `json:"result,omitempty"`
}
