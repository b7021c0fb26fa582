package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/sanitize"
	"github.com/racklift/racklift/pkg/state"
)

// A node whose profile has an image (Target.Deploy) goes on after validating:
//
//	ramdisk report, checks pass, no deploy section yet → deploying (the agent writes)
//	ramdisk report with the deploy verified            → rebooting (state.Node.Deployed set;
//	                                                      the BMC boots the disk, serve answers
//	                                                      its iPXE with the local-disk script)
//	the installed system's agent says hello            → installed
//	report from boot_source disk, every check passing  → ready
//
// Each has a timeout (DefaultTimeouts) that fails the node with what did not happen: a
// retry would power-cycle it into the ramdisk over a disk being written or just written.
// The deployed fact lives in the node's record, so a restarted serve resumes from it and
// a node is deployed once: `up` on it again boots its disk, only `up --reprovision`
// writes the image again.

// DiskPower is the BMC side of booting a deployed disk: set the next boot to the disk and
// power-cycle the node. provisioner.BMCPower has it; a Power without it leaves the
// reboot to the node (the phase timeout still applies).
type DiskPower interface {
	DiskCycle(ctx context.Context, t Target) error
}

// BootsLocal reports whether serve should answer n's iPXE with the local-disk script: its
// disk holds the image verified in its current run. A new run (up on a failed node, up
// --reprovision) network-boots and deploys again: the installed system's credentials
// belong to the run that deployed it.
func BootsLocal(n state.Node) bool {
	return n.Deployed != nil && n.Deployed.Run == n.Run
}

// DeployFor is the deploy n's agent is sent in this run: the profile's image, with
// Reprovision set (the agent may overwrite a disk holding a partition table) when the run
// was started with --reprovision or the disk holds racklift's own earlier deploy. nil for
// a locked node not forced, so a protected or maintenance node that network-boots is
// never written to.
func DeployFor(n state.Node, t Target) *expect.Deploy {
	if t.Deploy == nil || checkLock(t, n.Force && Phase(n.Phase).Active()) != nil {
		return nil
	}
	d := *t.Deploy
	d.Reprovision = Phase(n.Phase).Active() && (n.Reprovision || n.Deployed != nil)
	return &d
}

func (m *Machine) deployReport(n *state.Node, t Target, raw []byte, pass bool, reason string, now time.Time) []state.Event {
	rep, err := check.ParseReport(raw)
	kind := ReportPass
	if !pass {
		kind = ReportFail
	}
	cur := Phase(n.Phase)
	src := BootSource(*n, rep)
	ev := state.Event{Kind: string(kind), Time: now, Detail: strings.TrimSpace("from " + src + ": " + reason)}
	if src == check.BootRamdisk && n.Deployed != nil && n.Deployed.Run == n.Run && (order[cur] >= order[Rebooting] || !cur.Active()) {
		// The ramdisk's daemon reporting again before the power cycle ends it (or its
		// spool resending the deploy's report): recorded, and the report kept is the one
		// that moved the node.
		ev.Detail += " (ramdisk after the deploy: recorded only)"
		return []state.Event{ev}
	}
	n.Report, n.ReportAt = append([]byte(nil), raw...), now
	evs := []state.Event{ev}
	if err != nil || !cur.Active() || (cur == Powering && !n.Power.IssuedFor(n.Run, n.Attempt)) {
		return evs
	}
	if src == check.BootDisk {
		return append(evs, m.diskReport(n, rep, pass, reason, now)...)
	}
	return append(evs, m.ramdiskReport(n, t, rep, pass, reason, now)...)
}

// BootSource is where a report comes from: the agent says (boot_source); an agent that
// does not is the installed system when serve answers the node's iPXE with the local
// disk and the installed system said hello (installed) or the run booted the disk
// without a deploy; in rebooting it is the ramdisk, still running until the power cycle.
func BootSource(n state.Node, rep check.Report) string {
	switch rep.BootSource {
	case check.BootDisk, check.BootRamdisk:
		return rep.BootSource
	}
	if rep.Deploy == nil && Phase(n.Phase) != Rebooting && BootsLocal(n) {
		return check.BootDisk
	}
	return check.BootRamdisk
}

