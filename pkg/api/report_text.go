package api

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/output"
	"github.com/racklift/racklift/pkg/sanitize"
)

// NoReport is nil when the node has a report, else an error saying it has none yet, in
// which phase and why.
func (d NodeDetail) NoReport() error {
	if d.Report != nil {
		return nil
	}
	why := fmt.Sprintf("node %s has not reported yet (phase %s)", sanitize.Escape(d.Name), d.Phase)
	if d.Reason != "" {
		why += ": " + sanitize.Escape(d.Reason)
	}
	return errors.New(why)
}

// WriteReport prints the node's phase and its last report: failed checks first, then
// warnings, then passes, each with what was observed against what was expected.
func (d NodeDetail) WriteReport(w io.Writer) error {
	if d.Report == nil {
		return d.NoReport()
	}
	fmt.Fprintf(w, "node %s: %s", sanitize.Escape(d.Name), sanitize.Escape(string(d.Phase)))
	if d.Reason != "" && d.Phase == lifecycle.Failed {
		fmt.Fprintf(w, " (%s)", sanitize.Escape(d.Reason))
	}
	at := d.ReportAt
	if !d.Report.Time.IsZero() {
		at = d.Report.Time
	}
	fmt.Fprintf(w, "\nreport of %s by agent %s: %s\n", at.Local().Format("2006-01-02 15:04:05"), sanitize.Escape(orDash(d.Report.Agent)), d.Checks.String())
	if err := d.writeDeploy(w); err != nil {
		return err
	}
	fmt.Fprintln(w)
	rows := output.Rows{Header: []string{"STATUS", "CHECK", "OBSERVED", "EXPECTED", "MESSAGE"}}
	for _, r := range d.Report.Sorted() {
		rows.Add(strings.ToUpper(string(r.Status)), r.Name, orDash(r.Observed), orDash(r.Expected), r.Message)
	}
	if err := rows.Write(w); err != nil {
		return err
	}
	return writeDeploy(w, d.Report.Deploy)
}

// writeDeploy prints the report's deploy section: what was written where, how fast,
// whether the sha256 verified, why it failed, and every disk seen.
func writeDeploy(w io.Writer, dep *check.DeployResult) error {
	if dep == nil {
		return nil
	}
	verified := "NOT verified"
	if dep.Verified {
		verified = "verified"
	}
	fmt.Fprintf(w, "\ndeploy: image %s on %s: %d bytes in %.1fs (%.0f MB/s), sha256 %s %s\n",
		dep.Image, orDash(dep.Device), dep.Bytes, dep.Seconds, dep.MBps, orDash(dep.SHA256), verified)
	if dep.Error != "" {
		fmt.Fprintf(w, "deploy failed: %s\n", dep.Error)
	}
	if len(dep.Disks) == 0 {
		return nil
	}
	rows := output.Rows{Header: []string{"DISK", "SIZE", "MODEL", "SERIAL", "CHOSEN", "WHY"}}
	for _, k := range dep.Disks {
		chosen := "-"
		if k.Chosen {
			chosen = "yes"
		}
		rows.Add(k.Device, fmt.Sprintf("%.1f GiB", float64(k.SizeBytes)/(1<<30)), orDash(k.Model), orDash(k.Serial), chosen, k.Why)
	}
	fmt.Fprintln(w)
	return rows.Write(w)
}
