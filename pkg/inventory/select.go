package inventory

import (
	"fmt"
	"path"
	"strings"
)

// Select returns the nodes matching a selector, in inventory order. A selector is a
// comma-separated list of terms that all must match (AND), or several space-separated
// arguments where any may match (OR, see SelectAny). Terms:
//
//	all               every node
//	gpu-a01-03        a node name
//	gpu-a01-*         a glob over node names
//	rack=a01          nodes in a rack (globs allowed: rack=a*)
//	role=gpu          nodes with a role
//	k=v               nodes whose label k is v
//	k!=v              nodes whose label k is not v
//	gpu-a01-[01-16]   a hostlist range; "rack in (a01,a02)", "role notin (...)": hostlist.go
func (inv *Inventory) Select(selector string) ([]*Node, error) {
	terms := splitTerms(strings.TrimSpace(selector))
	preds := make([]func(*Node) bool, 0, len(terms))
	for _, t := range terms {
		t = strings.TrimSpace(t)
		p, err := inv.term(t)
		if err != nil {
			return nil, err
		}
		preds = append(preds, p)
	}
	var out []*Node
	for _, n := range inv.Nodes {
		ok := true
		for _, p := range preds {
			if !p(n) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selector %q matches no node (try 'provision inventory list' to see names, racks, roles and labels)", selector)
	}
	return out, nil
}

// SelectAny is the union of several selectors, each node once, in inventory order.
func (inv *Inventory) SelectAny(selectors []string) ([]*Node, error) {
	if len(selectors) == 0 {
		return nil, fmt.Errorf("no nodes selected: name nodes, a glob (gpu-a01-*), rack=NAME, role=NAME, label k=v, or all")
	}
	want := map[*Node]bool{}
	for _, s := range selectors {
		ns, err := inv.Select(s)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			want[n] = true
		}
	}
	var out []*Node
	for _, n := range inv.Nodes {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (inv *Inventory) term(t string) (func(*Node) bool, error) {
	if t == "" {
		return nil, fmt.Errorf("empty selector term")
	}
	if t == "all" {
		return func(*Node) bool { return true }, nil
	}
	if p, ok, err := inv.extTerm(t); ok { // hostlist ranges, in (...), rack!=: hostlist.go
		return p, err
	}
	if k, v, ok := strings.Cut(t, "!="); ok {
		return func(n *Node) bool { return !globMatch(v, n.Labels[k]) }, validGlob(v)
	}
	if k, v, ok := strings.Cut(t, "="); ok {
		if err := validGlob(v); err != nil {
			return nil, err
		}
		switch k {
		case "rack":
			return func(n *Node) bool { return globMatch(v, n.Rack) }, nil
		case "role":
			return func(n *Node) bool { return globMatch(v, n.Role) }, nil
		case "name":
			return func(n *Node) bool { return globMatch(v, n.Name) }, nil
		case "profile":
			return func(n *Node) bool { return globMatch(v, n.Profile) }, nil
		}
		return func(n *Node) bool { l, ok := n.Labels[k]; return ok && globMatch(v, l) }, nil
	}
	if err := validGlob(t); err != nil {
		return nil, err
	}
	if !strings.ContainsAny(t, "*?[") && inv.Node(t) == nil {
		return nil, fmt.Errorf("no node named %q in the inventory", t)
	}
	return func(n *Node) bool { return globMatch(t, n.Name) }, nil
}

func globMatch(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}

func validGlob(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("bad glob %q: %v", p, err)
	}
	return nil
}