// deployEvent moves a node with an image on the events only it has: the image's download
// from serve's artifacts starting (or, from an older serve, ended) in validating
// (deploying: the checks passed and the agent writes), the agent's hello or
// expectations in rebooting (installed).
func (m *Machine) deployEvent(n *state.Node, ev Event, now time.Time) (state.Event, bool) {
	switch cur := Phase(n.Phase); {
	case cur == Rebooting && (ev.Kind == AgentHello || ev.Kind == AgentExpect):
		return m.installedHello(n, ev, now), true
	case cur == Validating && (ev.Kind == HTTPKernel || ev.Kind == HTTPFetch):
		t, _ := m.target(n.Name)
		if t.Deploy == nil || !fetches(ev.Detail, t.Deploy.URL) {
			return state.Event{}, false
		}
		n.Deployed = nil // the disk is being overwritten
		m.enter(n, Deploying, now)
		return state.Event{Kind: string(DeployStarted), Time: now, Detail: fmt.Sprintf("the agent is downloading image %s (sha256 %s) from serve and writing it to disk", t.Deploy.Image, t.Deploy.SHA256)}, true
	}
	return state.Event{}, false
}

// fetches reports whether an HTTP event's detail ("/artifacts/PATH from IP") is a fetch
// of the image at url (serve's own artifacts URL).
func fetches(detail, url string) bool {
	i := strings.Index(url, "/artifacts/")
	if i < 0 {
		return false
	}
	p, _, _ := strings.Cut(detail, " ")
	return p == url[i:]
}

func (m *Machine) ramdiskReport(n *state.Node, t Target, rep check.Report, pass bool, reason string, now time.Time) []state.Event {
	cur, d, want := Phase(n.Phase), rep.Deploy, t.Deploy
	switch {
	case order[cur] >= order[Rebooting]:
		return []state.Event{m.fail(n, fmt.Sprintf("%s: the ramdisk reported again after image %s was written: node %s booted the network instead of its disk: check that serve answers its iPXE with the local-disk script (serve's log) and that the disk has a boot entry", cur, want.Image, n.Name), now)}
	case !pass:
		return []state.Event{m.fail(n, "validation failed: "+reason, now)}
	case d != nil && (d.Error != "" || d.Failure != "" || !d.Verified || !strings.EqualFold(d.SHA256, want.SHA256)):
		n.Deployed = nil // the disk holds a partial image at best: nothing boots it
		reason := DeployFailure(n.Name, want, d)
		return []state.Event{{Kind: string(DeployFailed), Time: now, Detail: reason}, m.fail(n, reason, now)}
	case d == nil:
		if cur == Deploying {
			return nil
		}
		n.Deployed = nil // the disk is being overwritten
		m.enter(n, Deploying, now)
		return []state.Event{{Kind: string(DeployStarted), Time: now, Detail: fmt.Sprintf("checks passed: writing image %s (sha256 %s) from %s", want.Image, want.SHA256, want.URL)}}
	}
	n.Deployed = &state.Deployed{Image: want.Image, SHA256: strings.ToLower(want.SHA256), Device: clean(d.Device), Bytes: d.Bytes, Run: n.Run, At: now}
	n.Deployed.Result, _ = json.Marshal(d)
	m.enter(n, Rebooting, now)
	return []state.Event{{Kind: string(DeployDone), Time: now, Detail: fmt.Sprintf("image %s on %s: %d bytes in %.1fs (%.1f MB/s), sha256 %s verified: booting the disk",
		want.Image, orUnknown(clean(d.Device)), d.Bytes, d.Seconds, d.MBps, n.Deployed.SHA256)}}
}

func (m *Machine) diskReport(n *state.Node, rep check.Report, pass bool, reason string, now time.Time) []state.Event {
	cur := Phase(n.Phase)
	if !BootsLocal(*n) {
		return []state.Event{m.fail(n, fmt.Sprintf("%s: node %s reported from its disk (%s) but racklift has not deployed it in this run: it booted its disk instead of the network: check the BMC's one-time network boot is honoured and the boot order", cur, n.Name, orUnknown(clean(rep.OS))), now)}
	}
	if !pass {
		return []state.Event{m.fail(n, "the installed system's checks failed: "+reason, now)}
	}
	var evs []state.Event
	if order[cur] < order[Installed] {
		m.enter(n, Installed, now)
		evs = append(evs, state.Event{Kind: string(InstalledHello), Time: now, Detail: "report from the installed system"})
	}
	m.enter(n, Ready, now)
	return append(evs, state.Event{Kind: string(NodeReady), Time: now, Detail: fmt.Sprintf("run %d, attempt %d: %s (kernel %s) from its disk, image %s",
		n.Run, n.Attempt, orUnknown(clean(rep.OS)), orUnknown(clean(rep.Kernel)), n.Deployed.Image)})
}

