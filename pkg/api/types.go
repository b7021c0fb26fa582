// Package api is serve's HTTP API and its wire types: the agent endpoints on the TLS
// listener (report, expectations, hello, installed, renew: each authenticated with the
// node's own client certificate; the bootstrap exchange by the node's one-time secret)
// and the control endpoints the CLI uses on a unix socket or loopback (status, report,
// events, up, revoke; one bearer token from the state dir), the CLI's client (which
// falls back to reading the state directly when serve is not running) and the CLI's
// rendering of what it gets (status table, report, events, up's progress). The handlers
// take what they need through interfaces declared here (Verifier, Recorder, ExpectFunc,
// UpFunc, state.Store); the provisioning core (pkg/provisioner) owns the listeners and
// plugs itself in. The report the agent posts is check.Report; the expectations it
// fetches are expect.Expectations, derived by plan.ExpectationsFor.
package api

import (
	"fmt"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// Counts of check results.
type Counts struct {
	Pass int `json:"pass"`
	Warn int `json:"warn"`
	Fail int `json:"fail"`
}

// NodeStatus is one node's line in `provision status`.
type NodeStatus struct {
	Name      string          `json:"name"`
	Phase     lifecycle.Phase `json:"phase"`
	Reason    string          `json:"reason,omitempty"`
	Run       int             `json:"run"`
	Attempt   int             `json:"attempt"`
	EnteredAt time.Time       `json:"entered_at,omitzero"`
	UpdatedAt time.Time       `json:"updated_at,omitzero"`
	LastEvent *state.Event    `json:"last_event,omitempty"`
	ReportAt  time.Time       `json:"report_at,omitzero"`
	Checks    *Counts         `json:"checks,omitempty"`
	// BootSource is where the last report came from (ramdisk or disk); Deployed the image
	// on the node's disk.
	BootSource string    `json:"boot_source,omitempty"`
	Deployed   *Deployed `json:"deployed,omitempty"`
	// Installed: the OS is on the disk; the node boots it until `up --reprovision`.
	Installed bool `json:"installed,omitempty"`
	// Certificate is the node's client certificate: serial, run, expiry or revocation.
	Certificate string `json:"certificate,omitempty"`
}

// NodeDetail is a node's status with its last report (`provision report`).
type NodeDetail struct {
	NodeStatus
	Report *check.Report       `json:"report,omitempty"`
	Deploy *check.DeployResult `json:"deploy,omitempty"` // the report's, or the one kept from the deploy
}

// StatusOf summarises a node record; the token never leaves the store.
func StatusOf(n state.Node) NodeStatus {
	s := NodeStatus{Name: n.Name, Phase: lifecycle.Phase(n.Phase), Reason: n.Reason, Run: n.Run, Attempt: n.Attempt,
		EnteredAt: n.EnteredAt, UpdatedAt: n.UpdatedAt, ReportAt: n.ReportAt, Installed: n.Installed}
	if id := n.Identity; id != nil {
		s.Certificate = fmt.Sprintf("%s (run %d) until %s", id.Serial, id.Run, id.NotAfter.Format(time.RFC3339))
		if !id.RevokedAt.IsZero() {
			s.Certificate = fmt.Sprintf("%s (run %d) revoked at %s: %s", id.Serial, id.Run, id.RevokedAt.Format(time.RFC3339), id.Revoked)
		}
	}
	if s.Phase == "" {
		s.Phase = lifecycle.Enrolled
	}
	if len(n.Recent) > 0 {
		e := n.Recent[len(n.Recent)-1]
		s.LastEvent = &e
	}
	if r, err := check.ParseReport(n.Report); err == nil {
		c := &Counts{}
		for _, res := range r.Results {
			switch res.Status {
			case check.Pass:
				c.Pass++
			case check.Warn:
				c.Warn++
			case check.Fail:
				c.Fail++
			}
		}
		s.Checks = c
		s.withDeploy(n, &r)
	} else {
		s.withDeploy(n, nil)
	}
	return s
}

// DetailOf adds the parsed report.
func DetailOf(n state.Node) NodeDetail {
	d := NodeDetail{NodeStatus: StatusOf(n)}
	if r, err := check.ParseReport(n.Report); err == nil {
		// provision report shows the checks; the hardware stays in the stored body.
		r.Hardware = nil
		d.Report = &r
		d.Deploy = deployOf(n, &r)
	}
	return d
}

// UpRequest asks serve to bring nodes up; serve resolves the selectors against its
// current inventory.
type UpRequest struct {
	Selectors   []string `json:"selectors"`
	Force       bool     `json:"force,omitempty"`
	Reprovision bool     `json:"reprovision,omitempty"`
	DryRun      bool     `json:"dry_run,omitempty"`
	Wave        int      `json:"wave,omitempty"` // nodes power-cycled and not yet past pxe at once; 0: serve's setting
}

// UpResponse is serve's answer.
type UpResponse struct {
	Decisions []lifecycle.Decision `json:"decisions"`
	LastSeq   uint64               `json:"last_seq"` // follow events after this
}

// Error is every error body.
type Error struct {
	Error string `json:"error"`
}
