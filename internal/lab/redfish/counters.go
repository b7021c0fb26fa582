package redfish

import "sync/atomic"

// Counts is what a BMC was asked to do, for tests to assert ("one power cycle per node")
// and for the benchmark to count round trips per operation.
type Counts struct {
	Requests         int64 `json:"requests"`    // every Redfish request answered or refused
	Connections      int64 `json:"connections"` // TCP connections accepted (TLS handshakes)
	Logins           int64 `json:"logins"`
	FailedLogins     int64 `json:"failed_logins"`
	Logouts          int64 `json:"logouts"`
	PowerOn          int64 `json:"power_on"`
	ForceOff         int64 `json:"force_off"`
	GracefulShutdown int64 `json:"graceful_shutdown"`
	ForceRestart     int64 `json:"force_restart"`
	GracefulRestart  int64 `json:"graceful_restart"`
	PowerCycle       int64 `json:"power_cycle"`
	BootOverrides    int64 `json:"boot_overrides"` // PATCHes accepted, dropped or not
	ManagerResets    int64 `json:"manager_resets"`
	Unavailable      int64 `json:"unavailable"` // answered 503
	// PreconditionRequired counts changes refused with 428 for want of If-Match.
	PreconditionRequired int64 `json:"precondition_required"`
	Tasks                int64 `json:"tasks"`      // resets answered with a task monitor
	TaskPolls            int64 `json:"task_polls"` // GETs of a task monitor
	SessionLimited       int64 `json:"session_limited"`
	Held                 int64 `json:"held"` // requests that waited on Faults.Hold
}

// Changes is the number of requests that changed, or claimed to change, the machine.
func (c Counts) Changes() int64 {
	return c.PowerOn + c.ForceOff + c.GracefulShutdown + c.ForceRestart + c.GracefulRestart +
		c.PowerCycle + c.BootOverrides + c.ManagerResets
}

type counters struct {
	requests, connections, logins, failedLogins, logouts      atomic.Int64
	powerOn, forceOff, gracefulShutdown, forceRestart         atomic.Int64
	gracefulRestart, powerCycle, bootOverrides, managerResets atomic.Int64
	unavailable, preconditionRequired, tasks, taskPolls       atomic.Int64
	sessionLimited, held                                      atomic.Int64
}

// Counts returns a snapshot of the BMC's counters.
func (b *BMC) Counts() Counts {
	c := &b.counts
	return Counts{
		Requests: c.requests.Load(), Connections: c.connections.Load(), Logins: c.logins.Load(), FailedLogins: c.failedLogins.Load(),
		Logouts: c.logouts.Load(), PowerOn: c.powerOn.Load(), ForceOff: c.forceOff.Load(),
		GracefulShutdown: c.gracefulShutdown.Load(), ForceRestart: c.forceRestart.Load(),
		GracefulRestart: c.gracefulRestart.Load(), PowerCycle: c.powerCycle.Load(),
		BootOverrides: c.bootOverrides.Load(), ManagerResets: c.managerResets.Load(),
		Unavailable: c.unavailable.Load(), PreconditionRequired: c.preconditionRequired.Load(),
		Tasks: c.tasks.Load(), TaskPolls: c.taskPolls.Load(), SessionLimited: c.sessionLimited.Load(),
		Held: c.held.Load(),
	}
}
