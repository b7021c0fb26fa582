// Package lifecycle drives each node through enrolled → powering → pxe → booting → agent →
// validating → ready (with deploying → rebooting → installed before ready when its
// profile has an image: deploy.go), or failed with a reason, from boot-service events, agent reports and
// BMC results. Every decision is derived from the persisted state.Node, so a restarted
// serve picks up where it stopped and never power-cycles a node twice for one attempt.
package lifecycle

import "time"

// Phase is where a node is in its provisioning.
type Phase string

// The phases, in order. Failed is terminal for a run, like Ready.
const (
	Enrolled   Phase = "enrolled"   // known, not being provisioned
	Powering   Phase = "powering"   // waiting for a wave slot, or the BMC power cycle is under way
	PXE        Phase = "pxe"        // power cycled: DHCP, TFTP, iPXE script
	Booting    Phase = "booting"    // kernel and initrd fetched: booting until the agent says hello
	Agent      Phase = "agent"      // the node agent is up (ramdisk or installed OS)
	Validating Phase = "validating" // the agent fetched its expectations and runs its checks
	Deploying  Phase = "deploying"  // checks passed: the ramdisk agent writes the image to the disk
	Rebooting  Phase = "rebooting"  // image verified on the disk: the node boots it
	Installed  Phase = "installed"  // the installed system's agent said hello: its checks run
	Ready      Phase = "ready"      // the agent reported every check passed (from the disk, for a deployed node)
	Failed     Phase = "failed"     // see the node's Reason
)

// Phases lists every phase in order, for tables of counts.
var Phases = []Phase{Enrolled, Powering, PXE, Booting, Agent, Validating, Deploying, Rebooting, Installed, Ready, Failed}

// order ranks the active phases; a boot event may move a node forward, never back.
var order = map[Phase]int{Powering: 1, PXE: 2, Booting: 3, Agent: 4, Validating: 5, Deploying: 6, Rebooting: 7, Installed: 8, Ready: 9}

// Active reports whether a node in p is being provisioned (a run is under way).
func (p Phase) Active() bool { return p != Ready && order[p] > 0 }

// Kind names an event.
type Kind string

// Events the lifecycle consumes. Boot-service and agent events come from outside (an
// adapter maps pkg/events' kinds onto these); the rest the machine logs itself.
const (
	DHCPOffer    Kind = "dhcp.offer"
	DHCPAck      Kind = "dhcp.ack"
	TFTPTransfer Kind = "tftp.transfer"
	HTTPScript   Kind = "http.script"
	BootScript   Kind = "boot.script" // serve renders the node's boot script with its token
	HTTPKernel   Kind = "http.kernel"
	HTTPInitrd   Kind = "http.initrd"
	// HTTPFetch is a download from serve's artifacts starting; recorded only when it
	// moves the node (its image: deploying), so kernel and initrd fetches add no noise.
	HTTPFetch   Kind = "http.fetch"
	AgentHello  Kind = "agent.hello"
	AgentExpect Kind = "agent.expect" // the agent fetched its expectations: checks start
	ReportPass  Kind = "agent.report.pass"
	ReportFail  Kind = "agent.report.fail"

	PowerOK     Kind = "bmc.power.ok"
	PowerFailed Kind = "bmc.power.failed"

	// Logged by the machine.
	UpStarted   Kind = "up.started" // a run began (attempt 1)
	UpResumed   Kind = "up.resumed" // up asked for a node already under way
	PowerIssued Kind = "bmc.power.issued"
	TimedOut    Kind = "lifecycle.timeout"
	Retried     Kind = "lifecycle.retry"
	NodeFailed  Kind = "lifecycle.failed"
	NodeReady   Kind = "lifecycle.ready"

	// Logged by the machine for a node with an image (deploy.go).
	DeployStarted  Kind = "deploy.started"  // the ramdisk's checks passed: it writes the image
	DeployDone     Kind = "deploy.done"     // the image is on the disk, sha256 verified
	DeployFailed   Kind = "deploy.failed"   // the named failure is the node's reason
	DiskIssued     Kind = "bmc.disk.issued" // next boot from disk + power cycle via the BMC
	DiskOK         Kind = "bmc.disk.ok"
	DiskFailed     Kind = "bmc.disk.failed"
	InstalledHello Kind = "installed.hello" // the installed system's agent is up
)

// target is the phase an event moves a node to (forward only); "" for none.
var target = map[Kind]Phase{
	PowerOK:      PXE,
	DHCPOffer:    PXE,
	DHCPAck:      PXE,
	TFTPTransfer: PXE,
	HTTPScript:   PXE,
	BootScript:   PXE,
	HTTPKernel:   Booting,
	HTTPInitrd:   Booting,
	AgentHello:   Agent,
	AgentExpect:  Validating,
	ReportPass:   Ready,
}

// Event is one thing that happened to one node. pkg/events' Event and the agent API map
// onto it.
type Event struct {
	Node   string
	Kind   Kind
	Time   time.Time
	Detail string
}