// installedHello: in rebooting, the agent's hello or expectations come from the
// installed system (serve answers the node's iPXE with the local disk).
func (m *Machine) installedHello(n *state.Node, ev Event, now time.Time) state.Event {
	m.enter(n, Installed, now)
	return state.Event{Kind: string(InstalledHello), Time: now, Detail: "the installed system's agent is up: " + ev.Detail}
}

// DeployFailure is a failed deploy in words: which of the named failures, with what the
// agent reported and what to do.
func DeployFailure(node string, want *expect.Deploy, d *check.DeployResult) string {
	kind := d.Failure
	if kind == "" {
		kind = inferFailure(want, d)
	}
	detail := clean(d.Error)
	img := want.Image
	switch kind {
	case check.FailChecksum:
		return fmt.Sprintf("deploy of image %s on %s failed: checksum mismatch: expected sha256 %s, got %s (%d bytes from %s): the file at the URL is not the image the profile names, or it was corrupted: import it again (provision image import) and put its sha256 in the profile; the disk was not booted",
			img, node, strings.ToLower(want.SHA256), orUnknown(clean(d.SHA256)), d.Bytes, want.URL)
	case check.FailImage:
		return fmt.Sprintf("deploy of image %s on %s failed: image not found: %s: %s: check the image is under serve's --artifacts (or at that URL) and the profile's image file:",
			img, node, want.URL, orUnknown(detail))
	case check.FailImageCorrupt:
		return fmt.Sprintf("deploy of image %s on %s failed: the image is damaged or its download broke: %s: import it again (provision image import) and put its sha256 in the profile; the disk was wiped and not booted",
			img, node, orUnknown(detail))
	case check.FailInstall:
		return fmt.Sprintf("deploy of image %s on %s failed after the image was written to %s and its sha256 verified: %s: the disk is not bootable; check the image's partitions and boot loader (docs/image.md) and the agent's log",
			img, node, orUnknown(clean(d.Device)), orUnknown(detail))
	case check.FailNoDisk:
		return fmt.Sprintf("deploy of image %s on %s failed: no disk matches the root device hints (%s); disks seen: %s: fix the profile's image root_device hints, or use provision up --reprovision to overwrite a disk in use",
			img, node, Hints(want.RootDevice), disksSeen(d.Disks))
	}
	return fmt.Sprintf("deploy of image %s on %s failed: disk write error on %s: %s: check the disk (dmesg, SMART) or choose another with the root_device hints",
		img, node, orUnknown(clean(d.Device)), orUnknown(detail))
}

func inferFailure(want *expect.Deploy, d *check.DeployResult) string {
	chosen := d.Device != ""
	for _, c := range d.Disks {
		chosen = chosen || c.Chosen
	}
	switch {
	case d.SHA256 != "" && !strings.EqualFold(d.SHA256, want.SHA256):
		return check.FailChecksum
	case d.Verified:
		return check.FailInstall
	case !chosen:
		return check.FailNoDisk
	case d.Bytes == 0:
		return check.FailImage
	}
	return check.FailWrite
}

// Hints says what the root device hints ask for.
func Hints(h expect.RootDeviceHints) string {
	var p []string
	if h.MinSizeGiB > 0 {
		p = append(p, fmt.Sprintf("at least %d GiB", h.MinSizeGiB))
	}
	if h.MaxSizeGiB > 0 {
		p = append(p, fmt.Sprintf("at most %d GiB", h.MaxSizeGiB))
	}
	for _, kv := range [][2]string{{"model", h.Model}, {"serial", h.Serial}, {"wwn", h.WWN}, {"by-path", h.ByPath}} {
		if kv[1] != "" {
			p = append(p, kv[0]+" "+kv[1])
		}
	}
	if h.Smallest || len(p) == 0 {
		p = append(p, "smallest non-removable")
	}
	return strings.Join(p, ", ")
}

// maxDisksNamed bounds a reason: a GPU node has 8+ NVMe drives, a storage node more.
const maxDisksNamed = 16

func disksSeen(ds []check.DiskChoice) string {
	if len(ds) == 0 {
		return "none"
	}
	var p []string
	for i, c := range ds {
		if i == maxDisksNamed {
			p = append(p, fmt.Sprintf("and %d more", len(ds)-i))
			break
		}
		s := fmt.Sprintf("%s %.1f GiB", clean(c.Device), float64(c.SizeBytes)/(1<<30))
		if c.Model != "" {
			s += " " + clean(c.Model)
		}
		if c.Why != "" {
			s += " (" + clean(c.Why) + ")"
		}
		p = append(p, s)
	}
	return strings.Join(p, "; ")
}

