package bmc_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// TestBootReadBackComparesFlags: the boot override is read back whole. Regression
// (issue 20): comparing only the device let a BMC that keeps a persistent override
// (every later boot into PXE: a reinstall loop) or a legacy one (no UEFI iPXE) pass.
func TestBootReadBackComparesFlags(t *testing.T) {
	t.Parallel()
	f, _ := startFleet(t, 1, nil)
	b := f.BMCs[0]
	tg := bmc.Target{Node: "node-0001", Protocol: "redfish", Host: b.Host(), Port: b.Port(),
		Login: inventory.Secret{Username: labUser, Password: labPassword}, TLS: inventory.TLS{Fingerprint: b.Fingerprint()}}
	o := bmc.Options{Timeout: 10 * time.Second, Backoff: 100 * time.Millisecond}
	for _, tc := range []struct {
		name   string
		faults lab.Faults
		want   bmc.Boot
		stored lab.BootOverride // what the BMC holds afterwards
		kept   bool             // the read-back matches: no error
	}{
		{name: "once UEFI kept", want: bmc.Boot{Device: bmc.BootPXE},
			stored: lab.BootOverride{Enabled: "Once", Target: "Pxe", Mode: "UEFI"}, kept: true},
		{name: "persistent legacy kept", want: bmc.Boot{Device: bmc.BootPXE, Persistent: true, Legacy: true},
			stored: lab.BootOverride{Enabled: "Continuous", Target: "Pxe", Mode: "Legacy"}, kept: true},
		{name: "once asked, persistent kept", faults: lab.Faults{BootEnabled: "Continuous"}, want: bmc.Boot{Device: bmc.BootPXE},
			stored: lab.BootOverride{Enabled: "Continuous", Target: "Pxe", Mode: "UEFI"}},
		{name: "persistent asked, once kept", faults: lab.Faults{BootEnabled: "Once"}, want: bmc.Boot{Device: bmc.BootPXE, Persistent: true},
			stored: lab.BootOverride{Enabled: "Once", Target: "Pxe", Mode: "UEFI"}},
		{name: "UEFI asked, legacy kept", faults: lab.Faults{BootMode: "Legacy"}, want: bmc.Boot{Device: bmc.BootPXE},
			stored: lab.BootOverride{Enabled: "Once", Target: "Pxe", Mode: "Legacy"}},
		{name: "legacy asked, UEFI kept", faults: lab.Faults{BootMode: "UEFI"}, want: bmc.Boot{Device: bmc.BootPXE, Legacy: true},
			stored: lab.BootOverride{Enabled: "Once", Target: "Pxe", Mode: "UEFI"}},
	} {
		// One BMC, one case after the other: the faults are the BMC's.
		b.SetFaults(tc.faults)
		want := tc.want
		out, err := bmc.Do(context.Background(), tg, bmc.Op{Boot: &want}, o)
		if got := b.BootOverride(); got != tc.stored {
			t.Errorf("%s: the BMC holds %+v, want %+v", tc.name, got, tc.stored)
		}
		if tc.kept {
			if err != nil || out.Boot == nil || *out.Boot != tc.want {
				t.Errorf("%s: %v, read back %+v; want %+v", tc.name, err, out.Boot, tc.want)
			}
			continue
		}
		var be *bmc.Error
		// The device was kept and a flag was not: boot-changed (boot-dropped is for a
		// device the BMC did not keep).
		if !errors.As(err, &be) || be.Kind != bmc.KindBootChanged || be.Node != "node-0001" {
			t.Errorf("%s: %v; want a %s error naming node-0001", tc.name, err, bmc.KindBootChanged)
		}
		// One attempt: the message counts attempts only where there were retries.
		if be != nil && strings.Contains(be.Msg, "attempt") {
			t.Errorf("%s: %q counts attempts after one", tc.name, be.Msg)
		}
	}
}
