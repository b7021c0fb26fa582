package redfish_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/internal/lab/vm"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// A virtual Redfish BMC in front of a QEMU guest: power on starts QEMU booting from the
// override's target, reset goes through QMP, off stops QEMU. Checked with QMP.
func TestRedfishBMCDrivesQEMU(t *testing.T) {
	t.Parallel()
	testenv.Slow(t)
	testenv.NeedCommand(t, "qemu-system-x86_64")
	dir := t.TempDir()
	var mu sync.Mutex
	var started []bool // NetBoot of each start
	m := lab.NewQEMUMachine(func(target string) vm.Config {
		mu.Lock()
		started = append(started, target == lab.BootPxe)
		mu.Unlock()
		// No NIC and no disk: the firmware finds nothing to boot and waits, which is
		// enough to see power and resets; the demo gives it a tap and a disk.
		return vm.Config{Name: "bmc-guest", Dir: dir, MemoryMB: 64, NetBoot: target == lab.BootPxe}
	})
	m.GracefulWait = time.Second // SeaBIOS ignores the ACPI button
	t.Cleanup(m.Close)
	b := lab.New(lab.Config{Username: "admin", Password: "qemu-pw", Machine: m})
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tg := bmc.Target{Node: "qemu-1", Protocol: "redfish", Host: b.Host(), Port: b.Port(),
		Login: inventory.Secret{Username: "admin", Password: "qemu-pw"}, TLS: inventory.TLS{Fingerprint: b.Fingerprint()}}
	o := bmc.Options{Timeout: 60 * time.Second}
	do := func(op bmc.Op) bmc.Outcome {
		t.Helper()
		out, err := bmc.Do(context.Background(), tg, op, o)
		if err != nil {
			t.Fatalf("%s: %v", op.Name(), err)
		}
		return out
	}
	qmpStatus := func() string {
		t.Helper()
		g := m.Guest()
		if g == nil {
			return "off"
		}
		q, err := g.QMP()
		if err != nil {
			t.Fatal(err)
		}
		s, _, err := q.Status()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	do(bmc.Op{Boot: &bmc.Boot{Device: bmc.BootPXE, Persistent: true}})
	if out := do(bmc.Op{Power: bmc.PowerOn}); out.Power != "on" {
		t.Fatalf("power on read back %q", out.Power)
	}
	if s := qmpStatus(); s != "running" {
		t.Fatalf("guest status %q after power on", s)
	}
	g := m.Guest()
	do(bmc.Op{Power: bmc.PowerReset}) // same (persistent) target: a QMP reset, same QEMU
	if m.Guest() != g {
		t.Error("reset restarted QEMU instead of resetting the guest")
	}
	if s := qmpStatus(); s != "running" {
		t.Fatalf("guest status %q after reset", s)
	}
	if out := do(bmc.Op{Power: bmc.PowerSoft}); out.Power != "off" {
		t.Errorf("soft off read back %q (graceful wait then power pulled)", out.Power)
	}
	if s := qmpStatus(); s != "off" {
		t.Errorf("guest %q after soft off", s)
	}
	do(bmc.Op{Boot: &bmc.Boot{Device: bmc.BootDisk}})
	do(bmc.Op{Power: bmc.PowerOn})
	do(bmc.Op{Power: bmc.PowerOff})
	if m.Guest() != nil {
		t.Error("QEMU still running after power off")
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []bool{true, false}; !slices.Equal(started, want) {
		t.Errorf("QEMU started with NetBoot %v, want %v", started, want)
	}
	if want := []string{"Pxe", "Pxe", "Hdd"}; !slices.Equal(m.Boots(), want) {
		t.Errorf("boots %v, want %v (start, QMP reset, start from disk)", m.Boots(), want)
	}
	if c := b.Counts(); c.PowerOn != 2 || c.ForceRestart != 1 || c.GracefulShutdown != 1 || c.ForceOff != 1 {
		t.Errorf("counters %+v", c)
	}
}
