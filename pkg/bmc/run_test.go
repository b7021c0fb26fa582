package bmc_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/nodelock"
)

// loadFleet is startFleet's inventory, loaded, with the lab password in a secrets file
// (the environment is the process's: tests running in parallel cannot each set it).
func loadFleet(t *testing.T, n int, edit func(*lab.Site, *lab.Fleet)) (*lab.Fleet, *inventory.Inventory, *inventory.Secrets) {
	t.Helper()
	if _, ok := os.LookupEnv(credEnv); ok {
		t.Fatalf("%s is set in the test's environment: it would override the secrets file", credEnv)
	}
	f, dir := startFleet(t, n, edit)
	inv, err := inventory.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(secrets, []byte("lab-bmc: {password: \""+labPassword+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f, inv, &inventory.Secrets{File: secrets}
}

// Run refuses what the lock policy refuses, with the policy's own message (the one up
// gives), and never contacts those BMCs; status and --force go through.
func TestRunRefusesLockedNodes(t *testing.T) {
	t.Parallel()
	f, inv, secrets := loadFleet(t, 3, func(s *lab.Site, _ *lab.Fleet) {
		s.Nodes[0].Protected = true
		s.Nodes[1].Maintenance = true
	})
	for _, b := range f.BMCs {
		if err := b.Machine().PowerOn(context.Background(), ""); err != nil {
			t.Fatal(err)
		}
	}
	ops := []bmc.Op{{Power: bmc.PowerOff}, {Power: bmc.PowerSoft}, {Power: bmc.PowerCycle}, {Power: bmc.PowerReset},
		{Boot: &bmc.Boot{Device: bmc.BootPXE}}, {Boot: &bmc.Boot{Device: bmc.BootBIOS, Persistent: true}}}
	for _, op := range ops {
		t.Run(op.Name(), func(t *testing.T) {
			rep := bmc.Run(context.Background(), inv, inv.Nodes[:2], bmc.Request{Op: op, Secrets: secrets, Warn: &bytes.Buffer{}})
			if rep.Failed != 2 || rep.Err() == nil || rep.Err().Error() != op.Name()+": 2 of 2 nodes failed" {
				t.Fatalf("%d failed, Err %v", rep.Failed, rep.Err())
			}
			for i, r := range rep.Results {
				n := inv.Nodes[i]
				want := nodelock.Check(nodelock.Node{Name: n.Name, Protected: n.Protected, Maintenance: n.Maintenance}, op.Name(), false)
				if r.Result != "refused" || want == nil || r.Error != want.Error() {
					t.Errorf("%s: %s %q, want refused with %q", r.Node, r.Result, r.Error, want)
				}
			}
		})
	}
	for i, b := range f.BMCs[:2] {
		if c := b.Counts(); c.Requests != 0 {
			t.Errorf("locked node %d's BMC was contacted: %+v", i, c)
		}
	}
	rep := bmc.Run(context.Background(), inv, inv.Nodes, bmc.Request{Op: bmc.Op{Power: bmc.PowerStatus}, Secrets: secrets, Warn: &bytes.Buffer{}})
	if rep.Err() != nil {
		t.Errorf("power status on locked nodes: %+v", rep.Results)
	}
	rep = bmc.Run(context.Background(), inv, inv.Nodes, bmc.Request{Op: bmc.Op{Power: bmc.PowerOff}, Force: true, Secrets: secrets, Warn: &bytes.Buffer{}})
	if rep.Err() != nil || f.BMCs[0].Counts().ForceOff != 1 {
		t.Errorf("power off --force: %+v, counts %+v", rep.Results, f.BMCs[0].Counts())
	}
	noPassword(t, "results", strings.Join([]string{rep.Results[0].Error, rep.Results[0].Outcome.Note}, " "))
}

// A dry run contacts no BMC, says through which BMC and user it would act, and without a
// password says what the real run will need.
func TestRunDryRun(t *testing.T) {
	t.Parallel()
	f, inv, secrets := loadFleet(t, 2, nil)
	op := bmc.Op{Power: bmc.PowerCycle}
	rep := bmc.Run(context.Background(), inv, inv.Nodes, bmc.Request{Op: op, DryRun: true, Secrets: secrets})
	url := "https://" + f.BMCs[1].Addr()
	if rep.Err() != nil || !rep.DryRun || rep.Results[1].Result != "dry-run" || rep.Results[1].Outcome.Note != "would power cycle through "+url+" as user admin" {
		t.Errorf("dry run: %+v", rep.Results[1])
	}
	rep = bmc.Run(context.Background(), inv, inv.Nodes[:1], bmc.Request{Op: op, DryRun: true, Secrets: &inventory.Secrets{File: filepath.Join(t.TempDir(), "none.yaml")}})
	if r := rep.Results[0]; rep.Err() != nil || r.Result != "dry-run" || !strings.Contains(r.Outcome.Note, "the real run needs the password") || !strings.Contains(r.Outcome.Note, credEnv) {
		t.Errorf("dry run without a password: %+v", r)
	}
	for i, b := range f.BMCs {
		if c := b.Counts(); c.Requests != 0 {
			t.Errorf("dry run contacted BMC %d: %+v", i, c)
		}
	}
}

func TestReportTable(t *testing.T) {
	t.Parallel()
	f, inv, secrets := loadFleet(t, 2, func(s *lab.Site, _ *lab.Fleet) { s.Nodes[1].Protected = true })
	if err := f.BMCs[0].Machine().PowerOn(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	rep := bmc.Run(context.Background(), inv, inv.Nodes, bmc.Request{Op: bmc.Op{Power: bmc.PowerReset}, Secrets: secrets, Warn: &b})
	b.Reset()
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NODE ") || !strings.Contains(lines[0], "OBSERVED") {
		t.Fatalf("table:\n%s", b.String())
	}
	if !strings.Contains(lines[1], "node-0001") || !strings.Contains(lines[1], " ok ") || !strings.Contains(lines[1], " on ") {
		t.Errorf("reset row: %q", lines[1])
	}
	if !strings.Contains(lines[2], "refused") || !strings.Contains(lines[2], "-         -") || !strings.Contains(lines[2], "power reset would reset it") {
		t.Errorf("refused row: %q", lines[2])
	}
	b.Reset()
	rep = bmc.Run(context.Background(), inv, inv.Nodes[:1], bmc.Request{Op: bmc.Op{Info: true}, Secrets: secrets, Warn: &b})
	b.Reset()
	rep.WriteTable(&b)
	if !strings.Contains(b.String(), "BMC FIRMWARE") || !strings.Contains(b.String(), "https://"+f.BMCs[0].Addr()) {
		t.Errorf("info table:\n%s", b.String())
	}
}

// Run's failures without contact, progress line and table rows: a node without a
// password fails with kind secret (no BMC contacted); the progress line counts the BMCs
// talked to and stays silent when there are none; the table shows the boot override
// read back, a note where there is no error, and dashes where a value is unknown.
func TestRunRowsAndProgress(t *testing.T) {
	t.Parallel()
	f, inv, secrets := loadFleet(t, 2, func(s *lab.Site, _ *lab.Fleet) { s.Nodes[1].Protected = true })

	rep := bmc.Run(context.Background(), inv, inv.Nodes[:1], bmc.Request{Op: bmc.Op{Power: bmc.PowerStatus},
		Secrets: &inventory.Secrets{File: filepath.Join(t.TempDir(), "none.yaml")}})
	if r := rep.Results[0]; r.Result != "failed" || r.Kind != bmc.KindSecret || rep.Failed != 1 || f.BMCs[0].Counts().Requests != 0 {
		t.Errorf("no password: %+v, %d failed, BMC requests %d", r, rep.Failed, f.BMCs[0].Counts().Requests)
	}

	var progress bytes.Buffer
	rep = bmc.Run(context.Background(), inv, inv.Nodes, bmc.Request{Op: bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE}},
		Secrets: secrets, Warn: &bytes.Buffer{}, Progress: &progress})
	if !strings.Contains(progress.String(), "boot pxe: 1/1 BMCs done, 0 failed") || !strings.HasSuffix(progress.String(), "\r\033[K") {
		t.Errorf("progress %q", progress.String())
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], " boot pxe, once, UEFI ") || !strings.Contains(lines[1], " ok ") {
		t.Errorf("boot table:\n%s", table.String())
	}
	if rep.Results[0].Seconds <= 0 || rep.Results[1].Seconds != 0 || rep.Seconds <= 0 {
		t.Errorf("seconds: %v, %v, report %v", rep.Results[0].Seconds, rep.Results[1].Seconds, rep.Seconds)
	}

	// Only a refused node: no BMC to talk to, no progress line.
	progress.Reset()
	bmc.Run(context.Background(), inv, inv.Nodes[1:], bmc.Request{Op: bmc.Op{Power: bmc.PowerOff}, Secrets: secrets, Progress: &progress})
	if progress.Len() != 0 {
		t.Errorf("progress without BMCs: %q", progress.String())
	}

	// A dry run's row: its note, no duration; bmc info of a node that failed: dashes.
	rep = bmc.Run(context.Background(), inv, inv.Nodes[:1], bmc.Request{Op: bmc.Op{Power: bmc.PowerOn}, DryRun: true, Secrets: secrets})
	table.Reset()
	rep.WriteTable(&table)
	if row := strings.Split(strings.TrimSpace(table.String()), "\n")[1]; !strings.Contains(row, " dry-run  -     -         -         would power on through ") {
		t.Errorf("dry-run row %q", row)
	}
	rep = bmc.Run(context.Background(), inv, inv.Nodes[:1], bmc.Request{Op: bmc.Op{Info: true},
		Secrets: &inventory.Secrets{File: filepath.Join(t.TempDir(), "none.yaml")}})
	table.Reset()
	rep.WriteTable(&table)
	if row := strings.Split(strings.TrimSpace(table.String()), "\n")[1]; !strings.Contains(row, " -       -      -       -     -             -      -       failed  secret  -         ") {
		t.Errorf("failed info row %q", row)
	}
}
