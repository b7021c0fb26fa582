package inventory

import (
	"fmt"
	"slices"
	"strings"
)

// Complete lists what may follow toComplete as a selector argument, for shell completion:
// node names, all, rack=, role=, profile= and label keys, then their values once the key
// is typed; after a comma, the next term of the same selector. Each entry is
// "candidate\tdescription" (shells that show descriptions show them); keys end in '=',
// so the shell should not add a space after them.
func (inv *Inventory) Complete(toComplete string) []string {
	done, cur := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		done, cur = toComplete[:i+1], toComplete[i+1:]
	}
	var out []string
	add := func(cand, desc string) {
		if strings.HasPrefix(cand, cur) {
			out = append(out, done+cand+"\t"+desc)
		}
	}
	if key, _, ok := strings.Cut(cur, "="); ok {
		for _, v := range inv.values(key) {
			add(key+"="+v, key)
		}
		return out
	}
	for _, n := range inv.Nodes {
		desc := "rack " + n.Rack
		if n.Unit > 0 {
			desc += fmt.Sprintf(" U%d", n.Unit)
		}
		add(n.Name, desc+", "+n.Role)
	}
	if done == "" {
		add("all", "every node")
	}
	for _, k := range []string{"rack", "role", "profile"} {
		add(k+"=", k)
	}
	for _, k := range inv.labelKeys() {
		add(k+"=", "label")
	}
	return out
}

// values are the distinct values of a selector key across the nodes, sorted.
func (inv *Inventory) values(key string) []string {
	get := field(key)
	seen := map[string]bool{}
	var out []string
	for _, n := range inv.Nodes {
		if v, ok := get(n); ok && v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func (inv *Inventory) labelKeys() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range inv.Nodes {
		for k := range n.Labels {
			if !seen[k] && k != "rack" && k != "role" && k != "profile" && k != "name" {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}
