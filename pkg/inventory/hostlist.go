package inventory

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Selector forms beyond select.go's plain terms, as ops engineers write them elsewhere:
//
//	gpu-a01-[01-16]        a hostlist range (Slurm, Warewulf): numbers, ranges and commas
//	                       in brackets, zero-padded as written; brackets without a comma
//	                       or a multi-digit range ([1-3], [12], [a-f]) stay glob classes
//	rack in (a01,a02)      any of the values (rack, role, profile, name or a label key)
//	rack notin (a01,a02)   none of them
//	rack!=a01              rack, role, profile and name take != as labels do

// maxHostlist bounds what one hostlist selector expands to (a typo such as [1-100000000]
// must fail, not allocate).
const maxHostlist = 100000

// splitTerms splits a selector at the commas outside brackets and parentheses, so
// gpu-[01-03,07] and "rack in (a01,a02)" stay whole terms.
func splitTerms(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[', '(':
			depth++
		case ']', ')':
			if depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

var (
	// "key in (a,b)" / "key notin (a,b)".
	setTerm = regexp.MustCompile(`^([A-Za-z0-9_./-]+)\s+(in|notin)\s*\((.*)\)$`)
	// A bracket holding only numbers, ranges and commas: a hostlist range.
	hostlistBracket = regexp.MustCompile(`\[(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)\]`)
)

// field is the node attribute a selector key names; labels for any other key.
func field(key string) func(*Node) (string, bool) {
	switch key {
	case "rack":
		return func(n *Node) (string, bool) { return n.Rack, true }
	case "role":
		return func(n *Node) (string, bool) { return n.Role, true }
	case "name":
		return func(n *Node) (string, bool) { return n.Name, true }
	case "profile":
		return func(n *Node) (string, bool) { return n.Profile, true }
	}
	return func(n *Node) (string, bool) { v, ok := n.Labels[key]; return v, ok }
}

// extTerm parses the forms above; ok is false for a term select.go handles itself.
func (inv *Inventory) extTerm(t string) (pred func(*Node) bool, ok bool, err error) {
	if m := setTerm.FindStringSubmatch(t); m != nil {
		get, neg := field(m[1]), m[2] == "notin"
		var vals []string
		for _, v := range strings.Split(m[3], ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				return nil, true, fmt.Errorf("selector %q: empty value in the list", t)
			}
			if err := validGlob(v); err != nil {
				return nil, true, fmt.Errorf("selector %q: %w", t, err)
			}
			vals = append(vals, v)
		}
		return func(n *Node) bool {
			v, has := get(n)
			in := false
			for _, want := range vals {
				in = in || (has && globMatch(want, v))
			}
			return in != neg
		}, true, nil
	}
	if k, v, found := strings.Cut(t, "!="); found {
		switch k {
		case "rack", "role", "name", "profile":
			if err := validGlob(v); err != nil {
				return nil, true, err
			}
			get := field(k)
			return func(n *Node) bool { s, _ := get(n); return !globMatch(v, s) }, true, nil
		}
		return nil, false, nil
	}
	if strings.Contains(t, "=") || firstRange(t) == nil {
		return nil, false, nil
	}
	patterns, err := expandHostlist(t)
	if err != nil {
		return nil, true, err
	}
	var missing []string
	exact := map[string]bool{}
	var globs []string
	for _, p := range patterns {
		if err := validGlob(p); err != nil {
			return nil, true, fmt.Errorf("selector %q: %w", t, err)
		}
		if strings.ContainsAny(p, "*?[") {
			globs = append(globs, p)
			continue
		}
		if inv.Node(p) == nil {
			missing = append(missing, p)
		}
		exact[p] = true
	}
	// As a plain name does: a range naming nodes the inventory lacks is a mistake, said
	// before anything is done to the ones that exist.
	if len(missing) > 0 {
		shown := missing
		if len(shown) > 5 {
			shown = append(shown[:5:5], "...")
		}
		return nil, true, fmt.Errorf("selector %q: %d of %d names are not in the inventory: %s", t, len(missing), len(patterns), strings.Join(shown, ", "))
	}
	return func(n *Node) bool {
		if exact[n.Name] {
			return true
		}
		for _, g := range globs {
			if globMatch(g, n.Name) {
				return true
			}
		}
		return false
	}, true, nil
}

// ExpandHostlist expands every hostlist bracket in s ("gpu-a01-[01-03,07]" is gpu-a01-01,
// gpu-a01-02, gpu-a01-03, gpu-a01-07); a number keeps the width it is written with.
func ExpandHostlist(s string) ([]string, error) { return expandHostlist(s) }

// firstRange locates the first bracket that is a hostlist range: one with a comma, or a
// range with a number of two digits or more. [1-3], [0-9] and [12] stay glob classes
// ([1-3] names the same nodes either way, but a glob does not insist that each exists).
func firstRange(s string) []int {
	for _, loc := range hostlistBracket.FindAllStringSubmatchIndex(s, -1) {
		body := s[loc[2]:loc[3]]
		if strings.Contains(body, ",") || (strings.Contains(body, "-") && multiDigit.MatchString(body)) {
			return loc
		}
	}
	return nil
}

var multiDigit = regexp.MustCompile(`\d\d`)

func expandHostlist(s string) ([]string, error) {
	loc := firstRange(s)
	if loc == nil {
		return []string{s}, nil
	}
	prefix, body, rest := s[:loc[0]], s[loc[2]:loc[3]], s[loc[1]:]
	var nums []string
	for _, part := range strings.Split(body, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || b < a {
			return nil, fmt.Errorf("hostlist %q: range %q runs backwards or is not numbers", s, part)
		}
		if b-a >= maxHostlist || len(nums)+b-a+1 > maxHostlist {
			return nil, fmt.Errorf("hostlist %q: more than %d names", s, maxHostlist)
		}
		for i := a; i <= b; i++ {
			nums = append(nums, fmt.Sprintf("%0*d", len(lo), i))
		}
	}
	tails, err := expandHostlist(rest)
	if err != nil {
		return nil, err
	}
	if len(nums)*len(tails) > maxHostlist {
		return nil, fmt.Errorf("hostlist %q: more than %d names", s, maxHostlist)
	}
	out := make([]string, 0, len(nums)*len(tails))
	for _, n := range nums {
		for _, t := range tails {
			out = append(out, prefix+n+t)
		}
	}
	return out, nil
}
