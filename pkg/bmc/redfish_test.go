package bmc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

func isOn(t *testing.T, b *lab.BMC) bool {
	t.Helper()
	on, err := b.Machine().On(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// Power and boot through the CLI, each asserted from the virtual machines and the
// BMCs' counters rather than from what the CLI says.
func TestRedfishPowerAndBoot(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 3, nil)

	rep, r := provisionJSON(t, dir, nil, "power", "status", "all")
	mustOK(t, rep, r)
	for _, res := range rep.Results {
		if res.Outcome.Power != "off" {
			t.Errorf("%s: status %q, want off", res.Node, res.Outcome.Power)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "boot", "pxe", "all")
	mustOK(t, rep, r)
	for i, b := range f.BMCs {
		if got := b.BootOverride(); got.Target != "Pxe" || got.Enabled != "Once" || got.Mode != "UEFI" {
			t.Errorf("node %d: boot override %+v, want Pxe Once UEFI", i, got)
		}
		if ob := rep.Results[i].Outcome.Boot; ob == nil || ob.Device != "pxe" {
			t.Errorf("node %d: boot read back %+v", i, ob)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "on", "all")
	mustOK(t, rep, r)
	for i, b := range f.BMCs {
		if !isOn(t, b) {
			t.Errorf("node %d: machine is off after power on", i)
		}
		if got := b.Machine().(*lab.MemMachine).LastBoot(); got != "Pxe" {
			t.Errorf("node %d: booted from %q, want the Pxe override", i, got)
		}
		if got := b.BootOverride().Enabled; got != "Disabled" {
			t.Errorf("node %d: one-time override still %q after the boot", i, got)
		}
		if rep.Results[i].Outcome.Power != "on" {
			t.Errorf("node %d: read back %q", i, rep.Results[i].Outcome.Power)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "cycle", "all")
	mustOK(t, rep, r)
	for i, b := range f.BMCs {
		c := b.Counts()
		if c.PowerCycle != 1 || c.ForceRestart != 0 || c.ForceOff != 0 {
			t.Errorf("node %d: power cycle sent %+v, want exactly one PowerCycle", i, c)
		}
		if !isOn(t, b) || len(b.Machine().(*lab.MemMachine).Boots()) != 2 {
			t.Errorf("node %d: after cycle on=%v boots=%v", i, isOn(t, b), b.Machine().(*lab.MemMachine).Boots())
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "reset", "node-0001")
	mustOK(t, rep, r)
	if c := f.BMCs[0].Counts(); c.ForceRestart != 1 {
		t.Errorf("reset sent %+v, want one ForceRestart", c)
	}

	rep, r = provisionJSON(t, dir, nil, "power", "off", "all")
	mustOK(t, rep, r)
	for i, b := range f.BMCs {
		if isOn(t, b) {
			t.Errorf("node %d: machine still on after power off", i)
		}
		if rep.Results[i].Outcome.Power != "off" {
			t.Errorf("node %d: read back %q", i, rep.Results[i].Outcome.Power)
		}
	}

	// The human table names node, BMC, action and result.
	r = provision(t, dir, nil, "power", "status", "node-0002")
	if r.code != 0 || !strings.Contains(r.stdout, "node-0002") || !strings.Contains(r.stdout, f.BMCs[1].Addr()) ||
		!strings.Contains(r.stdout, "power status") || !strings.Contains(r.stdout, "off") {
		t.Errorf("table:\n%s\n%s", r.stdout, r.stderr)
	}

	rep, r = provisionJSON(t, dir, nil, "bmc", "info", "all")
	mustOK(t, rep, r)
	for _, res := range rep.Results {
		in := res.Outcome.Info
		if in == nil || in.Vendor != "Supermicro" || in.Model != "SYS-821GE-TNHR" || in.Firmware != "01.03.12" {
			t.Errorf("%s: info %+v", res.Node, in)
		}
	}
}

// A BMC that accepts a boot override and keeps the old one is reported as exactly that.
func TestRedfishDroppedBootOverride(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 2, nil)
	f.BMCs[1].SetFaults(lab.Faults{DropBootOverride: true})

	rep, r := provisionJSON(t, dir, nil, "boot", "pxe", "all")
	if r.code == 0 || rep.Failed != 1 {
		t.Fatalf("exit %d, %d failed; want exit 1 and one failure:\n%s", r.code, rep.Failed, r.stdout)
	}
	if rep.Results[0].Result != "ok" {
		t.Errorf("healthy BMC: %+v", rep.Results[0])
	}
	bad := rep.Results[1]
	if bad.Kind != bmc.KindBootDropped || !strings.Contains(bad.Error, "dropped") ||
		!strings.Contains(bad.Error, "bmclib issue 459") || !strings.Contains(bad.Error, "node-0002") ||
		!strings.Contains(bad.Error, f.BMCs[1].Addr()) {
		t.Errorf("dropped override reported as %q (kind %s)", bad.Error, bad.Kind)
	}
	if c := f.BMCs[1].Counts(); c.BootOverrides < 1 {
		t.Errorf("the BMC never got the PATCH: %+v", c)
	}
	if got := f.BMCs[1].BootOverride(); got.Target != "None" {
		t.Errorf("fault did not hold: %+v", got)
	}
}

// A wrong password fails naming the node and the BMC, and the password appears nowhere:
// not on stdout, stderr, in JSON, or in bmclib's request dumps (DEBUG_BMCLIB).
func TestRedfishWrongPasswordNeverShown(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 1, nil)
	// The BMC expects labPassword; the operator's environment holds a wrong one that
	// contains the real one, so a leak of either shows.
	wrong := labPassword + "-old"
	for _, format := range []string{"table", "json", "yaml"} {
		r := provision(t, dir, []string{credEnv + "=" + wrong, "DEBUG_BMCLIB=true"}, "power", "on", "all", "-o", format)
		if r.code == 0 {
			t.Fatalf("-o %s: wrong password accepted:\n%s", format, r.all())
		}
		noPassword(t, "-o "+format+" output", r.all())
		out := r.all()
		if !strings.Contains(out, "node-0001") || !strings.Contains(out, f.BMCs[0].Addr()) {
			t.Errorf("-o %s: error does not name node and BMC:\n%s", format, out)
		}
		if !strings.Contains(out, "refused the login") || !strings.Contains(out, credEnv) {
			t.Errorf("-o %s: error does not say what to fix:\n%s", format, out)
		}
	}
	if c := f.BMCs[0].Counts(); c.FailedLogins == 0 || c.PowerOn != 0 {
		t.Errorf("counters %+v: want failed logins and no power on", c)
	}

	// Same through a secrets file, and through the library directly.
	sec := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(sec, []byte("lab-bmc:\n  username: admin\n  password: \""+wrong+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := provision(t, dir, []string{"-" + credEnv}, "power", "status", "all", "--secrets", sec)
	noPassword(t, "secrets-file run", r.all())
	if r.code == 0 || !strings.Contains(r.all(), "node-0001") || !strings.Contains(r.all(), "refused the login") {
		t.Errorf("wrong password from the secrets file:\n%s", r.all())
	}

	tg := bmc.Target{Node: "node-x", Protocol: "redfish", Host: f.BMCs[0].Host(), Port: f.BMCs[0].Port(),
		Login: inventory.Secret{Username: labUser, Password: wrong}, TLS: inventory.TLS{Fingerprint: f.BMCs[0].Fingerprint()}}
	_, err := bmc.Do(context.Background(), tg, bmc.Op{Power: bmc.PowerOn}, bmc.Options{Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("library accepted a wrong password")
	}
	noPassword(t, "library error", err.Error())
	noPassword(t, "library error %#v", fmt.Sprintf("%#v %+v", err, err))
	if be, ok := err.(*bmc.Error); !ok || be.Kind != bmc.KindAuth || be.Node != "node-x" {
		t.Errorf("error %T %v: want *bmc.Error of kind auth", err, err)
	}
}

// TLS: a pinned fingerprint is accepted, a wrong one refused, a CA file verifies, no
// policy refuses the lab's untrusted certificate, and insecure works only on opt-in,
// with one warning.
func TestRedfishTLSPolicies(t *testing.T) {
	t.Parallel()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	f, dir := startFleet(t, 5, func(s *lab.Site, f *lab.Fleet) {
		if err := f.CA.WriteFile(caFile); err != nil {
			t.Fatal(err)
		}
		s.Nodes[1].TLS = "fingerprint:" + strings.Repeat("ab", 32) // wrong pin
		s.Nodes[2].TLS = "ca:" + caFile
		s.Nodes[3].TLS = ""         // site policy: none set, system roots
		s.Nodes[4].TLS = "insecure" // explicit opt-in
	})
	rep, r := provisionJSON(t, dir, nil, "power", "status", "all")
	want := []string{"ok", "failed", "ok", "failed", "ok"}
	for i, res := range rep.Results {
		if res.Result != want[i] {
			t.Errorf("%s: %s (%s), want %s", res.Node, res.Result, res.Error, want[i])
		}
	}
	if e := rep.Results[1]; e.Kind != bmc.KindTLS || !strings.Contains(e.Error, "fingerprint mismatch") ||
		!strings.Contains(e.Error, f.BMCs[1].Fingerprint()) {
		t.Errorf("wrong pin: %q (kind %s)", e.Error, e.Kind)
	}
	if e := rep.Results[3]; e.Kind != bmc.KindTLS || !strings.Contains(e.Error, f.BMCs[3].Fingerprint()) {
		t.Errorf("untrusted certificate: %q (kind %s); want kind tls and the presented fingerprint", e.Error, e.Kind)
	}
	if n := strings.Count(r.stderr, "are not verified"); n != 1 {
		t.Errorf("insecure warning printed %d times, want once:\n%s", n, r.stderr)
	}
	if c := f.BMCs[1].Counts(); c.Logins != 0 {
		t.Errorf("credentials were sent to a BMC with the wrong certificate: %+v", c)
	}
}

// protected and maintenance nodes refuse destructive actions without --force.
func TestRedfishProtectedNeedsForce(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 3, func(s *lab.Site, _ *lab.Fleet) {
		s.Nodes[0].Protected = true
		s.Nodes[1].Maintenance = true
	})
	for _, b := range f.BMCs {
		if err := b.Machine().PowerOn(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	}
	for _, action := range []string{"off", "cycle", "reset", "soft"} {
		rep, r := provisionJSON(t, dir, nil, "power", action, "node-0001", "node-0002")
		if r.code == 0 || rep.Failed != 2 {
			t.Fatalf("power %s on protected nodes: exit %d, %d failed", action, r.code, rep.Failed)
		}
		for _, res := range rep.Results {
			if res.Result != "refused" || !strings.Contains(res.Error, "--force") {
				t.Errorf("power %s %s: %s %q", action, res.Node, res.Result, res.Error)
			}
		}
		if !strings.Contains(rep.Results[0].Error, "protected") || !strings.Contains(rep.Results[1].Error, "maintenance") {
			t.Errorf("refusals do not say why: %q / %q", rep.Results[0].Error, rep.Results[1].Error)
		}
	}
	for i, b := range f.BMCs[:2] {
		if c := b.Counts(); c.Requests != 0 || !isOn(t, b) {
			t.Errorf("protected node %d was contacted: %+v", i, c)
		}
	}
	// Reading status is not destructive; off with --force is allowed.
	rep, r := provisionJSON(t, dir, nil, "power", "status", "all")
	mustOK(t, rep, r)
	rep, r = provisionJSON(t, dir, nil, "power", "off", "all", "--force")
	mustOK(t, rep, r)
	for i, b := range f.BMCs {
		if isOn(t, b) {
			t.Errorf("node %d still on after off --force", i)
		}
	}
}

// --dry-run names what would happen and never talks to a BMC.
func TestRedfishDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 3, nil)
	for _, args := range [][]string{
		{"power", "on", "all"}, {"power", "cycle", "all"}, {"power", "off", "all"},
		{"boot", "pxe", "all", "--persistent"}, {"bmc", "info", "all"},
	} {
		rep, r := provisionJSON(t, dir, nil, append(args, "--dry-run")...)
		mustOK(t, rep, r)
		for i, res := range rep.Results {
			if res.Result != "dry-run" || !strings.Contains(res.Outcome.Note, f.BMCs[i].Addr()) {
				t.Errorf("%v %s: %+v", args, res.Node, res)
			}
		}
		noPassword(t, "dry-run", r.all())
	}
	// Without a password a dry run still says what it would do, and what it needs.
	rep, r := provisionJSON(t, dir, []string{"-" + credEnv}, "power", "on", "all", "--dry-run")
	mustOK(t, rep, r)
	if n := rep.Results[0].Outcome.Note; !strings.Contains(n, "would power on") || !strings.Contains(n, credEnv) {
		t.Errorf("dry run without a password: %q", n)
	}
	if rep, r := provisionJSON(t, dir, []string{"-" + credEnv}, "power", "on", "all"); r.code == 0 || rep.Results[0].Kind != bmc.KindSecret {
		t.Errorf("real run without a password: exit %d, %+v", r.code, rep.Results[0])
	}
	for i, b := range f.BMCs {
		if c := b.Counts(); c.Requests != 0 || c.Changes() != 0 {
			t.Errorf("dry-run reached BMC %d: %+v", i, c)
		}
		if isOn(t, b) || b.BootOverride().Target != "None" {
			t.Errorf("dry-run changed machine %d", i)
		}
	}
}

// One hung BMC among 100 delays no other. The hung BMC holds its request until the test
// has seen the 99 other machines powered on, so they cannot have waited for it; then it
// answers and every node ends ok. This is measured by what the BMCs
// saw, not by durations or the report's timestamps: on a loaded machine 99 power-ons
// may take longer than any fixed deadline. (That a BMC which never answers fails at its own deadline, kind timeout, is
// TestQuirks' "hung" case.) A fan-out that waited for the hung BMC never gets the others
// on, and the test fails at its hang guard.
func TestRedfishHungBMCDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 100, nil)
	const hung = 37
	for _, b := range f.BMCs {
		b.SetFaults(lab.Faults{Latency: 20 * time.Millisecond})
	}
	hold := make(chan struct{})
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the fleet closes (cleanups run last first)
	f.BMCs[hung].SetFaults(lab.Faults{Hold: hold})
	type result struct {
		r   run
		err error
	}
	done := make(chan result, 1)
	bin := provisionBin(t)
	go func() {
		r, err := runProvision(bin, dir, nil, "power", "on", "all", "--timeout", hangGuard.String(), "--concurrency", "16", "-o", "json")
		done <- result{r, err}
	}()
	others := len(f.BMCs) - 1
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(20 * time.Millisecond) {
		on := 0
		for i, b := range f.BMCs {
			if i != hung && isOn(t, b) {
				on++
			}
		}
		if on == others {
			break
		}
		select {
		case res := <-done:
			t.Fatalf("provision ended with %d of %d others on while the hung BMC held its request: %v\n%s", on, others, res.err, res.r.all())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d healthy machines on after %v while one BMC hangs: the hung BMC delays the others", on, others, hangGuard)
		}
	}
	if c := f.BMCs[hung].Counts(); c.Held == 0 || c.PowerOn != 0 || isOn(t, f.BMCs[hung]) {
		t.Fatalf("hung BMC: counters %+v: want a request held and no power on yet", c)
	}
	release()
	var res result
	select {
	case res = <-done:
	case <-time.After(hangGuard):
		t.Fatalf("provision did not end within %v of the hung BMC answering", hangGuard)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	var rep report
	if err := json.Unmarshal([]byte(res.r.stdout), &rep); err != nil {
		t.Fatalf("output is not JSON (%v): %s\nstderr: %s", err, res.r.stdout, res.r.stderr)
	}
	mustOK(t, rep, res.r)
	for i, r := range rep.Results {
		if r.Outcome.Power != "on" || !isOn(t, f.BMCs[i]) {
			t.Errorf("%s: read back %q, machine on %v", r.Node, r.Outcome.Power, isOn(t, f.BMCs[i]))
		}
	}
}

// A BMC answering 503, or refusing connections, right after its own reset is retried
// with backoff until it answers. The BMC comes back when the client has been refused
// once (Options.OnRetry), not after a fixed time the first try may outlast on a loaded
// machine; the deadline is a hang guard.
func TestRedfishRetriesWhileBMCRestarts(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 2, nil)
	target := func(b *lab.BMC) bmc.Target {
		return bmc.Target{Node: "n", Protocol: "redfish", Host: b.Host(), Port: b.Port(),
			Login: inventory.Secret{Username: labUser, Password: labPassword}, TLS: inventory.TLS{Fingerprint: b.Fingerprint()}}
	}
	var retried []string // the errors retried, in order (OnRetry runs in Do's caller)
	retry := func(back func()) bmc.Options {
		retried = nil
		return bmc.Options{Timeout: hangGuard, Backoff: 100 * time.Millisecond, OnRetry: func(_ int, err error) {
			retried = append(retried, err.Error())
			back()
		}}
	}

	// 503 after a power cycle until the client was told so once: the read-back is
	// retried, the cycle is not.
	f.BMCs[0].SetFaults(lab.Faults{UnavailableAfterReset: time.Hour})
	if err := f.BMCs[0].Machine().PowerOn(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	out, err := bmc.Do(context.Background(), target(f.BMCs[0]), bmc.Op{Power: bmc.PowerCycle}, retry(func() { f.BMCs[0].Unavailable(0) }))
	c := f.BMCs[0].Counts()
	if err != nil || out.Attempts < 2 || out.Power != "on" || c.Unavailable == 0 || c.PowerCycle != 1 {
		t.Errorf("cycle into a 503 window: %v, %d attempts, power %q, counters %+v; want one PowerCycle, retried read-back",
			err, out.Attempts, out.Power, c)
	}
	if len(retried) == 0 || !strings.Contains(retried[0], "503") {
		t.Errorf("retried %q, want a 503 first", retried)
	}

	// Connection refused until the client was refused once.
	back := make(chan struct{})
	if err := f.BMCs[1].RefuseUntil(back); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	out, err = bmc.Do(context.Background(), target(f.BMCs[1]), bmc.Op{Power: bmc.PowerOn}, retry(func() { once.Do(func() { close(back) }) }))
	if err != nil || out.Attempts < 2 || !isOn(t, f.BMCs[1]) {
		t.Errorf("power on while refusing: %v, %d attempts", err, out.Attempts)
	}
	if len(retried) == 0 || !strings.Contains(retried[0], "connection refused") {
		t.Errorf("retried %q, want a refused connection first", retried)
	}

	// A BMC that stays unavailable is retried until the deadline, then fails saying so.
	// The deadline is the subject: it comes once the BMC has answered 503 twice (not
	// after a fixed time a loaded machine may spend before the first answer).
	f.BMCs[1].Unavailable(time.Hour)
	dl := newDeadlineOnCue()
	o := retry(func() {})
	o.OnRetry = func(attempt int, err error) {
		retried = append(retried, err.Error())
		if attempt == 2 {
			dl.expire()
		}
	}
	_, err = bmc.Do(dl, target(f.BMCs[1]), bmc.Op{Power: bmc.PowerStatus}, o)
	if be, ok := err.(*bmc.Error); !ok || (be.Kind != bmc.KindUnavailable && be.Kind != bmc.KindTimeout) || !strings.Contains(be.Error(), "503") {
		t.Errorf("permanently busy BMC: %v", err)
	}
	if len(retried) < 2 {
		t.Errorf("a BMC answering 503 was retried %d times, want it retried until the deadline (2)", len(retried))
	}
}

// deadlineOnCue is a context whose deadline passes when the test says so (expire):
// Err is then context.DeadlineExceeded, as for a deadline reached by the clock.
type deadlineOnCue struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newDeadlineOnCue() *deadlineOnCue {
	return &deadlineOnCue{Context: context.Background(), done: make(chan struct{})}
}

func (c *deadlineOnCue) Done() <-chan struct{} { return c.done }

func (c *deadlineOnCue) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *deadlineOnCue) expire() { c.once.Do(func() { close(c.done) }) }
