// Package check is the result shape every node-agent check produces (GPU, storage,
// network), so one table, one JSON report and one metric family cover them all, and the
// report (Report, with the node's Hardware) the agent posts and the server stores. It is a
// leaf of plain types: server and agent share it without linking each other.
package check

import (
	"encoding/json"
	"time"
)

// Status of a check. Warn is for a finding an ops engineer should know about that does not
// make the node unusable (e.g. an idle GPU's PCIe link trained down).
type Status string

const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Result is one check's outcome.
type Result struct {
	Name     string        `json:"name"`               // e.g. "gpu.count", "storage./data.write", "net.storage.gateway"
	Status   Status        `json:"status"`             // pass, warn or fail
	Observed string        `json:"observed,omitempty"` // what was found
	Expected string        `json:"expected,omitempty"` // what the profile asks for
	Message  string        `json:"message,omitempty"`  // plain words: what is wrong and the likely fix
	Duration time.Duration `json:"-"`
}

// MarshalJSON writes the duration in seconds, which reads better in reports.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		Seconds float64 `json:"seconds"`
	}{plain(r), r.Duration.Seconds()})
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if r.Status == Fail {
			return true
		}
	}
	return false
}
