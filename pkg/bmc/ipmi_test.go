package bmc_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/ipmisim"
	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// startSims runs n ipmi_sim BMCs whose power commands append to machine.log in their
// directory, and writes an inventory of IPMI nodes for them.
func startSims(t *testing.T, n int) ([]*ipmisim.Sim, []string, string) {
	t.Helper()
	testenv.NeedCommand(t, "ipmi_sim", "ipmitool")
	var sims []*ipmisim.Sim
	var logs []string
	site := lab.Site{Name: "lab"}
	for i := range n {
		dir := t.TempDir()
		log := filepath.Join(dir, "machine.log")
		script := filepath.Join(dir, "machine")
		body := "#!/bin/sh\necho \"$1 boot=$RACKLIFT_BOOT reason=$RACKLIFT_POWER_REASON\" >> " + log + "\n"
		if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		name := "ipmi-" + string(rune('a'+i))
		s, err := ipmisim.New(ipmisim.Config{Name: name, Dir: dir, Username: labUser, Password: labPassword,
			Start: script + " start", Stop: script + " stop",
			FRU: ipmisim.FRU{Manufacturer: "Supermicro", Product: "SYS-421GE-TNRT", Serial: "S41" + name}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		err = s.Start(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sims = append(sims, s)
		logs = append(logs, log)
		site.Nodes = append(site.Nodes, lab.SiteNode{Name: name, Protocol: "ipmi", Host: s.Host(), Port: s.Port()})
	}
	inv := t.TempDir()
	if err := site.Write(inv); err != nil {
		t.Fatal(err)
	}
	return sims, logs, inv
}

func ipmiStatus(t *testing.T, s *ipmisim.Sim) string {
	t.Helper()
	out, err := s.Ipmitool(context.Background(), "chassis", "power", "status")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// Power and boot through bmclib's ipmitool provider against ipmi_sim, asserted with
// ipmitool and from the commands the simulated chassis ran.
func TestIPMIPowerAndBoot(t *testing.T) {
	t.Parallel()
	sims, logs, dir := startSims(t, 2)

	rep, r := provisionJSON(t, dir, nil, "power", "status", "all")
	mustOK(t, rep, r)
	for _, res := range rep.Results {
		if res.Outcome.Power != "off" || !strings.HasPrefix(res.BMC, "ipmi://127.0.0.1:") {
			t.Errorf("%s: %+v", res.Node, res)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "boot", "pxe", "all")
	mustOK(t, rep, r)
	for i, s := range sims {
		if s.Boot() != "pxe" {
			t.Errorf("sim %d holds boot %q", i, s.Boot())
		}
		if out, _ := s.Ipmitool(context.Background(), "chassis", "bootparam", "get", "5"); !strings.Contains(out, "Force PXE") {
			t.Errorf("sim %d bootparam: %s", i, out)
		}
		if b := rep.Results[i].Outcome.Boot; b == nil || b.Device != "pxe" {
			t.Errorf("sim %d: read back %+v", i, b)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "on", "all")
	mustOK(t, rep, r)
	for i, s := range sims {
		if got := ipmiStatus(t, s); got != "Chassis Power is on" {
			t.Errorf("sim %d after power on: %q", i, got)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "cycle", "all")
	mustOK(t, rep, r)
	for i, s := range sims {
		if got := ipmiStatus(t, s); got != "Chassis Power is on" || rep.Results[i].Outcome.Power != "on" {
			t.Errorf("sim %d after cycle: %q / %q", i, got, rep.Results[i].Outcome.Power)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "power", "off", "all")
	mustOK(t, rep, r)
	for i, s := range sims {
		if got := ipmiStatus(t, s); got != "Chassis Power is off" || s.On() {
			t.Errorf("sim %d after off: %q", i, got)
		}
		b, _ := os.ReadFile(logs[i])
		// The one-time PXE device is used by the first boot only.
		want := "start boot=pxe reason=on\nstop boot=default reason=off\nstart boot=default reason=on\nstop boot=default reason=off\n"
		if string(b) != want {
			t.Errorf("sim %d machine commands:\n%s\nwant (on from PXE, cycle = off+on, off):\n%s", i, b, want)
		}
	}

	rep, r = provisionJSON(t, dir, nil, "bmc", "info", "all")
	mustOK(t, rep, r)
	if in := rep.Results[0].Outcome.Info; in == nil || in.Vendor != "Supermicro" || in.Firmware != "1.73" {
		t.Errorf("info: %+v", in)
	}
}

// A wrong IPMI password names node and BMC and shows the password nowhere.
func TestIPMIWrongPasswordNeverShown(t *testing.T) {
	t.Parallel()
	sims, logs, dir := startSims(t, 1)
	wrong := labPassword + "X"
	// The refusal comes at once; the deadline only guards against a hang (with 20 s, a
	// loaded machine's ipmi_sim answered after it and the error was a timeout).
	r := provision(t, dir, []string{credEnv + "=" + wrong}, "power", "on", "all", "--timeout", hangGuard.String())
	if r.code == 0 {
		t.Fatalf("wrong password accepted:\n%s", r.all())
	}
	noPassword(t, "output", r.all())
	if !strings.Contains(r.all(), "ipmi-a") || !strings.Contains(r.all(), "ipmi://127.0.0.1:") || !strings.Contains(r.all(), "refused the login") {
		t.Errorf("error does not name node, BMC and cause:\n%s", r.all())
	}
	if sims[0].On() {
		t.Error("machine powered on with a wrong password")
	}
	if b, _ := os.ReadFile(logs[0]); len(b) != 0 {
		t.Errorf("machine commands ran: %s", b)
	}
	_ = bmc.KindAuth
}

// bmc info on an IPMI BMC: the BMC's identity from mc info, the machine's from its
// FRU, power and health from chassis status, every key in the JSON.
func TestIPMIInfo(t *testing.T) {
	t.Parallel()
	_, _, dir := startSims(t, 1)
	rep, r := provisionJSON(t, dir, nil, "bmc", "info", "all")
	mustOK(t, rep, r)
	in := rep.Results[0].Outcome.Info
	if in == nil || in.Vendor != "Supermicro" || in.Model != "SYS-421GE-TNRT" || in.Serial != "S41ipmi-a" || in.BIOS != "" ||
		in.Firmware != "1.73" || in.Power != "off" || in.Health != "OK" {
		t.Errorf("info %+v\n%s", in, r.stdout)
	}
	if !strings.Contains(r.stdout, `"bios_version"`) {
		t.Errorf("-o json lacks bios_version:\n%s", r.stdout)
	}
	noPassword(t, "bmc info", r.all())
}

// Boot and power in one operation: the override is set and the power action follows
// in the same session (IPMI BMCs forget an override no reset follows within 60 s), and
// the machine boots from it.
func TestIPMIBootThenPowerInOneOperation(t *testing.T) {
	t.Parallel()
	_, logs, dir := startSims(t, 1)
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(secrets, []byte("lab-bmc: {password: \""+labPassword+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := bmc.TargetFor(inv, inv.Node("ipmi-a"), &inventory.Secrets{File: secrets})
	if err != nil {
		t.Fatal(err)
	}
	op := bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}, Power: bmc.PowerOn}
	out, err := bmc.Do(context.Background(), tg, op, bmc.Options{Timeout: 30 * time.Second})
	if err != nil || out.Power != "on" || out.Boot == nil || out.Boot.Device != "pxe" || op.Name() != "boot pxe + power on" {
		t.Fatalf("%s: %+v %v", op.Name(), out, err)
	}
	if b, _ := os.ReadFile(logs[0]); string(b) != "start boot=pxe reason=on\n" {
		t.Errorf("machine commands %q, want one start from PXE", b)
	}
}

// Options.IpmitoolPath is the ipmitool every IPMI command runs, bmclib's (power) and
// racklift's own (the boot read-back): a wrapper logs each run, then runs ipmitool.
func TestIPMIToolPathIsUsed(t *testing.T) {
	t.Parallel()
	sims, _, _ := startSims(t, 1)
	bin, err := exec.LookPath("ipmitool")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, wrapper := filepath.Join(dir, "runs.log"), filepath.Join(dir, "ipmitool-wrapper")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho \"$*\" >> "+log+"\nexec "+bin+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tg := bmc.Target{Node: "ipmi-a", Protocol: "ipmi", Host: sims[0].Host(), Port: sims[0].Port(),
		Login: inventory.Secret{Username: labUser, Password: labPassword}}
	op := bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}, Power: bmc.PowerOn}
	if _, err := bmc.Do(context.Background(), tg, op, bmc.Options{Timeout: 30 * time.Second, IpmitoolPath: wrapper}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	for _, want := range []string{"chassis power on", "chassis bootparam get 5"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the wrapper did not run %q; it ran:\n%s", want, b)
		}
	}
	noPassword(t, "ipmitool command lines", string(b))
}

// bmc info of an IPMI BMC through pkg/bmc itself (TestIPMIInfo runs the CLI): the
// identity from mc info and the FRU, power and health from chassis status, and power
// read again after it changed.
func TestIPMIInfoThroughDo(t *testing.T) {
	t.Parallel()
	sims, _, _ := startSims(t, 1)
	tg := bmc.Target{Node: "ipmi-a", Protocol: "ipmi", Host: sims[0].Host(), Port: sims[0].Port(),
		Login: inventory.Secret{Username: labUser, Password: labPassword}}
	o := bmc.Options{Timeout: hangGuard}
	out, err := bmc.Do(context.Background(), tg, bmc.Op{Info: true}, o)
	want := bmc.Info{Vendor: "Supermicro", Model: "SYS-421GE-TNRT", Serial: "S41ipmi-a", Firmware: "1.73", Power: "off", Health: "OK"}
	if err != nil || out.Info == nil || *out.Info != want {
		t.Fatalf("info %+v %v, want %+v", out.Info, err, want)
	}
	if _, err := bmc.Do(context.Background(), tg, bmc.Op{Power: bmc.PowerOn}, o); err != nil {
		t.Fatal(err)
	}
	if out, err := bmc.Do(context.Background(), tg, bmc.Op{Info: true}, o); err != nil || out.Info == nil || out.Info.Power != "on" {
		t.Errorf("info after power on: %+v %v", out.Info, err)
	}
}
