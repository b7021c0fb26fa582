package expect

// Network is one network a host must be on: a node's (the agent checks it hop by hop) or
// the provisioning host's (netsetup creates its VLAN interface).
type Network struct {
	Name      string   `json:"name" yaml:"name"`
	Role      string   `json:"role,omitempty" yaml:"role,omitempty"`
	VLAN      int      `json:"vlan,omitempty" yaml:"vlan,omitempty"`           // 0: untagged
	Interface string   `json:"interface,omitempty" yaml:"interface,omitempty"` // parent NIC name from the inventory
	MAC       string   `json:"mac,omitempty" yaml:"mac,omitempty"`             // parent NIC, found by MAC when names differ
	Address   string   `json:"address,omitempty" yaml:"address,omitempty"`     // CIDR form, e.g. 10.20.0.11/24
	Gateway   string   `json:"gateway,omitempty" yaml:"gateway,omitempty"`
	MTU       int      `json:"mtu,omitempty" yaml:"mtu,omitempty"`
	Peers     []string `json:"peers,omitempty" yaml:"peers,omitempty"` // addresses that must answer
}
