package netsetup_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/netsetup"
)

func TestFromNetworks(t *testing.T) {
	d, err := netsetup.FromNetworks([]expect.Network{
		{Name: "storage", VLAN: 200, Interface: "enp25s0f0np0", MAC: "b8:3f:d2:a1:01:20", Address: "10.20.0.11/22", MTU: 9000},
		{Name: "compute", VLAN: 300, Interface: "enp25s0f0np0", Address: "10.30.0.11/22", MTU: 4200},
		{Name: "mgmt", Interface: "eno2", Address: "10.40.0.11/24", MTU: 1500},
	}, netsetup.VLAN{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range d.Links {
		if len(l.Name) > 15 {
			t.Errorf("link name %q is over IFNAMSIZ", l.Name)
		}
		got = append(got, l.Kind+":"+l.Name)
	}
	want := "nic:enp25s0f0np0 nic:eno2 vlan:enp25s0f0np.200 vlan:enp25s0f0np.300"
	if strings.Join(got, " ") != want {
		t.Errorf("links %v, want %s", got, want)
	}
	if d.Links[0].MTU != 9000 || !d.Links[0].MinMTU {
		t.Errorf("trunk MTU %d minMTU %v, want at least 9000 (largest VLAN)", d.Links[0].MTU, d.Links[0].MinMTU)
	}
	if d.Links[1].MinMTU || len(d.Links[1].Addrs) != 1 {
		t.Errorf("untagged NIC: %+v, want exact MTU and its address", d.Links[1])
	}
	if _, err := netsetup.FromNetworks([]expect.Network{{Name: "storage", Interface: "eth0", Address: "10.20.0.300/22"}}, netsetup.VLAN{}); err == nil || !strings.Contains(err.Error(), "storage") {
		t.Errorf("bad address: err %v, want one naming the network", err)
	}
}

// host is a namespace with a trunk NIC (one end of a veth) and the networks racklift must
// put on it, carried by macvlans: this kernel has no 802.1Q.
type host struct {
	ns    *netns.NS
	opt   netsetup.Options
	want  netsetup.Desired
	trunk string
}

func newHost(t *testing.T) *host {
	t.Helper()
	testenv.NeedRoot(t)
	ns := netns.New(t)
	trunk := netns.IfName("tr")
	if _, err := ns.Veth(trunk, netns.IfName("sw"), nil, 1500); err != nil {
		t.Fatal(err)
	}
	nets := []expect.Network{
		{Name: "storage", VLAN: 200, Interface: trunk, Address: "10.203.100.2/24", MTU: 9000},
		{Name: "compute", VLAN: 201, Interface: trunk, Address: "10.203.101.2/24", MTU: 9000},
	}
	d, err := netsetup.FromNetworks(nets, netsetup.Macvlan{})
	if err != nil {
		t.Fatal(err)
	}
	return &host{ns: ns, trunk: trunk, want: d, opt: netsetup.Options{
		Handle: ns.Handle(), Kind: netsetup.Macvlan{}, StatePath: filepath.Join(t.TempDir(), "net-state.json")}}
}

func (h *host) plan(t *testing.T) *netsetup.Plan {
	t.Helper()
	p, err := h.opt.Plan(h.want)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.Write(&b)
	t.Logf("plan:\n%s", b.String())
	return p
}

func (h *host) apply(t *testing.T) {
	t.Helper()
	if err := h.plan(t).Apply(); err != nil {
		t.Fatal(err)
	}
}

func lines(p *netsetup.Plan) []string {
	var out []string
	for _, c := range p.Changes {
		out = append(out, c.String())
	}
	return out
}

func (h *host) addrs(t *testing.T, link string) []string {
	t.Helper()
	l, err := h.ns.Link(link)
	if err != nil {
		return nil
	}
	as, _ := h.ns.Handle().AddrList(l, netlink.FAMILY_V4)
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return out
}

func (h *host) mtu(t *testing.T, link string) int {
	t.Helper()
	l, err := h.ns.Link(link)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().MTU
}

func TestApplyFromEmptyThenNothing(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	p := h.plan(t)
	got := strings.Join(lines(p), "\n")
	for _, want := range []string{
		"~ mtu " + h.trunk + ": 1500 → 9000",
		"+ link " + h.trunk + ".200 (storage): macvlan on " + h.trunk + " standing in for VLAN 200, mtu 9000",
		"+ address 10.203.100.2/24 on " + h.trunk + ".200 (storage)",
		"+ address 10.203.101.2/24 on " + h.trunk + ".201 (compute)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	storage := h.trunk + ".200"
	l, err := h.ns.Link(storage)
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().Alias != "racklift:storage" || l.Attrs().MTU != 9000 || l.Attrs().RawFlags&1 == 0 {
		t.Errorf("%s: alias %q mtu %d flags %#x, want racklift:storage, 9000, up", storage, l.Attrs().Alias, l.Attrs().MTU, l.Attrs().RawFlags)
	}
	if a := h.addrs(t, storage); len(a) != 1 || a[0] != "10.203.100.2/24" {
		t.Errorf("%s addresses %v", storage, a)
	}
	if h.mtu(t, h.trunk) != 9000 {
		t.Errorf("trunk MTU %d, want 9000", h.mtu(t, h.trunk))
	}
	if _, err := os.Stat(h.opt.StatePath); err != nil {
		t.Errorf("no state file after apply: %v", err)
	}
	again := h.plan(t)
	if !again.Empty() {
		t.Errorf("second plan is not empty:\n%s", strings.Join(lines(again), "\n"))
	}
	if err := again.Apply(); err != nil {
		t.Fatal(err)
	}
}

func TestDriftShownAndRepaired(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.apply(t)
	storage, compute := h.trunk+".200", h.trunk+".201"
	// By hand: an address removed, an MTU changed, a link set down.
	l, _ := h.ns.Link(storage)
	a, _ := netlink.ParseAddr("10.203.100.2/24")
	if err := h.ns.Handle().AddrDel(l, a); err != nil {
		t.Fatal(err)
	}
	if err := h.ns.SetMTU(compute, 1500); err != nil {
		t.Fatal(err)
	}
	if err := h.ns.SetDown(compute); err != nil {
		t.Fatal(err)
	}
	p := h.plan(t)
	got := lines(p)
	want := []string{
		"~ mtu " + compute + " (compute): 1500 → 9000",
		"~ up " + compute + " (compute): down → up",
		"+ address 10.203.100.2/24 on " + storage + " (storage)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("drift plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	if !h.plan(t).Empty() {
		t.Error("drift not repaired: plan after apply is not empty")
	}
	if h.mtu(t, compute) != 9000 {
		t.Errorf("compute MTU %d after repair", h.mtu(t, compute))
	}
}

func TestRollbackAfterInjectedFailure(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.opt.BeforeStep = func(c netsetup.Change) error {
		if c.What == "address" && c.Network == "compute" {
			return errors.New("injected failure")
		}
		return nil
	}
	p := h.plan(t)
	err := p.Apply()
	var ae *netsetup.ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("apply error %v, want an ApplyError", err)
	}
	t.Log(err)
	if ae.RolledBack == 0 || ae.RollbackErr != nil {
		t.Errorf("rolled back %d (errors %v), want the earlier steps undone cleanly", ae.RolledBack, ae.RollbackErr)
	}
	if !strings.Contains(err.Error(), "10.203.101.2/24") || !strings.Contains(err.Error(), "injected failure") {
		t.Errorf("error %q does not name the failed step", err)
	}
	for _, n := range []string{h.trunk + ".200", h.trunk + ".201"} {
		if _, err := h.ns.Link(n); err == nil {
			t.Errorf("%s still exists after rollback", n)
		}
	}
	if m := h.mtu(t, h.trunk); m != 1500 {
		t.Errorf("trunk MTU %d after rollback, want 1500", m)
	}
	if _, err := os.Stat(h.opt.StatePath); err == nil {
		t.Error("state file written by a failed apply")
	}
	// A real kernel refusal part-way rolls back too: a macvlan cannot be larger than its
	// trunk, so creating compute at 9500 on a 9000 trunk fails after two steps succeeded.
	h.opt.BeforeStep = nil
	h.want.Links[2].MTU = 9500
	err = h.plan(t).Apply()
	if !errors.As(err, &ae) || ae.RollbackErr != nil || ae.RolledBack != 2 {
		t.Fatalf("compute at MTU 9500: %v, want a failure after 2 steps, rolled back", err)
	}
	t.Log(err)
	if _, err := h.ns.Link(h.trunk + ".200"); err == nil {
		t.Error("storage link still there after the kernel refused compute")
	}
	if m := h.mtu(t, h.trunk); m != 1500 {
		t.Errorf("trunk MTU %d after kernel refusal, want 1500", m)
	}
}

func TestRefusesAddressInUseElsewhere(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	other := netns.IfName("oth")
	if _, err := h.ns.Veth(other, netns.IfName("op"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.ns.AddAddr(other, "10.203.101.2/24"); err != nil {
		t.Fatal(err)
	}
	_, err := h.opt.Plan(h.want)
	var re *netsetup.RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("plan error %v, want a refusal", err)
	}
	msg := err.Error()
	for _, want := range []string{"10.203.101.2/24", "compute", h.trunk + ".201", other} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not name %s", msg, want)
		}
	}
	if _, err := h.ns.Link(h.trunk + ".200"); err == nil {
		t.Error("a refused plan changed the host")
	}
}

func TestDownRemovesOnlyWhatRackliftCreated(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	// Made by hand before racklift: a macvlan and an address on the trunk.
	hand := netns.IfName("hand")
	la := netlink.NewLinkAttrs()
	la.Name = hand
	tl, _ := h.ns.Link(h.trunk)
	la.ParentIndex = tl.Attrs().Index
	if err := h.ns.Handle().LinkAdd(&netlink.Macvlan{LinkAttrs: la, Mode: netlink.MACVLAN_MODE_BRIDGE}); err != nil {
		t.Fatal(err)
	}
	if err := h.ns.AddAddr(h.trunk, "10.203.109.9/24"); err != nil {
		t.Fatal(err)
	}
	h.apply(t)
	p, err := h.opt.Down()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	p.Write(&b)
	t.Logf("down:\n%s", b.String())
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{h.trunk + ".200", h.trunk + ".201"} {
		if _, err := h.ns.Link(n); err == nil {
			t.Errorf("%s survived down", n)
		}
	}
	if _, err := h.ns.Link(hand); err != nil {
		t.Errorf("down removed %s, which racklift did not create", hand)
	}
	if a := h.addrs(t, h.trunk); len(a) != 1 || a[0] != "10.203.109.9/24" {
		t.Errorf("trunk addresses after down %v, want the hand-made one kept", a)
	}
	if m := h.mtu(t, h.trunk); m != 1500 {
		t.Errorf("trunk MTU %d after down, want the original 1500", m)
	}
	if _, err := os.Stat(h.opt.StatePath); err == nil {
		t.Error("state file left after down")
	}
	if p, _ := h.opt.Down(); p == nil || !p.Empty() {
		t.Error("second down has changes")
	}
}

func TestAdoptAndStale(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	storage := h.trunk + ".200"
	// A hand-made veth squats on the name racklift wants.
	if _, err := h.ns.Veth(storage, netns.IfName("sq"), nil, 0); err != nil {
		t.Fatal(err)
	}
	if err := h.ns.AddAddr(storage, "10.203.100.77/24"); err != nil {
		t.Fatal(err)
	}
	_, err := h.opt.Plan(h.want)
	if err == nil || !strings.Contains(err.Error(), storage+" exists as a veth") || !strings.Contains(err.Error(), "--adopt") {
		t.Fatalf("plan over a foreign link: %v, want a refusal naming it and --adopt", err)
	}
	h.opt.Adopt = true
	h.apply(t)
	l, err := h.ns.Link(storage)
	if err != nil || l.Type() != "macvlan" {
		t.Fatalf("after --adopt %s is %v (%v), want racklift's macvlan", storage, l, err)
	}
	h.opt.Adopt = false

	// The inventory drops compute: racklift removes the link it made for it.
	h.want.Links = h.want.Links[:2]
	p := h.plan(t)
	if got := strings.Join(lines(p), "\n"); !strings.Contains(got, "- link "+h.trunk+".201 (compute)") {
		t.Errorf("stale link not removed:\n%s", got)
	}
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ns.Link(h.trunk + ".201"); err == nil {
		t.Error("stale compute link still there")
	}
	if !h.plan(t).Empty() {
		t.Error("plan not empty after removing the stale link")
	}
}

// Routes the desired state asks for are added, shown again when deleted by hand, and go
// with their link on down.
func TestRoutes(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	gw := netip.MustParseAddr("10.203.100.1")
	dst := netip.MustParsePrefix("10.203.150.0/24")
	h.want.Links[1].Routes = []netsetup.Route{{Dst: dst, Gw: gw}}
	p := h.plan(t)
	if got := strings.Join(lines(p), "\n"); !strings.Contains(got, "+ route 10.203.150.0/24 via 10.203.100.1 on "+h.trunk+".200 (storage)") {
		t.Fatalf("plan lacks the route:\n%s", got)
	}
	if err := p.Apply(); err != nil {
		t.Fatal(err)
	}
	if !h.plan(t).Empty() {
		t.Fatal("plan not empty after adding the route")
	}
	routes, _ := h.ns.Handle().RouteList(nil, netlink.FAMILY_V4)
	var r *netlink.Route
	for i := range routes {
		if routes[i].Dst != nil && routes[i].Dst.String() == dst.String() {
			r = &routes[i]
		}
	}
	if r == nil {
		t.Fatalf("route %s not in the kernel: %v", dst, routes)
	}
	if err := h.ns.Handle().RouteDel(r); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(lines(h.plan(t)), "\n"); got != "+ route 10.203.150.0/24 via 10.203.100.1 on "+h.trunk+".200 (storage)" {
		t.Errorf("drift plan after deleting the route by hand:\n%s", got)
	}
}
