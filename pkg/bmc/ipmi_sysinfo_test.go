package bmc_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// TestIPMIInfoBIOSFromSysinfo: the BIOS version is read from the system info parameter
// where the BMC keeps it; ipmitool exits 0 saying it failed, or that the request was
// invalid, where it does not, and neither text becomes a BIOS version. (ipmi_sim keeps
// none: a wrapper answers that one command, ipmitool the others.)
func TestIPMIInfoBIOSFromSysinfo(t *testing.T) {
	t.Parallel()
	sims, _, _ := startSims(t, 1)
	bin, err := exec.LookPath("ipmitool")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, answer, want string
	}{
		{name: "kept", answer: "2.1.7", want: "2.1.7"},
		{name: "failed", answer: "Get system info command failed: 0x80 Unknown (0x80)", want: ""},
		{name: "invalid", answer: "Invalid data field in request", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrapper := filepath.Join(t.TempDir(), "ipmitool")
			script := "#!/bin/sh\ncase \"$*\" in *\"mc getsysinfo system_fw_version\"*) echo '" + tc.answer + "'; exit 0;; esac\nexec " + bin + " \"$@\"\n"
			if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			tg := bmc.Target{Node: "ipmi-a", Protocol: "ipmi", Host: sims[0].Host(), Port: sims[0].Port(),
				Login: inventory.Secret{Username: labUser, Password: labPassword}}
			out, err := bmc.Do(context.Background(), tg, bmc.Op{Info: true}, bmc.Options{Timeout: hangGuard, IpmitoolPath: wrapper})
			if err != nil || out.Info == nil {
				t.Fatalf("info: %+v %v", out.Info, err)
			}
			if out.Info.BIOS != tc.want || out.Info.Vendor != "Supermicro" {
				t.Errorf("BIOS %q (vendor %q), want %q", out.Info.BIOS, out.Info.Vendor, tc.want)
			}
		})
	}
}
