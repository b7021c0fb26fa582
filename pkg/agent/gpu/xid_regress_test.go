package gpu

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/expect"
)

// TestCompareVersionsParts: a missing part counts as 0 on either side, never an index
// past the shorter version. Mutant (make mutate, issue 20): `i < len(pb)` made <=.
func TestCompareVersionsParts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{a: "12.0.1", b: "12", want: 1},
		{a: "12", b: "12.0.1", want: -1},
		{a: "12", b: "12.0.0", want: 0},
		{a: "550.54.15", b: "550.54", want: 1},
	} {
		if got, err := compareVersions(tc.a, tc.b); err != nil || got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, %v; want %d", tc.a, tc.b, got, err, tc.want)
		}
	}
}

// TestKernelXidAges: an Xid exactly as old as the history counts, an older one does not;
// a line without a timestamp counts as recent and says no age; one logged this second
// says "0s ago". Mutants: `age > window` made >=, the -1 "no age" flipped, `x.Age >= 0`
// made >, the ignored count printed when none was ignored.
func TestKernelXidAges(t *testing.T) {
	t.Parallel()
	const line = "NVRM: Xid (PCI:0000:04:00): 79, pid=1, GPU has fallen off the bus."
	up := 2*time.Hour + 100*time.Second
	xs := parseKernelXids([]byte("[  100.000000] "+line+"\n[   99.000000] "+line+"\n"+line+"\n"), up, 2*time.Hour)
	if len(xs) != 2 || xs[0].Age != 2*time.Hour || xs[1].Age >= 0 {
		t.Fatalf("xids %+v: want the one exactly 2h old and the one without a timestamp (age < 0)", xs)
	}
	o := Options{
		Lib:        nil,
		KernelLog:  func() ([]byte, error) { return []byte("[ 7300.000000] " + line + "\n"), nil },
		Uptime:     func() (time.Duration, error) { return up, nil },
		XIDWindow:  -1,
		XIDHistory: 2 * time.Hour,
	}
	r := checkXID(context.Background(), o, nil, &expect.GPU{})
	if !strings.Contains(r.Message, "(kernel log, 0s ago)") || r.Observed != "1 Xid(s)" {
		t.Errorf("Xid logged this second: observed %q message %q; want one, 0s ago, nothing ignored", r.Observed, r.Message)
	}
	o.KernelLog = func() ([]byte, error) { return []byte(line + "\n"), nil }
	r = checkXID(context.Background(), o, nil, &expect.GPU{})
	if strings.Contains(r.Message, "ago") {
		t.Errorf("Xid without a timestamp: %q; want no age", r.Message)
	}
	r = checkXID(context.Background(), o, nil, &expect.GPU{XIDIgnore: []int{79}})
	if r.Observed != "none, 1 ignored" {
		t.Errorf("ignored Xid: observed %q, want 'none, 1 ignored'", r.Observed)
	}
}

// TestPCIGPUsInAddressOrder: the PCI scan lists GPUs by address, so messages naming
// several (a GPU missing from NVML) read in bus order. Mutant: the sort reversed.
func TestPCIGPUsInAddressOrder(t *testing.T) {
	t.Parallel()
	gs, err := PCIGPUs(fakeSysfs(t, 12))
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 12 || !slices.IsSortedFunc(gs, func(a, b PCIGPU) int { return strings.Compare(a.Address, b.Address) }) {
		t.Errorf("PCIGPUs = %v, want 12 GPUs in address order", gs)
	}
}
