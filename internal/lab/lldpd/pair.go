package lldpd

import (
	"context"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
)

// Pair is a switch and a node namespace joined by a veth pair, lldpd sending p on the
// switch's end (p.Interface is set to it).
type Pair struct {
	Switch, Node     *netns.NS
	SwitchIf, NodeIf string
	Daemon           *Daemon
}

// NewPair builds a Pair for a test: it needs root, ip and lldpd, waits until lldpd has
// read its configuration, and removes everything when the test ends.
func NewPair(t testing.TB, p Port) *Pair {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "lldpd", "ip")
	pr := &Pair{Switch: netns.New(t), Node: netns.New(t), SwitchIf: netns.IfName("sw"), NodeIf: netns.IfName("nd")}
	if _, err := pr.Switch.Veth(pr.SwitchIf, pr.NodeIf, pr.Node, 0); err != nil {
		t.Fatal(err)
	}
	p.Interface = pr.SwitchIf
	d, err := Start(pr.Switch.Name, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
	})
	pr.Daemon = d
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := d.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	return pr
}
