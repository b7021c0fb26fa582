package check

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report is the one wire document of POST /api/v1/nodes/{name}/report: the agent builds
// it (NewReport), the server parses what it stored (ParseReport) and reads its verdict.
type Report struct {
	Node     string    `json:"node"`
	Time     time.Time `json:"time,omitzero"`
	Agent    string    `json:"agent,omitempty"` // the agent's version
	Hardware *Hardware `json:"hardware,omitempty"`
	Results  []Result  `json:"results"`
	Failed   bool      `json:"failed"` // any result failed

	// Where the agent runs: BootRamdisk or BootDisk; the installed system's PRETTY_NAME
	// and kernel release; the deploy, when the ramdisk put an OS on the disk.
	BootSource string        `json:"boot_source,omitempty"`
	OS         string        `json:"os,omitempty"`
	Kernel     string        `json:"kernel,omitempty"`
	Deploy     *DeployResult `json:"deploy,omitempty"`

	LLDP []LLDP `json:"lldp,omitempty"` // what each expected interface heard from its switch
}

// NewReport stamps results with the node, the time and the agent's version.
func NewReport(node, agent string, hw *Hardware, rs []Result) *Report {
	if rs == nil {
		rs = []Result{}
	}
	return &Report{Node: node, Time: time.Now().UTC(), Agent: agent, Hardware: hw, Results: rs, Failed: Failed(rs)}
}

// ParseReport decodes a stored or posted report.
func ParseReport(raw []byte) (Report, error) {
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, fmt.Errorf("agent report: %w", err)
	}
	if r.Results == nil {
		return r, fmt.Errorf("agent report: no \"results\" list")
	}
	return r, nil
}

// Pass reports whether no check failed (warnings pass).
func (r Report) Pass() bool { return !r.Failed && !Failed(r.Results) }

// Sorted returns the results failed first, then warnings, then passes, each by name.
func (r Report) Sorted() []Result {
	rank := map[Status]int{Fail: 0, Warn: 1, Pass: 2}
	out := append([]Result(nil), r.Results...)
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Status] != rank[out[j].Status] {
			return rank[out[i].Status] < rank[out[j].Status]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// FailureReason is the node's failure reason for a failed report: each failed check
// with what was found against what was expected and its message.
func (r Report) FailureReason() string {
	var parts []string
	for _, c := range r.Sorted() {
		if c.Status != Fail {
			break
		}
		s := c.Name
		if c.Observed != "" || c.Expected != "" {
			s += fmt.Sprintf(" (observed %s, expected %s)", orNone(c.Observed), orNone(c.Expected))
		}
		if c.Message != "" {
			s += ": " + c.Message
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 && r.Failed {
		return "the agent marked its report failed"
	}
	return strings.Join(parts, "; ")
}

func orNone(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}