// maxField bounds one agent-supplied text in a reason or event.
const maxField = 300

// clean makes agent-supplied text safe to store and print (pkg/sanitize's policy).
func clean(s string) string { return sanitize.Text(strings.TrimSpace(s), maxField) }

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func deployTimeoutReason(p Phase, t Target, limit time.Duration, last string) string {
	img := "(unknown)"
	if t.Deploy != nil {
		img = t.Deploy.Image
	}
	switch p {
	case Deploying:
		return fmt.Sprintf("%s: the ramdisk did not report the deploy of image %s within %s (last event: %s): check the agent's log on the node's console and that it reaches the image URL; a large image on a slow link needs a longer --phase-timeout deploying=", p, img, limit, last)
	case Rebooting:
		return fmt.Sprintf("%s: installed system never reported: image %s is on the disk but its agent did not say hello within %s (last event: %s): check the node's console (boot entry, kernel, network configuration) and that node-agent daemon runs under systemd and reaches serve's agent API", p, img, limit, last)
	}
	return fmt.Sprintf("%s: installed system never reported: its agent said hello but did not report within %s (last event: %s): check journalctl -u node-agent on the node", p, limit, last)
}

// rebootDue: image verified on the disk, its boot not yet asked of the BMC.
func rebootDue(n state.Node) bool {
	return Phase(n.Phase) == Rebooting && n.Deployed != nil && n.Deployed.Reboot.IssuedAt.IsZero()
}

// issueDisk sets a rebooting node's next boot to its disk and power-cycles it, at most
// once per deploy: the intent is committed before the BMC call, as issue does for PXE.
func (m *Machine) issueDisk(ctx context.Context, name string) error {
	dp, ok := m.power.(DiskPower)
	if !ok {
		return nil
	}
	t, known := m.target(name)
	var run, attempt int
	_, err := m.store.Update(name, func(n *state.Node) ([]state.Event, error) {
		if !rebootDue(*n) || !known {
			return nil, errNoChange
		}
		now := m.cfg.Now()
		if err := checkLock(t, n.Force); err != nil {
			return []state.Event{m.fail(n, err.Error(), now)}, nil
		}
		run, attempt = n.Run, n.Attempt
		n.Deployed.Reboot = state.PowerRecord{Run: run, Attempt: attempt, IssuedAt: now}
		return []state.Event{{Kind: string(DiskIssued), Time: now, Detail: fmt.Sprintf("next boot from disk + power cycle via BMC %s", t.BMC)}}, nil
	})
	if leftAlone(err) || err == nil && run == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("record disk boot intent for %s: %w", name, err)
	}
	m.inflight.Add(1)
	go func() {
		defer m.inflight.Done()
		err := m.call(ctx, func(ctx context.Context) error { return dp.DiskCycle(ctx, t) })
		if ctx.Err() != nil {
			return // serve is stopping: the outcome is unknown, leave the intent as is
		}
		m.diskDone(t, run, attempt, err)
	}()
	return nil
}

// diskDone records the disk boot's BMC result; a failure fails the node (`up` deploys
// it again in a new run).
func (m *Machine) diskDone(t Target, run, attempt int, callErr error) {
	_, err := m.update(t.Name, func(n *state.Node, now time.Time) []state.Event {
		if n.Deployed == nil || !n.Deployed.Reboot.IssuedFor(run, attempt) {
			return nil
		}
		n.Deployed.Reboot.DoneAt = now
		if callErr == nil {
			return []state.Event{{Kind: string(DiskOK), Time: now, Detail: "BMC " + t.BMC}}
		}
		n.Deployed.Reboot.Err = callErr.Error()
		reason := fmt.Sprintf("rebooting: BMC %s did not boot node %s from its disk: %v: image %s is on the disk (sha256 verified): check the BMC, then provision up %s (it deploys again)", t.BMC, t.Name, callErr, n.Deployed.Image, t.Name)
		evs := []state.Event{{Kind: string(DiskFailed), Time: now, Detail: reason}}
		if Phase(n.Phase) == Rebooting && n.Run == run {
			evs = append(evs, m.fail(n, reason, now))
		}
		return evs
	})
	if err != nil {
		m.cfg.Log.Error("record BMC disk boot result", "node", t.Name, "err", err)
	}
}
