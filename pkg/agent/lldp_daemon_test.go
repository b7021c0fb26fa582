package agent

import (
	"context"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
)

// TestDaemonReportsLLDP: what the interfaces heard, listened for while the checks ran,
// is the report's LLDP part, for the expectations of that cycle.
func TestDaemonReportsLLDP(t *testing.T) {
	t.Parallel()
	srv := &fakeServer{up: true, exp: expect.Expectations{Node: "n1", Networks: []expect.Network{{Name: "storage", VLAN: 200, Interface: "eth1"}}}}
	d := daemon(t, srv, &fakeChecks{})
	d.Once = true
	var listenedFor []string
	d.LLDP = func(_ context.Context, exp *expect.Expectations) []check.LLDP {
		for _, n := range exp.Networks {
			listenedFor = append(listenedFor, n.Interface)
		}
		return []check.LLDP{{Interface: "eth1", Heard: true, SystemName: "leaf-a01", PortID: "Ethernet12", PVID: 100}}
	}
	if _, err := d.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	reps := srv.got()
	if len(reps) != 1 || len(reps[0].LLDP) != 1 || reps[0].LLDP[0].SystemName != "leaf-a01" || reps[0].LLDP[0].PVID != 100 {
		t.Fatalf("server got %+v, want one report with eth1's LLDP", reps)
	}
	if len(listenedFor) != 1 || listenedFor[0] != "eth1" {
		t.Errorf("listened for %v, want the expectations' eth1", listenedFor)
	}
}
