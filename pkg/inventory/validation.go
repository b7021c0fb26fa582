package inventory

import (
	"errors"
	"io/fs"
	"sort"
)

// Validation is what `provision validate` finds: whether the inventory at Path loads
// clean and names install templates that exist, its size, every defect, and (when asked)
// whether each credential the nodes use has a password.
type Validation struct {
	OK       bool     `json:"ok"`
	Path     string   `json:"path"`
	Nodes    int      `json:"nodes"`
	Racks    int      `json:"racks"`
	Networks int      `json:"networks"`
	Errors   []*Error `json:"errors"`
	// Credentials is filled when secrets are checked: one entry per credential nodes use.
	Credentials []CredentialCheck `json:"credentials,omitempty"`
}

// CredentialCheck says whether a credential's password can be found; never the password.
type CredentialCheck struct {
	Name  string `json:"name"`
	Nodes int    `json:"nodes"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Validate loads the inventory at path and checks the profiles' install templates exist
// in templates; with secrets (not nil) it also resolves every credential the nodes use.
// Defects are in the result; the error is for an inventory that cannot be read at all.
func Validate(path string, templates fs.FS, secrets *Secrets) (*Validation, error) {
	v := &Validation{Path: path, Errors: []*Error{}}
	inv, err := Load(path)
	var ie Errors
	switch {
	case errors.As(err, &ie):
		v.Errors = ie
		return v, nil
	case err != nil:
		return nil, err
	}
	if ie = inv.CheckInstallTemplates(templates); len(ie) > 0 {
		v.Errors = ie
		return v, nil
	}
	v.OK = true
	v.Nodes, v.Racks, v.Networks = len(inv.Nodes), len(inv.Racks), len(inv.Networks)
	if secrets != nil {
		v.Credentials = CheckCredentials(inv, secrets)
		for _, c := range v.Credentials {
			v.OK = v.OK && c.OK
		}
	}
	return v, nil
}

// CheckCredentials resolves every credential the nodes refer to, without keeping any
// password.
func CheckCredentials(inv *Inventory, s *Secrets) []CredentialCheck {
	uses := map[string]int{}
	var order []string
	for _, n := range inv.Nodes {
		c := n.BMC.Credentials
		if uses[c] == 0 {
			order = append(order, c)
		}
		uses[c]++
	}
	sort.Strings(order)
	out := make([]CredentialCheck, 0, len(order))
	for _, name := range order {
		cc := CredentialCheck{Name: name, Nodes: uses[name], OK: true}
		if _, err := s.Resolve(inv, name); err != nil {
			cc.OK, cc.Error = false, err.Error()
		}
		out = append(out, cc)
	}
	return out
}
