package netsetup_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/netsetup"
)

func TestReportErr(t *testing.T) {
	t.Parallel()
	r := &netsetup.Report{Checks: []check.Result{
		{Name: "net.storage.link", Status: check.Pass},
		{Name: "net.storage.gateway", Status: check.Fail},
		{Name: "net.compute.mtu", Status: check.Warn},
		{Name: "net.compute.peers", Status: check.Fail},
	}}
	err := r.Err()
	var ve *netsetup.VerifyError
	if !errors.As(err, &ve) || err.Error() != "the links are set up, but 2 network check(s) failed: net.storage.gateway, net.compute.peers" {
		t.Errorf("Err = %v", err)
	}
	r.Checks = r.Checks[:1]
	if err := r.Err(); err != nil {
		t.Errorf("all passed, Err = %v", err)
	}
}

// A network that cannot be set up fails before anything is planned, naming it.
func TestRunNetworksBadNetwork(t *testing.T) {
	t.Parallel()
	r, err := netsetup.RunNetworks(context.Background(), "apply",
		[]expect.Network{{Name: "storage", Interface: "eth0", Address: "10.20.0.300/22"}}, netsetup.Options{Kind: netsetup.VLAN{}}, false, netsetup.Verify{})
	if r != nil || err == nil || !strings.Contains(err.Error(), "storage") {
		t.Errorf("bad address: %+v, %v", r, err)
	}
}

// plan and a dry run change nothing; apply makes the links; down removes them whatever
// networks it is given.
func TestRunNetworks(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	nets := []expect.Network{{Name: "storage", VLAN: 200, Interface: h.trunk, Address: "10.203.100.2/24", MTU: 9000}}
	link := h.trunk + ".200"
	for _, tc := range []struct {
		action string
		dryRun bool
	}{{"plan", false}, {"apply", true}} {
		r, err := netsetup.RunNetworks(context.Background(), tc.action, nets, h.opt, tc.dryRun, netsetup.Verify{})
		if err != nil || r.Applied || len(r.Changes) == 0 {
			t.Fatalf("%s (dry run %v): %+v, %v", tc.action, tc.dryRun, r, err)
		}
		if _, err := h.ns.Link(link); err == nil {
			t.Fatalf("%s (dry run %v) created %s", tc.action, tc.dryRun, link)
		}
	}
	r, err := netsetup.RunNetworks(context.Background(), "apply", nets, h.opt, false, netsetup.Verify{})
	if err != nil || !r.Applied {
		t.Fatalf("apply: %+v, %v", r, err)
	}
	if a := h.addrs(t, link); len(a) != 1 || a[0] != "10.203.100.2/24" {
		t.Errorf("%s addresses after apply: %v", link, a)
	}
	r, err = netsetup.RunNetworks(context.Background(), "down", []expect.Network{{Name: "x", Address: "bogus"}}, h.opt, false, netsetup.Verify{})
	if err != nil || !r.Applied {
		t.Fatalf("down: %+v, %v", r, err)
	}
	if _, err := h.ns.Link(link); err == nil {
		t.Errorf("%s survived down", link)
	}
}
