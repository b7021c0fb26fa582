package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
)

// ApplyError is a step that failed; the steps before it were undone.
type ApplyError struct {
	Step        Change
	Index, Of   int
	Err         error
	RolledBack  int
	RollbackErr error // steps that could not be undone, if any
}

func (e *ApplyError) Error() string {
	s := fmt.Sprintf("step %d of %d failed: %s: %v; rolled back the %d change(s) made before it, the host is as it was",
		e.Index+1, e.Of, strings.TrimSpace(e.Step.String()), e.Err, e.RolledBack)
	if e.RollbackErr != nil {
		s = fmt.Sprintf("step %d of %d failed: %s: %v; rolling back left changes in place: %v",
			e.Index+1, e.Of, strings.TrimSpace(e.Step.String()), e.Err, e.RollbackErr)
	}
	return s
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Apply makes the plan's changes in order and records what racklift created. If a step
// fails, the steps already made are undone in reverse and the state file is left as it was.
func (p *Plan) Apply() error {
	st := p.state.clone()
	h := p.opt.Handle
	var done []Change
	for i, c := range p.Changes {
		err := error(nil)
		if p.opt.BeforeStep != nil {
			err = p.opt.BeforeStep(c)
		}
		if err == nil {
			err = p.do(h, c, st)
		}
		if err != nil {
			var rbErrs []error
			for j := len(done) - 1; j >= 0; j-- {
				if uerr := p.undo(h, done[j]); uerr != nil {
					rbErrs = append(rbErrs, fmt.Errorf("undo %s: %w", strings.TrimSpace(done[j].String()), uerr))
				}
			}
			return &ApplyError{Step: c, Index: i, Of: len(p.Changes), Err: err, RolledBack: len(done), RollbackErr: errors.Join(rbErrs...)}
		}
		done = append(done, c)
	}
	if p.reset {
		st = newState()
	}
	// Forget links that are gone (deleted by hand, or the host rebooted without /run).
	for name := range st.Links {
		if _, err := h.LinkByName(name); err != nil {
			st.dropLink(name)
		}
	}
	if len(st.Links) == 0 && len(st.Addrs) == 0 && len(st.MTU) == 0 && len(st.Routes) == 0 {
		if err := os.Remove(p.opt.StatePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return st.Save(p.opt.StatePath)
}

func (p *Plan) do(h *netlink.Handle, c Change, st *State) error {
	switch c.What {
	case "link":
		if c.Op == Remove {
			l, err := h.LinkByName(c.Link)
			if err != nil {
				return err
			}
			if err := h.LinkDel(l); err != nil {
				return err
			}
			st.dropLink(c.Link)
			return nil
		}
		parent, err := h.LinkByName(c.link.Parent)
		if err != nil {
			return fmt.Errorf("parent %s: %w", c.link.Parent, err)
		}
		nl := p.opt.Kind.New(*c.link, parent)
		if err := h.LinkAdd(nl); err != nil {
			return err
		}
		st.Links[c.Link] = LinkRecord{Network: c.Network, Kind: p.opt.Kind.Name()}
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		if err := h.LinkSetAlias(l, aliasPrefix+c.Network); err != nil {
			h.LinkDel(l)
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			h.LinkDel(l)
			return err
		}
		return nil
	case "adopt":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		if err := h.LinkSetAlias(l, aliasPrefix+c.Network); err != nil {
			return err
		}
		st.Links[c.Link] = LinkRecord{Network: c.Network, Kind: p.opt.Kind.Name()}
		return nil
	case "mtu":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		if err := h.LinkSetMTU(l, c.mtu); err != nil {
			return err
		}
		if c.nic {
			if orig, ok := st.MTU[c.Link]; !ok {
				st.MTU[c.Link] = c.oldMTU
			} else if orig == c.mtu {
				delete(st.MTU, c.Link) // back where racklift found it
			}
		}
		return nil
	case "up":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		return h.LinkSetUp(l)
	case "address":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: prefixNet(c.prefix)}
		if c.Op == Remove {
			if err := h.AddrDel(l, a); err != nil {
				return err
			}
			st.dropAddr(c.Link, c.prefix)
			return nil
		}
		if err := h.AddrAdd(l, a); err != nil {
			return err
		}
		st.addAddr(AddrRecord{Link: c.Link, Prefix: c.prefix, Network: c.Network})
		return nil
	case "route":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: prefixNet(c.route.Dst), Gw: c.route.Gw.AsSlice()}
		if c.Op == Remove {
			if err := h.RouteDel(r); err != nil {
				return err
			}
			for i, x := range st.Routes {
				if x.Link == c.Link && x.Route == c.route {
					st.Routes = append(st.Routes[:i], st.Routes[i+1:]...)
					break
				}
			}
			return nil
		}
		if err := h.RouteAdd(r); err != nil {
			return err
		}
		st.Routes = append(st.Routes, RouteRecord{Link: c.Link, Route: c.route})
		return nil
	}
	return fmt.Errorf("unknown change %q", c.What)
}

// undo reverses a change that was made.
func (p *Plan) undo(h *netlink.Handle, c Change) error {
	switch c.What {
	case "link":
		if c.Op == Add {
			l, err := h.LinkByName(c.Link)
			if err != nil {
				return err
			}
			return h.LinkDel(l)
		}
		return recreate(h, c.snap)
	case "adopt":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		return h.LinkSetAlias(l, c.alias)
	case "mtu":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		return h.LinkSetMTU(l, c.oldMTU)
	case "up":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		return h.LinkSetDown(l)
	case "address":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		a := &netlink.Addr{IPNet: prefixNet(c.prefix)}
		if c.Op == Add {
			return h.AddrDel(l, a)
		}
		return h.AddrAdd(l, a)
	case "route":
		l, err := h.LinkByName(c.Link)
		if err != nil {
			return err
		}
		r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: prefixNet(c.route.Dst), Gw: c.route.Gw.AsSlice()}
		if c.Op == Add {
			return h.RouteDel(r)
		}
		return h.RouteAdd(r)
	}
	return nil
}

// recreate puts a removed VLAN or macvlan back with its MTU, alias, addresses and state.
func recreate(h *netlink.Handle, s *snapshot) error {
	if s == nil {
		return errCannotRecreate
	}
	a := *s.link.Attrs()
	la := netlink.NewLinkAttrs()
	la.Name, la.ParentIndex, la.MTU = a.Name, a.ParentIndex, a.MTU
	var nl netlink.Link
	switch l := s.link.(type) {
	case *netlink.Vlan:
		nl = &netlink.Vlan{LinkAttrs: la, VlanId: l.VlanId, VlanProtocol: l.VlanProtocol}
	case *netlink.Macvlan:
		nl = &netlink.Macvlan{LinkAttrs: la, Mode: l.Mode}
	default:
		return fmt.Errorf("%s (%s): %w", a.Name, s.link.Type(), errCannotRecreate)
	}
	if err := h.LinkAdd(nl); err != nil {
		return err
	}
	l, err := h.LinkByName(a.Name)
	if err != nil {
		return err
	}
	if a.Alias != "" {
		h.LinkSetAlias(l, a.Alias)
	}
	for _, p := range s.addrs {
		if err := h.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(p)}); err != nil {
			return err
		}
	}
	if s.up {
		return h.LinkSetUp(l)
	}
	return nil
}

// prefixNet is an address with its mask, as netlink wants it (the address, not the subnet).
func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
