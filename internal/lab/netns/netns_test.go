package netns_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
)

func TestNamesFitIFNAMSIZ(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		n := netns.IfName("bridge")
		if len(n) > 15 {
			t.Fatalf("IfName %q is %d bytes, over IFNAMSIZ", n, len(n))
		}
		if seen[n] {
			t.Fatalf("IfName repeated %q", n)
		}
		seen[n] = true
	}
}

// Two namespaces joined by a veth through a bridge: ping across proves the wiring, and
// Close removes the namespace.
func TestBridgeVethTapPing(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "ip", "ping")
	t.Parallel()
	sw := netns.New(t)
	a := netns.New(t)
	b := netns.New(t)
	br, err := sw.Bridge(netns.IfName("br"), 9000)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []*netns.NS{a, b} {
		port := netns.IfName("p")
		if _, err := sw.Veth(port, "eth0", h, 9000); err != nil {
			t.Fatal(err)
		}
		l, err := sw.Link(port)
		if err != nil {
			t.Fatal(err)
		}
		if err := sw.SetMaster(l, br); err != nil {
			t.Fatal(err)
		}
	}
	tap, err := sw.Tap(netns.IfName("tap"), br)
	if err != nil {
		t.Fatal(err)
	}
	if tap.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("tap %s master index %d, want bridge %d", tap.Attrs().Name, tap.Attrs().MasterIndex, br.Attrs().Index)
	}
	if err := a.AddAddr("eth0", "10.203.250.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := b.AddAddr("eth0", "10.203.250.2/24"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if out, err := a.Run(ctx, "ping", "-c1", "-W2", "-M", "do", "-s", "8972", "10.203.250.2"); err != nil {
		t.Fatalf("jumbo ping across the bridge: %v\n%s", err, out)
	}
	// Do runs Go code inside: the namespace sees its own eth0 address.
	err = a.Do(func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "10.203.250.1/24" {
			t.Errorf("addresses inside %s: %v, want 10.203.250.1/24", a.Name, addrs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	name := b.Name
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), name) {
		t.Errorf("namespace %s still listed after Close:\n%s", name, out)
	}
}
