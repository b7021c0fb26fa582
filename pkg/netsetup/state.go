package netsetup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// DefaultStatePath is where racklift records what it created; /run is emptied at boot,
// when the links it lists are gone too.
const DefaultStatePath = "/run/racklift/net-state.json"

// aliasPrefix marks links racklift created (ip link shows it as "alias racklift:storage").
const aliasPrefix = "racklift:"

// State is what racklift created or changed on this host.
type State struct {
	Links  map[string]LinkRecord `json:"links"`        // created links by name
	Addrs  []AddrRecord          `json:"addresses"`    // addresses racklift added
	MTU    map[string]int        `json:"original_mtu"` // NIC → MTU before racklift changed it
	Routes []RouteRecord         `json:"routes"`
}

// LinkRecord is a link racklift created.
type LinkRecord struct {
	Network string `json:"network"`
	Kind    string `json:"kind"`
}

// AddrRecord is an address racklift added.
type AddrRecord struct {
	Link    string       `json:"link"`
	Prefix  netip.Prefix `json:"prefix"`
	Network string       `json:"network,omitempty"`
}

// RouteRecord is a route racklift added.
type RouteRecord struct {
	Link  string `json:"link"`
	Route Route  `json:"route"`
}

func newState() *State {
	return &State{Links: map[string]LinkRecord{}, MTU: map[string]int{}}
}

// LoadState reads the state file; a missing file is an empty state.
func LoadState(path string) (*State, error) {
	s := newState()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("racklift network state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("racklift network state %s is corrupt (%w): move it aside; racklift then only recognises its links by their alias", path, err)
	}
	if s.Links == nil {
		s.Links = map[string]LinkRecord{}
	}
	if s.MTU == nil {
		s.MTU = map[string]int{}
	}
	return s, nil
}

// Save writes the state durably: it is the rollback record, so a crash must not lose it.
func (s *State) Save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(s, "", "  ")
	return atomicfile.WriteFile(path, b, 0o644)
}

func (s *State) clone() *State {
	c := newState()
	for k, v := range s.Links {
		c.Links[k] = v
	}
	for k, v := range s.MTU {
		c.MTU[k] = v
	}
	c.Addrs = slices.Clone(s.Addrs)
	c.Routes = slices.Clone(s.Routes)
	return c
}

func (s *State) ownsAddr(link string, p netip.Prefix) bool {
	for _, a := range s.Addrs {
		if a.Link == link && a.Prefix == p {
			return true
		}
	}
	return false
}

func (s *State) addAddr(r AddrRecord) {
	if !s.ownsAddr(r.Link, r.Prefix) {
		s.Addrs = append(s.Addrs, r)
	}
}

func (s *State) dropAddr(link string, p netip.Prefix) {
	s.Addrs = slices.DeleteFunc(s.Addrs, func(a AddrRecord) bool { return a.Link == link && a.Prefix == p })
}

func (s *State) dropLink(name string) {
	delete(s.Links, name)
	s.Addrs = slices.DeleteFunc(s.Addrs, func(a AddrRecord) bool { return a.Link == name })
	s.Routes = slices.DeleteFunc(s.Routes, func(r RouteRecord) bool { return r.Link == name })
}
