package netsetup

import (
	"fmt"
	"slices"
	"sort"
)

// Down plans the removal of everything racklift created: its links (by state file and by
// alias), the addresses it added to other links, its routes, and the NIC MTUs it changed go
// back to what they were. Links and addresses racklift did not create are never touched.
func (o Options) Down() (*Plan, error) {
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
	p := &Plan{opt: o, state: st}
	var created []string
	for _, l := range obs.links {
		if ours(l, st) {
			created = append(created, l.Attrs().Name)
		}
	}
	sort.Strings(created)
	var rmAddr, rmRoute, rmLink, restore []Change
	for _, r := range st.Routes {
		if slices.Contains(created, r.Link) {
			continue
		}
		if l := obs.byName[r.Link]; l != nil && hasRoute(o.Handle, l, r.Route) {
			rmRoute = append(rmRoute, Change{Op: Remove, What: "route", Link: r.Link, From: r.Route.String(), route: r.Route})
		}
	}
	for _, a := range st.Addrs {
		if slices.Contains(created, a.Link) {
			continue // goes with its link
		}
		if slices.Contains(obs.addrs[a.Link], a.Prefix) {
			rmAddr = append(rmAddr, Change{Op: Remove, What: "address", Link: a.Link, Network: a.Network, From: a.Prefix.String(), prefix: a.Prefix})
		}
	}
	for _, name := range created {
		l := obs.byName[name]
		rmLink = append(rmLink, Change{Op: Remove, What: "link", Link: name, Network: networkOf(l, st), snap: snap(l, obs)})
	}
	for nic, orig := range st.MTU {
		if l := obs.byName[nic]; l != nil && l.Attrs().MTU != orig {
			restore = append(restore, Change{Op: Modify, What: "mtu", Link: nic, From: fmt.Sprint(l.Attrs().MTU), To: fmt.Sprint(orig),
				mtu: orig, oldMTU: l.Attrs().MTU, nic: true, Reason: "restoring the MTU racklift found"})
		}
	}
	// Children before the NIC MTU goes back down.
	for _, g := range [][]Change{rmRoute, rmAddr, rmLink, restore} {
		p.Changes = append(p.Changes, g...)
	}
	p.reset = true
	return p, nil
}
