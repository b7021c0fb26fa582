package bmc_test

import (
	"context"
	"strings"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
)

// TestRedfishInfoFallsBackToTheChassis: a BMC that lists no ComputerSystem gives its
// identity from the Chassis, with a note; one that lists neither gives what its Manager
// says, with the note, never a crash.
func TestRedfishInfoFallsBackToTheChassis(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		faults lab.Faults
		want   bmc.Info
	}{
		{name: "no system", faults: lab.Faults{EmptySystems: true},
			want: bmc.Info{Vendor: "Supermicro", Model: "SYS-821GE-TNHR", Firmware: "01.03.12", Health: "OK"}},
		{name: "no system, no chassis", faults: lab.Faults{EmptySystems: true, EmptyChassis: true},
			want: bmc.Info{Firmware: "01.03.12"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, _ := startFleet(t, 1, nil)
			b := f.BMCs[0]
			b.SetFaults(tc.faults)
			out, err := bmc.Do(context.Background(), labTarget(b), bmc.Op{Info: true}, bmc.Options{Timeout: hangGuard})
			if err != nil || out.Info == nil {
				t.Fatalf("info: %+v %v", out.Info, err)
			}
			got := *out.Info
			if tc.want.Vendor != "" {
				tc.want.Serial = got.Serial // the lab's serial follows its address
				if !strings.HasPrefix(got.Serial, "RL") {
					t.Errorf("serial %q is not the chassis'", got.Serial)
				}
			}
			if got != tc.want {
				t.Errorf("info %+v, want %+v", got, tc.want)
			}
			if !strings.Contains(out.Note, "lists no ComputerSystem") {
				t.Errorf("note %q does not say the BMC lists no ComputerSystem", out.Note)
			}
		})
	}
}
