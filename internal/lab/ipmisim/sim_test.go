package ipmisim_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/ipmisim"
	"github.com/racklift/racklift/internal/testenv"
)

// recorder is a start/stop command that appends what it was asked to do to a file,
// standing in for the QEMU guest of the demo.
func recorder(t *testing.T, dir string) (start, stop, log string) {
	t.Helper()
	log = filepath.Join(dir, "machine.log")
	script := filepath.Join(dir, "machine")
	body := "#!/bin/sh\necho \"$1 node=$RACKLIFT_NODE boot=$RACKLIFT_BOOT reason=$RACKLIFT_POWER_REASON\" >> " + log + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script + " start", script + " stop", log
}

// ipmitool against ipmi_sim: power on, status, boot device and power off reach the
// start/stop command, and the state reads back through ipmitool itself.
func TestIpmiSimWithIpmitool(t *testing.T) {
	t.Parallel()
	testenv.NeedCommand(t, "ipmi_sim", "ipmitool")
	dir := t.TempDir()
	start, stop, log := recorder(t, dir)
	s, err := ipmisim.New(ipmisim.Config{Name: "sim-01", Dir: dir, Password: "S3cret-ipmi", Start: start, Stop: stop})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	must := func(want string, args ...string) {
		t.Helper()
		out, err := s.Ipmitool(ctx, args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("ipmitool %v: %q, %v; want %q", args, out, err, want)
		}
	}
	must("Chassis Power is off", "chassis", "power", "status")
	must("Set Boot Device to pxe", "chassis", "bootdev", "pxe")
	must("Force PXE", "chassis", "bootparam", "get", "5")
	must("Up/On", "chassis", "power", "on")
	must("Chassis Power is on", "chassis", "power", "status")
	must("Down/Off", "chassis", "power", "off")
	must("Chassis Power is off", "chassis", "power", "status")
	must("Super Micro", "mc", "info")

	b, _ := os.ReadFile(log)
	// The PXE override is used by the power on; the power off sees the default again.
	want := "start node=sim-01 boot=pxe reason=on\nstop node=sim-01 boot=default reason=off\n"
	if string(b) != want {
		t.Errorf("start/stop commands ran as\n%s\nwant\n%s", b, want)
	}

	// A wrong password is refused.
	bad, _ := ipmisim.New(ipmisim.Config{Name: "sim-01", Dir: t.TempDir(), Port: s.Port(), Password: "wrong-one"})
	if out, err := bad.Ipmitool(ctx, "chassis", "power", "status"); err == nil {
		t.Errorf("wrong password accepted: %s", out)
	}
	// The generated config keeps the password from other users.
	if fi, err := os.Stat(filepath.Join(dir, "lan.conf")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("lan.conf mode: %v %v", fi.Mode(), err)
	}
}

func TestIpmiSimRejectsUnsafePassword(t *testing.T) {
	t.Parallel()
	for _, pw := range []string{"has\"quote", "12345678901234567", "new\nline"} {
		if _, err := ipmisim.New(ipmisim.Config{Name: "x", Dir: t.TempDir(), Password: pw, Binary: "/bin/true", Port: 1}); err == nil {
			t.Errorf("password %q accepted", pw)
		}
	}
}
