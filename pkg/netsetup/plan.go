package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Options say where and how to act.
type Options struct {
	Handle    *netlink.Handle // nil: this process's network namespace
	StatePath string          // default DefaultStatePath
	Kind      Kind            // how tagged networks are carried; default VLAN
	// Adopt lets racklift take over, change and remove links and addresses it did not create.
	Adopt bool
	// BeforeStep runs before each change is made; an error fails that step. Tests use it
	// to inject a failure part-way and check the rollback.
	BeforeStep func(Change) error
}

func (o Options) withDefaults() (Options, error) {
	if o.StatePath == "" {
		o.StatePath = DefaultStatePath
	}
	if o.Kind == nil {
		o.Kind = VLAN{}
	}
	if o.Handle == nil {
		h, err := newHandle()
		if err != nil {
			return o, fmt.Errorf("netlink: %w", err)
		}
		o.Handle = h
	}
	return o, nil
}

// Op is what a change does.
type Op string

const (
	Add    Op = "add"
	Remove Op = "remove"
	Modify Op = "modify"
)

// Change is one difference between the kernel and the desired state.
type Change struct {
	Op      Op     `json:"op"`
	What    string `json:"what"` // link, mtu, up, address, route, adopt
	Link    string `json:"link"`
	Network string `json:"network,omitempty"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	Reason  string `json:"reason,omitempty"`

	link   *Link
	prefix netip.Prefix
	route  Route
	mtu    int
	oldMTU int
	nic    bool
	snap   *snapshot
	alias  string
}

// String is the change as a diff line: "+ address 10.20.0.11/22 on eth0.200 (storage)".
func (c Change) String() string {
	sign := map[Op]string{Add: "+", Remove: "-", Modify: "~"}[c.Op]
	net := ""
	if c.Network != "" {
		net = " (" + c.Network + ")"
	}
	var s string
	switch c.What {
	case "link":
		if c.Op == Add {
			s = fmt.Sprintf("link %s%s: %s", c.Link, net, c.To)
		} else {
			s = fmt.Sprintf("link %s%s", c.Link, net)
		}
	case "address", "route":
		s = fmt.Sprintf("%s %s on %s%s", c.What, firstNonEmpty(c.To, c.From), c.Link, net)
	default:
		s = fmt.Sprintf("%s %s%s: %s → %s", c.What, c.Link, net, c.From, c.To)
	}
	if c.Reason != "" {
		s += " [" + c.Reason + "]"
	}
	return sign + " " + s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Plan is the difference to apply.
type Plan struct {
	Changes []Change `json:"changes"`
	// Kept lists what was found, is not racklift's, and is left alone.
	Kept    []string `json:"kept,omitempty"`
	Desired Desired  `json:"-"`

	opt   Options
	state *State
	reset bool // Down: nothing of racklift's is left afterwards
}

// Empty reports whether the host already matches.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// RefusedError lists why a plan cannot be made; nothing was changed.
type RefusedError struct{ Reasons []string }

func (e *RefusedError) Error() string {
	return "refusing to change the network:\n  " + strings.Join(e.Reasons, "\n  ")
}

// observed is the kernel's links and addresses.
type observed struct {
	h      *netlink.Handle
	links  []netlink.Link
	byName map[string]netlink.Link
	addrs  map[string][]netip.Prefix // link name → global addresses
	owner  map[netip.Addr][]string   // address → links holding it
	// route reports whether link l has route r (the kernel's route table; tests fake it).
	route func(l netlink.Link, r Route) bool
}

func (o *observed) hasRoute(l netlink.Link, r Route) bool { return o.route != nil && o.route(l, r) }

func observe(h *netlink.Handle) (*observed, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	o := &observed{h: h, links: links, byName: map[string]netlink.Link{}, addrs: map[string][]netip.Prefix{}, owner: map[netip.Addr][]string{},
		route: func(l netlink.Link, r Route) bool { return hasRoute(h, l, r) }}
	byIndex := map[int]string{}
	for _, l := range links {
		o.byName[l.Attrs().Name] = l
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	all, err := h.AddrList(nil, familyAll)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range all {
		if a.Scope != scopeUniverse {
			continue // link-local and loopback addresses are the kernel's
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones)
		name := byIndex[a.LinkIndex]
		o.addrs[name] = append(o.addrs[name], p)
		o.owner[p.Addr()] = append(o.owner[p.Addr()], name)
	}
	return o, nil
}

func ours(l netlink.Link, st *State) bool {
	if l == nil {
		return false
	}
	_, rec := st.Links[l.Attrs().Name]
	return rec || strings.HasPrefix(l.Attrs().Alias, aliasPrefix)
}

func isUp(l netlink.Link) bool { return l.Attrs().RawFlags&unix.IFF_UP != 0 }

// Plan compares d with the kernel and returns the changes Apply would make. It refuses,
// changing nothing, when the desired state collides with something racklift does not own.
func (o Options) Plan(d Desired) (*Plan, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	st, err := LoadState(o.StatePath)
	if err != nil {
		return nil, err
	}
	obs, err := observe(o.Handle)
	if err != nil {
		return nil, err
	}
	return o.diff(d, obs, st)
}

// diff is Plan's comparison of d with what was observed, given what racklift made
// earlier (st): pure, so unit tests cover it without root or a namespace.
func (o Options) diff(d Desired, obs *observed, st *State) (*Plan, error) {
	d = resolveNICs(d, obs, o.Kind)
	p := &Plan{Desired: d, opt: o, state: st}
	var refuse []string
	var rmAddr, rmLink, nicMTU, addLink, mtu, up, addAddr, addRoute, rmRoute, restore, adopt []Change
	desired := map[string]bool{}
	removed := map[string]bool{}
	for _, dl := range d.Links {
		desired[dl.Name] = true
	}
	for i := range d.Links {
		dl := &d.Links[i]
		l := obs.byName[dl.Name]
		linkOurs := false
		if dl.Kind == KindNIC {
			if l == nil {
				refuse = append(refuse, missingNIC(dl, obs))
				continue
			}
			if dl.MTU > 0 && (l.Attrs().MTU < dl.MTU || (!dl.MinMTU && l.Attrs().MTU != dl.MTU)) {
				nicMTU = append(nicMTU, Change{Op: Modify, What: "mtu", Link: dl.Name, Network: dl.Network,
					From: fmt.Sprint(l.Attrs().MTU), To: fmt.Sprint(dl.MTU), mtu: dl.MTU, oldMTU: l.Attrs().MTU, nic: true})
			}
			if !isUp(l) { // before its children: a VLAN cannot come up on a down NIC
				nicMTU = append(nicMTU, Change{Op: Modify, What: "up", Link: dl.Name, Network: dl.Network, From: "down", To: "up"})
			}
			if dl.Network == "" {
				continue // a trunk only: its own addresses are not racklift's business
			}
		} else {
			parent := obs.byName[dl.Parent]
			if parent == nil {
				continue // reported with the NIC
			}
			create := l == nil
			if l != nil && !o.Kind.Matches(l, *dl, parent) {
				if ours(l, st) || o.Adopt {
					rmLink = append(rmLink, Change{Op: Remove, What: "link", Link: dl.Name, Network: dl.Network,
						Reason: "replaced: it is " + describe(l, obs) + ", want " + o.Kind.Describe(*dl), snap: snap(l, obs)})
					removed[dl.Name] = true
					create = true
				} else {
					refuse = append(refuse, fmt.Sprintf("%s exists as %s, but network %s needs %s there; racklift did not create it: remove it, or run with --adopt to replace it",
						dl.Name, describe(l, obs), dl.Network, o.Kind.Describe(*dl)))
					continue
				}
			}
			if create {
				addLink = append(addLink, Change{Op: Add, What: "link", Link: dl.Name, Network: dl.Network,
					To: fmt.Sprintf("%s, mtu %d", o.Kind.Describe(*dl), dl.MTU), link: dl})
				for _, a := range dl.Addrs {
					if c, bad := claim(obs, st, dl, a, o.Adopt); bad != "" {
						refuse = append(refuse, bad)
					} else if c != nil {
						rmAddr = append(rmAddr, *c)
					}
					addAddr = append(addAddr, Change{Op: Add, What: "address", Link: dl.Name, Network: dl.Network, To: a.String(), prefix: a})
				}
				for _, r := range dl.Routes {
					addRoute = append(addRoute, Change{Op: Add, What: "route", Link: dl.Name, Network: dl.Network, To: r.String(), route: r})
				}
				continue
			}
			linkOurs = ours(l, st)
			if !linkOurs && o.Adopt {
				adopt = append(adopt, Change{Op: Modify, What: "adopt", Link: dl.Name, Network: dl.Network,
					From: "not racklift's", To: "racklift's", alias: l.Attrs().Alias, link: dl})
				linkOurs = true
			} else if !linkOurs {
				p.Kept = append(p.Kept, fmt.Sprintf("%s exists and was not created by racklift: used as is, `down` leaves it (--adopt takes it over)", dl.Name))
			}
			if dl.MTU > 0 && l.Attrs().MTU != dl.MTU {
				mtu = append(mtu, Change{Op: Modify, What: "mtu", Link: dl.Name, Network: dl.Network,
					From: fmt.Sprint(l.Attrs().MTU), To: fmt.Sprint(dl.MTU), mtu: dl.MTU, oldMTU: l.Attrs().MTU})
			}
			if !isUp(l) {
				up = append(up, Change{Op: Modify, What: "up", Link: dl.Name, Network: dl.Network, From: "down", To: "up"})
			}
		}
		// Addresses of an existing link.
		have := obs.addrs[dl.Name]
		for _, a := range dl.Addrs {
			if slices.Contains(have, a) {
				continue
			}
			for _, h := range have {
				if h.Addr() == a.Addr() { // same address, other prefix length
					if st.ownsAddr(dl.Name, h) || linkOurs || o.Adopt {
						rmAddr = append(rmAddr, Change{Op: Remove, What: "address", Link: dl.Name, Network: dl.Network, From: h.String(), prefix: h, Reason: "prefix length differs from the inventory's " + a.String()})
					} else {
						refuse = append(refuse, fmt.Sprintf("%s has %s but network %s needs %s; racklift did not add it: fix it by hand or run with --adopt", dl.Name, h, dl.Network, a))
					}
				}
			}
			if c, bad := claim(obs, st, dl, a, o.Adopt); bad != "" {
				refuse = append(refuse, bad)
				continue
			} else if c != nil {
				rmAddr = append(rmAddr, *c)
			}
			addAddr = append(addAddr, Change{Op: Add, What: "address", Link: dl.Name, Network: dl.Network, To: a.String(), prefix: a})
		}
		for _, h := range have {
			if slices.Contains(dl.Addrs, h) || slices.ContainsFunc(dl.Addrs, func(a netip.Prefix) bool { return a.Addr() == h.Addr() }) {
				continue
			}
			if st.ownsAddr(dl.Name, h) || linkOurs || o.Adopt {
				rmAddr = append(rmAddr, Change{Op: Remove, What: "address", Link: dl.Name, Network: dl.Network, From: h.String(), prefix: h, Reason: "not in the inventory"})
			} else {
				p.Kept = append(p.Kept, fmt.Sprintf("%s has %s, which racklift did not add: kept (--adopt removes it)", dl.Name, h))
			}
		}
		for _, r := range dl.Routes {
			if !obs.hasRoute(l, r) {
				addRoute = append(addRoute, Change{Op: Add, What: "route", Link: dl.Name, Network: dl.Network, To: r.String(), route: r})
			}
		}
	}

	// What racklift made earlier and the inventory no longer asks for.
	var stale []string
	for _, l := range obs.links {
		if ours(l, st) && !desired[l.Attrs().Name] {
			stale = append(stale, l.Attrs().Name)
		}
	}
	sort.Strings(stale)
	for _, name := range stale {
		l := obs.byName[name]
		rmLink = append(rmLink, Change{Op: Remove, What: "link", Link: name, Network: networkOf(l, st),
			Reason: "created by racklift, no longer in the inventory", snap: snap(l, obs)})
		removed[name] = true
	}
	for _, a := range st.Addrs {
		if desired[a.Link] || removed[a.Link] {
			continue
		}
		if slices.Contains(obs.addrs[a.Link], a.Prefix) {
			rmAddr = append(rmAddr, Change{Op: Remove, What: "address", Link: a.Link, Network: a.Network, From: a.Prefix.String(), prefix: a.Prefix, Reason: "added by racklift, no longer in the inventory"})
		}
	}
	for _, r := range st.Routes {
		if !desired[r.Link] && !removed[r.Link] {
			if l := obs.byName[r.Link]; l != nil && obs.hasRoute(l, r.Route) {
				rmRoute = append(rmRoute, Change{Op: Remove, What: "route", Link: r.Link, From: r.Route.String(), route: r.Route})
			}
		}
	}
	for nic, orig := range st.MTU {
		if desired[nic] {
			continue
		}
		if l := obs.byName[nic]; l != nil && l.Attrs().MTU != orig {
			restore = append(restore, Change{Op: Modify, What: "mtu", Link: nic, From: fmt.Sprint(l.Attrs().MTU), To: fmt.Sprint(orig),
				mtu: orig, oldMTU: l.Attrs().MTU, nic: true, Reason: "restoring the MTU racklift found"})
		}
	}
	if len(refuse) > 0 {
		return nil, &RefusedError{Reasons: refuse}
	}
	rmAddr = dedupe(rmAddr)
	for _, group := range [][]Change{rmAddr, rmRoute, rmLink, nicMTU, adopt, addLink, mtu, up, addAddr, addRoute, restore} {
		p.Changes = append(p.Changes, group...)
	}
	return p, nil
}

func dedupe(cs []Change) []Change {
	seen := map[string]bool{}
	var out []Change
	for _, c := range cs {
		k := c.Link + " " + c.prefix.String()
		if !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	return out
}

// claim checks that address a is free for dl: on another link it is refused, unless
// racklift put it there (then it moves).
func claim(obs *observed, st *State, dl *Link, a netip.Prefix, adopt bool) (*Change, string) {
	for _, other := range obs.owner[a.Addr()] {
		if other == dl.Name {
			continue
		}
		for _, h := range obs.addrs[other] {
			if h.Addr() != a.Addr() {
				continue
			}
			if st.ownsAddr(other, h) || ours(obs.byName[other], st) {
				return &Change{Op: Remove, What: "address", Link: other, From: h.String(), prefix: h,
					Reason: "moving to " + dl.Name}, ""
			}
			return nil, fmt.Sprintf("address %s for network %s on %s is already in use on %s (as %s): remove it there, or fix the inventory",
				a, dl.Network, dl.Name, other, h)
		}
	}
	return nil, ""
}

// resolveNICs finds NICs by MAC: the inventory's name may differ from the kernel's.
func resolveNICs(d Desired, obs *observed, kind Kind) Desired {
	rename := map[string]string{}
	for i, dl := range d.Links {
		if dl.Kind != KindNIC || dl.MAC == "" {
			continue
		}
		mac, err := net.ParseMAC(dl.MAC)
		if err != nil {
			continue
		}
		for _, l := range obs.links {
			switch l.Type() {
			case "vlan", "macvlan", "macvtap", "ipvlan":
				continue
			}
			if l.Attrs().HardwareAddr.String() == mac.String() && l.Attrs().Name != dl.Name {
				rename[dl.Name] = l.Attrs().Name
				d.Links[i].Name = l.Attrs().Name
				break
			}
		}
	}
	if len(rename) == 0 {
		return d
	}
	for i, dl := range d.Links {
		if n, ok := rename[dl.Parent]; ok {
			d.Links[i].Parent = n
			if dl.Name == kind.ChildName(dl.Parent, dl.VLAN) {
				d.Links[i].Name = kind.ChildName(n, dl.VLAN)
			}
		}
	}
	nets := slices.Clone(d.Networks)
	for i, nw := range nets {
		if n, ok := rename[nw.Interface]; ok {
			nets[i].Interface = n
		} else if strings.Contains(nw.Interface, ".") {
			for old, n := range rename {
				if nw.Interface == kind.ChildName(old, nw.VLAN) || strings.HasPrefix(nw.Interface, old+".") {
					nets[i].Interface = kind.ChildName(n, nw.VLAN)
				}
			}
		}
	}
	d.Networks = nets
	return d
}

func missingNIC(dl *Link, obs *observed) string {
	var names []string
	for _, l := range obs.links {
		if l.Attrs().Name != "lo" {
			names = append(names, l.Attrs().Name)
		}
	}
	sort.Strings(names)
	id := dl.Name
	if dl.MAC != "" {
		id += " (MAC " + dl.MAC + ")"
	}
	for_ := ""
	if dl.Network != "" {
		for_ = " for network " + dl.Network
	}
	return fmt.Sprintf("NIC %s%s is not on this host (present: %s): check the inventory's interface name and MAC, or --trunk", id, for_, strings.Join(names, ", "))
}

func describe(l netlink.Link, obs *observed) string {
	parent := ""
	if pi := l.Attrs().ParentIndex; pi != 0 {
		for _, x := range obs.links {
			if x.Attrs().Index == pi {
				parent = " on " + x.Attrs().Name
			}
		}
	}
	if v, ok := l.(*netlink.Vlan); ok {
		return fmt.Sprintf("a vlan (VLAN %d%s)", v.VlanId, parent)
	}
	return "a " + l.Type() + parent
}

func networkOf(l netlink.Link, st *State) string {
	if r, ok := st.Links[l.Attrs().Name]; ok {
		return r.Network
	}
	return strings.TrimPrefix(l.Attrs().Alias, aliasPrefix)
}

func hasRoute(h *netlink.Handle, l netlink.Link, r Route) bool {
	routes, err := h.RouteListFiltered(familyAll, &netlink.Route{LinkIndex: l.Attrs().Index}, netlink.RT_FILTER_OIF)
	if err != nil {
		return false
	}
	for _, x := range routes {
		if x.Dst != nil && x.Dst.String() == r.Dst.String() && x.Gw != nil && x.Gw.Equal(r.Gw.AsSlice()) {
			return true
		}
	}
	return false
}

// snapshot is a removed link, enough to put it back on rollback.
type snapshot struct {
	link  netlink.Link
	addrs []netip.Prefix
	up    bool
}

func snap(l netlink.Link, obs *observed) *snapshot {
	return &snapshot{link: l, addrs: obs.addrs[l.Attrs().Name], up: isUp(l)}
}

var errCannotRecreate = errors.New("cannot recreate this kind of link")
