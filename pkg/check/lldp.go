package check

import (
	"fmt"
	"slices"
	"strings"
)

// LLDP is what one of the node's interfaces heard from its switch: the LLDP part of the
// agent's report (Report.LLDP) and what `node-agent lldp -o json` prints. Heard false
// means no LLDP frame arrived within WaitSeconds.
type LLDP struct {
	Interface   string `json:"interface"`
	MAC         string `json:"mac,omitempty"` // the interface's own MAC
	Heard       bool   `json:"heard"`
	WaitSeconds int    `json:"wait_seconds,omitempty"` // how long the agent listened
	Error       string `json:"error,omitempty"`        // the interface could not be listened on

	ChassisID       string     `json:"chassis_id,omitempty"`
	ChassisIDType   string     `json:"chassis_id_type,omitempty"` // mac, ifname, local, ...
	SystemName      string     `json:"system_name,omitempty"`
	SystemDesc      string     `json:"system_description,omitempty"`
	PortID          string     `json:"port_id,omitempty"`
	PortIDType      string     `json:"port_id_type,omitempty"` // ifname, local, mac, ...
	PortDescription string     `json:"port_description,omitempty"`
	MgmtAddress     string     `json:"mgmt_address,omitempty"`
	TTL             int        `json:"ttl,omitempty"`
	PVID            int        `json:"pvid,omitempty"`           // 802.1 port VLAN id: the untagged VLAN
	VLANs           []LLDPVLAN `json:"vlans,omitempty"`          // 802.1 VLAN name TLVs
	MaxFrameSize    int        `json:"max_frame_size,omitempty"` // 802.3, bytes
	Aggregation     *LLDPLAG   `json:"aggregation,omitempty"`    // 802.1/802.3 link aggregation
}

// LLDPVLAN is one VLAN the switch port advertises.
type LLDPVLAN struct {
	ID   int    `json:"id"`
	Name string `json:"name,omitempty"`
}

// LLDPLAG is the port's link aggregation status.
type LLDPLAG struct {
	Capable bool   `json:"capable"`
	Enabled bool   `json:"enabled"`
	PortID  uint32 `json:"port_id,omitempty"` // the aggregated port's ifindex on the switch
}

// Port is the switch port's name as a person reads it: the port id, or its description
// where the id is a MAC address.
func (l LLDP) Port() string {
	if (l.PortIDType == "mac" || l.PortID == "") && l.PortDescription != "" {
		return l.PortDescription
	}
	return l.PortID
}

// Switch is the switch's name: its system name, or its chassis id without one.
func (l LLDP) Switch() string {
	if l.SystemName != "" {
		return l.SystemName
	}
	return l.ChassisID
}

// VLANIDs are the advertised VLAN ids, the port VLAN id included, ascending.
func (l LLDP) VLANIDs() []int {
	var ids []int
	if l.PVID > 0 {
		ids = append(ids, l.PVID)
	}
	for _, v := range l.VLANs {
		if !slices.Contains(ids, v.ID) {
			ids = append(ids, v.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// VLANText is "100 (untagged) and 300": the advertised VLANs in words.
func (l LLDP) VLANText() string {
	ids := l.VLANIDs()
	if len(ids) == 0 {
		return "no VLANs"
	}
	words := make([]string, len(ids))
	for i, id := range ids {
		words[i] = fmt.Sprint(id)
		if id == l.PVID {
			words[i] += " (untagged)"
		}
	}
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
