// Package agent runs a node's checks against what its inventory profile expects and
// builds the report the node agent sends to the racklift server.
package agent

import (
	"bytes"
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/agent/netcheck"
	"github.com/racklift/racklift/pkg/inventory"
)

// Expectations are what one node must have: the server builds them from the inventory
// (ExpectationsFor) and serves them at /api/v1/nodes/{name}/expect; `node-agent check
// --expect FILE` reads the same shape as YAML or JSON.
type Expectations struct {
	Node     string                    `json:"node" yaml:"node"`
	GPU      *inventory.GPUExpect      `json:"gpu,omitempty" yaml:"gpu,omitempty"`
	Storage  []inventory.StorageExpect `json:"storage,omitempty" yaml:"storage,omitempty"`
	Networks []netcheck.Network        `json:"networks,omitempty" yaml:"networks,omitempty"`
}

// StorageMTU is the largest MTU among the storage networks, for the NFS MTU check.
func (e *Expectations) StorageMTU() int {
	mtu := 0
	for _, n := range e.Networks {
		if n.Role == "storage" && n.MTU > mtu {
			mtu = n.MTU
		}
	}
	return mtu
}

// LoadExpectations reads an expectations file (YAML, or JSON which YAML accepts);
// unknown fields are errors, so a typo does not silently drop a check.
func LoadExpectations(path string) (*Expectations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseExpectations(b, path)
}

// ParseExpectations decodes expectations; name is used in error messages.
func ParseExpectations(b []byte, name string) (*Expectations, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var e Expectations
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if e.GPU != nil && e.GPU.Count < 0 {
		return nil, fmt.Errorf("%s: gpu.count %d is negative", name, e.GPU.Count)
	}
	for i, s := range e.Storage {
		if s.Mount == "" {
			return nil, fmt.Errorf("%s: storage[%d] has no mount", name, i)
		}
	}
	return &e, nil
}

// ExpectationsFor builds a node's expectations from the inventory: its effective profile
// (overrides applied) and its networks as netcheck.ForNode derives them (interface, MAC,
// address, VLAN, MTU, gateway, peers), kept to the networks the profile names when it
// names any. A named network the node has no interface on is still listed, so the
// network check reports it missing rather than nobody noticing.
func ExpectationsFor(inv *inventory.Inventory, name string) (*Expectations, error) {
	n := inv.Node(name)
	if n == nil {
		return nil, fmt.Errorf("node %q is not in the inventory", name)
	}
	if n.Spec == nil {
		return nil, fmt.Errorf("node %s: profile %q is not defined", name, n.Profile)
	}
	x := n.Spec.Expect
	e := &Expectations{Node: n.Name, Storage: slices.Clone(x.Storage)}
	if x.GPU != nil {
		g := *x.GPU
		e.GPU = &g
	}
	nets, err := netcheck.ForNode(inv, n)
	if err != nil {
		return nil, err
	}
	if len(x.Networks) == 0 {
		e.Networks = nets
		return e, nil
	}
	for _, want := range x.Networks {
		found := false
		for _, nw := range nets {
			if nw.Name == want {
				e.Networks, found = append(e.Networks, nw), true
			}
		}
		if !found {
			nw := inv.Network(want)
			if nw == nil {
				return nil, fmt.Errorf("node %s: network %q is not defined", name, want)
			}
			e.Networks = append(e.Networks, netcheck.Network{Name: nw.Name, Role: nw.Role, VLAN: nw.VLAN, MTU: nw.MTU, Gateway: nw.Gateway})
		}
	}
	return e, nil
}
