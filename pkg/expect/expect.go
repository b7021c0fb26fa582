// Package expect is what a node must have, as server and agent both speak it: the
// server derives a node's Expectations from the inventory (plan.ExpectationsFor) and
// serves them at /api/v1/nodes/{name}/expect, the agent checks the node against them,
// and `node-agent check --expect FILE` reads the same shape as YAML or JSON. The
// inventory uses GPU and Storage as the fields of a profile's expect: block, so a profile
// and the wire say the same thing. It is a leaf of plain types (no racklift imports).
package expect

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Expectations are what one node must have.
type Expectations struct {
	Node     string    `json:"node" yaml:"node"`
	GPU      *GPU      `json:"gpu,omitempty" yaml:"gpu,omitempty"`
	Storage  []Storage `json:"storage,omitempty" yaml:"storage,omitempty"`
	Networks []Network `json:"networks,omitempty" yaml:"networks,omitempty"`
	Deploy   *Deploy   `json:"deploy,omitempty" yaml:"deploy,omitempty"` // the OS to put on the disk; nil: none
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

// Load reads an expectations file (YAML, or JSON which YAML accepts); unknown fields are
// errors, so a typo does not silently drop a check.
func Load(path string) (*Expectations, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b, path)
}

// Parse decodes expectations; name is used in error messages.
func Parse(b []byte, name string) (*Expectations, error) {
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
