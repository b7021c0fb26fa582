package bmc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// One hung BMC among 100 costs its own deadline and nothing more: every other node
// ends within one deadline of the start, and the hung one ends at its deadline.
func TestRedfishHungBMCDoesNotDelayOthers(t *testing.T) {
	t.Parallel()
	f, dir := startFleet(t, 100, nil)
	const hung = 37
	for _, b := range f.BMCs {
		b.SetFaults(lab.Faults{Latency: 20 * time.Millisecond})
	}
	f.BMCs[hung].SetFaults(lab.Faults{Hang: true})
	timeout := 8 * time.Second
	rep, r := provisionJSON(t, dir, nil, "power", "on", "all", "--timeout", timeout.String(), "--concurrency", "16")
	if r.code == 0 || rep.Failed != 1 {
		t.Fatalf("exit %d, %d failed; want only the hung BMC to fail:\n%s", r.code, rep.Failed, r.stdout)
	}
	h := rep.Results[hung]
	if h.Result != "failed" || h.Kind != bmc.KindTimeout || !strings.Contains(h.Error, "node-0038") {
		t.Errorf("hung BMC: %+v", h)
	}
	hd := h.End.Sub(h.Start)
	if hd < timeout || hd > timeout+3*time.Second {
		t.Errorf("hung BMC took %v, want its deadline %v (and not much more)", hd, timeout)
	}
	first := rep.Results[0].Start
	for _, res := range rep.Results {
		if res.Start.Before(first) {
			first = res.Start
		}
	}
	for i, res := range rep.Results {
		if i == hung {
			continue
		}
		if res.Result != "ok" {
			t.Errorf("%s: %s %s", res.Node, res.Result, res.Error)
		}
		// With 16 slots and one held by the hung BMC, the rest share 15 slots: all
		// of them must be done before one deadline has passed since the first start.
		if res.End.Sub(first) >= timeout {
			t.Errorf("%s ended %v after the first start: delayed beyond one deadline", res.Node, res.End.Sub(first))
		}
		if !isOn(t, f.BMCs[i]) {
			t.Errorf("%s: machine not on", res.Node)
		}
	}
}

// A BMC answering 503, or refusing connections, right after its own reset is retried
// with backoff until it answers.
func TestRedfishRetriesWhileBMCRestarts(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 2, nil)
	target := func(b *lab.BMC) bmc.Target {
		return bmc.Target{Node: "n", Protocol: "redfish", Host: b.Host(), Port: b.Port(),
			Login: inventory.Secret{Username: labUser, Password: labPassword}, TLS: inventory.TLS{Fingerprint: b.Fingerprint()}}
	}
	o := bmc.Options{Timeout: 15 * time.Second, Backoff: 100 * time.Millisecond}

	// 503 for 3 s after a power cycle: the read-back is retried, the cycle is not.
	f.BMCs[0].SetFaults(lab.Faults{UnavailableAfterReset: 3 * time.Second})
	if err := f.BMCs[0].Machine().PowerOn(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	out, err := bmc.Do(context.Background(), target(f.BMCs[0]), bmc.Op{Power: bmc.PowerCycle}, o)
	c := f.BMCs[0].Counts()
	if err != nil || out.Attempts < 2 || out.Power != "on" || c.Unavailable == 0 || c.PowerCycle != 1 {
		t.Errorf("cycle into a 503 window: %v, %d attempts, power %q, counters %+v; want one PowerCycle, retried read-back",
			err, out.Attempts, out.Power, c)
	}

	// Connection refused for 1 s.
	if err := f.BMCs[1].Refuse(time.Second); err != nil {
		t.Fatal(err)
	}
	out, err = bmc.Do(context.Background(), target(f.BMCs[1]), bmc.Op{Power: bmc.PowerOn}, o)
	if err != nil || out.Attempts < 2 || !isOn(t, f.BMCs[1]) {
		t.Errorf("power on while refusing: %v, %d attempts", err, out.Attempts)
	}

	// A BMC that stays unavailable fails at the deadline, saying so.
	f.BMCs[1].Unavailable(time.Hour)
	_, err = bmc.Do(context.Background(), target(f.BMCs[1]), bmc.Op{Power: bmc.PowerStatus}, bmc.Options{Timeout: 2 * time.Second, Backoff: 100 * time.Millisecond})
	if be, ok := err.(*bmc.Error); !ok || (be.Kind != bmc.KindUnavailable && be.Kind != bmc.KindTimeout) || !strings.Contains(be.Error(), "503") {
		t.Errorf("permanently busy BMC: %v", err)
	}
}
