package netsetup

import (
	"fmt"
	"io"
)

// Write prints the plan as a diff: one +, - or ~ line per change, then what was kept.
func (p *Plan) Write(w io.Writer) {
	for _, c := range p.Changes {
		fmt.Fprintln(w, c.String())
	}
	for _, k := range p.Kept {
		fmt.Fprintln(w, "  kept: "+k)
	}
	fmt.Fprintln(w, p.Summary())
}

// Summary counts the changes: "3 to add, 1 to change, 0 to remove".
func (p *Plan) Summary() string {
	if p.Empty() {
		return "no changes: the host matches the inventory"
	}
	var add, mod, rm int
	for _, c := range p.Changes {
		switch c.Op {
		case Add:
			add++
		case Modify:
			mod++
		case Remove:
			rm++
		}
	}
	return fmt.Sprintf("%d to add, %d to change, %d to remove", add, mod, rm)
}
