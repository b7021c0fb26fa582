package rack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// StatusFile, in the rack's Dir, is the rack's Status as JSON, kept current by
// racklift-lab up for `racklift-lab counts` and for tests in other processes.
const StatusFile = "rack.json"

// Status is where the rack's parts are and what its BMCs were asked to do.
type Status struct {
	NetNS   string   `json:"netns"`
	Dir     string   `json:"dir"`
	Bridges []string `json:"bridges"`
	// Gateways the storage switch answers as: "storage 10.204.200.1 VLAN 200".
	Gateways []string     `json:"gateways,omitempty"`
	PID      int          `json:"pid"` // the process holding the rack
	Updated  time.Time    `json:"updated"`
	Nodes    []NodeStatus `json:"nodes"`
}

// NodeStatus is one machine. Never holds the BMC password.
type NodeStatus struct {
	Name        string   `json:"name"`
	BMC         string   `json:"bmc"` // https://127.0.0.1:8441 or ipmi://127.0.0.1:9623, inside NetNS
	Protocol    string   `json:"protocol"`
	MACs        []string `json:"macs"`
	Extra       bool     `json:"extra,omitempty"`
	Power       string   `json:"power"`        // on: its QEMU guest runs
	PowerCycles int      `json:"power_cycles"` // see Rack.PowerCycles
	Boots       []string `json:"boots"`        // boot mode of each start and reset
	SerialLog   string   `json:"serial_log"`
}

// Status is a snapshot of the rack.
func (r *Rack) Status() Status {
	s := Status{NetNS: r.ns.Name, Dir: r.cfg.Dir, Bridges: []string{ProvisioningBridge, StorageBridge},
		PID: os.Getpid(), Updated: time.Now().UTC()}
	for _, g := range r.gateways {
		s.Gateways = append(s.Gateways, fmt.Sprintf("%s %s VLAN %d", g.Network, g.IP, g.VLAN))
	}
	for _, n := range r.nodes {
		power := "off"
		if n.machine.Guest() != nil {
			power = "on"
		}
		s.Nodes = append(s.Nodes, NodeStatus{Name: n.Name, BMC: n.BMCURL(), Protocol: n.Protocol,
			MACs: n.MACs(), Extra: n.Extra, Power: power, PowerCycles: r.PowerCycles(n.Name),
			Boots: n.machine.Boots(), SerialLog: r.SerialLog(n.Name)})
	}
	return s
}

// WriteStatus writes Status to Dir/rack.json, atomically.
func (r *Rack) WriteStatus() error {
	b, err := json.MarshalIndent(r.Status(), "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(r.cfg.Dir, StatusFile), append(b, '\n'), 0o644)
}

// ReadStatus reads the status a rack's process keeps in dir.
func ReadStatus(dir string) (Status, error) {
	var s Status
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return s, fmt.Errorf("no virtual rack status in %s (is racklift-lab up running with --dir %s?): %w", dir, dir, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, StatusFile), err)
	}
	return s, nil
}
