package api

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/sanitize"
	"github.com/racklift/racklift/pkg/state"
)

// Deployed is the image racklift put on a node's disk, as status shows it.
type Deployed struct {
	Image  string    `json:"image"`
	SHA256 string    `json:"sha256"`
	Device string    `json:"device,omitempty"`
	Run    int       `json:"run"`
	At     time.Time `json:"at"`
}

// withDeploy adds where the node's last report came from and its deployed image.
func (s *NodeStatus) withDeploy(n state.Node, r *check.Report) {
	if r != nil && (r.BootSource != "" || n.Deployed != nil) {
		// An agent that does not say where it runs, on a deployed node: as the
		// lifecycle reads it.
		s.BootSource = lifecycle.BootSource(n, *r)
	}
	if d := n.Deployed; d != nil {
		s.Deployed = &Deployed{Image: d.Image, SHA256: d.SHA256, Device: d.Device, Run: d.Run, At: d.At}
	}
}

// deployOf is the deploy section `provision report` shows: the report's own (a failed or
// just finished deploy), else the one the record kept from the ramdisk's report.
func deployOf(n state.Node, r *check.Report) *check.DeployResult {
	if r != nil && r.Deploy != nil {
		return r.Deploy
	}
	if n.Deployed == nil || len(n.Deployed.Result) == 0 {
		return nil
	}
	var d check.DeployResult
	if json.Unmarshal(n.Deployed.Result, &d) != nil {
		return nil
	}
	return &d
}

// bootText is "disk" or "ramdisk", "-" before any report.
func (n NodeStatus) bootText() string { return orDash(printable(n.BootSource)) }

// writeDeploy prints where the report came from and the deploy: image, bytes, time,
// MB/s, the sha256 and whether it was verified, and every disk the agent saw and why.
func (d NodeDetail) writeDeploy(w io.Writer) error {
	r := d.Report
	if d.BootSource != "" || r.OS != "" || r.Kernel != "" {
		fmt.Fprintf(w, "boot source: %s, os %s, kernel %s\n", orDash(printable(d.BootSource)), orDash(printable(r.OS)), orDash(printable(r.Kernel)))
	}
	x := d.Deploy
	if x == nil {
		return nil
	}
	verified := "NOT verified"
	if x.Verified {
		verified = "verified"
	}
	fmt.Fprintf(w, "deploy: image %s onto %s: %d bytes in %.1f s (%.1f MB/s), sha256 %s %s\n",
		orDash(printable(x.Image)), orDash(printable(x.Device)), x.Bytes, x.Seconds, x.MBps, orDash(printable(x.SHA256)), verified)
	if x.Error != "" {
		fmt.Fprintf(w, "deploy error: %s\n", printable(x.Error))
	}
	if len(x.Disks) == 0 {
		return nil
	}
	fmt.Fprintln(w, "disks seen:")
	rows := output.Rows{Header: []string{"  DEVICE", "SIZE", "MODEL", "SERIAL", "CHOSEN", "WHY"}}
	for _, c := range x.Disks {
		chosen := "no"
		if c.Chosen {
			chosen = "yes"
		}
		// output.Rows escapes its cells: only bound them here.
		rows.Add("  "+capped(c.Device), fmt.Sprintf("%.1f GiB", float64(c.SizeBytes)/(1<<30)), orDash(capped(c.Model)), orDash(capped(c.Serial)), chosen, capped(c.Why))
	}
	return rows.Write(w)
}

// maxPrintable bounds one agent-supplied field on the terminal.
const maxPrintable = 200

// printable keeps text the node sent from moving the cursor or filling the screen.
func printable(s string) string { return sanitize.Text(s, maxPrintable) }

func capped(s string) string { return sanitize.Cap(s, maxPrintable) }
