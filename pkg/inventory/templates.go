package inventory

import (
	"io/fs"
	"slices"
)

// CheckInstallTemplates reports profiles and node overrides whose boot.install names no
// directory under install/ in fsys (the built-in templates or a --templates directory):
// serve would otherwise find out only when the node asks for its script.
func (inv *Inventory) CheckInstallTemplates(fsys fs.FS) Errors {
	var known []string
	entries, _ := fs.ReadDir(fsys, "install")
	for _, e := range entries {
		if e.IsDir() {
			known = append(known, e.Name())
		}
	}
	var errs Errors
	check := func(src source, at []string, name string) {
		if name == "" || slices.Contains(known, name) {
			return
		}
		hint := suggest(name, known)
		if len(known) == 0 {
			hint = "the templates hold no install/<name>/ directories: check --templates"
		}
		errs.add(src.posAt(at...), hint, "install template %q does not exist", name)
	}
	for _, p := range inv.Profiles {
		check(p.src, []string{"boot", "install"}, p.Boot.Install)
	}
	for _, n := range inv.Nodes {
		if n.Overrides != nil && n.Overrides.Boot != nil {
			check(n.src, []string{"overrides", "boot", "install"}, n.Overrides.Boot.Install)
		}
	}
	return errs.sorted()
}
