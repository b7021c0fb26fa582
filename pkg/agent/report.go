package agent

import (
	"time"

	"github.com/racklift/racklift/pkg/agent/check"
	"github.com/racklift/racklift/pkg/agent/hw"
)

// Version is the agent's version, set at link time (-X).
var Version = "dev"

// Report is what the agent sends to POST /api/v1/nodes/{name}/report.
type Report struct {
	Node     string         `json:"node"`
	Time     time.Time      `json:"time"`
	Agent    string         `json:"agent"`
	Hardware *hw.Inventory  `json:"hardware,omitempty"`
	Results  []check.Result `json:"results"`
	Failed   bool           `json:"failed"` // any result failed
}

// NewReport stamps results with the node, the time and the agent's version.
func NewReport(node string, hwInv *hw.Inventory, rs []check.Result) *Report {
	if rs == nil {
		rs = []check.Result{}
	}
	return &Report{Node: node, Time: time.Now().UTC(), Agent: Version, Hardware: hwInv, Results: rs, Failed: check.Failed(rs)}
}
