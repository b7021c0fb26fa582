// Package lldp hears what a node's switch says about the port the node is cabled to:
// it listens for LLDP (ethertype 0x88cc) on an interface up to a bounded wait and
// decodes the frame with gopacket's layers (LLDP and its 802.1/802.3 organisational
// TLVs) into a check.LLDP: chassis, system name, port id and description, port VLAN id,
// advertised VLANs, maximum frame size and link aggregation. Everything taken from the
// frame is size-bounded and sanitized before it is returned.
package lldp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/sanitize"
)

// EtherType is LLDP's.
const EtherType = 0x88cc

// Multicast is the nearest-bridge address LLDP is sent to (IEEE 802.1AB).
var Multicast = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// Limits on what a frame may put in the report.
const (
	maxText  = 255 // a TLV holds at most 511 bytes; names and descriptions need far less
	maxVLANs = 256
)

// ErrNotLLDP is a frame that holds no LLDP.
var ErrNotLLDP = errors.New("not an LLDP frame")

// Decode turns one Ethernet frame into what the switch said. A malformed organisational
// TLV is skipped, not fatal: the rest of the frame still names the switch and port.
func Decode(frame []byte) (check.LLDP, error) {
	var out check.LLDP
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.DecodeOptions{Lazy: false, NoCopy: true})
	d, _ := p.Layer(layers.LayerTypeLinkLayerDiscovery).(*layers.LinkLayerDiscovery)
	if d == nil {
		if f := p.ErrorLayer(); f != nil {
			return out, fmt.Errorf("%w: %v", ErrNotLLDP, f.Error())
		}
		return out, ErrNotLLDP
	}
	out.Heard = true
	out.ChassisIDType, out.ChassisID = chassisID(d.ChassisID)
	out.PortIDType, out.PortID = portID(d.PortID)
	out.TTL = int(d.TTL)
	info, _ := p.Layer(layers.LayerTypeLinkLayerDiscoveryInfo).(*layers.LinkLayerDiscoveryInfo)
	if info == nil {
		return out, nil
	}
	out.SystemName = text(info.SysName)
	out.SystemDesc = text(info.SysDescription)
	out.PortDescription = text(info.PortDescription)
	out.MgmtAddress = mgmtAddress(info.MgmtAddress)
	for _, o := range info.OrgTLVs {
		orgTLV(&out, o)
	}
	return out, nil
}

// orgTLV decodes one organisational TLV through gopacket's Decode8021/Decode8023, one
// TLV at a time: those index a short TLV's bytes without checking (a VLAN name TLV of
// two bytes panics), so a panic here drops that TLV only.
func orgTLV(out *check.LLDP, o layers.LLDPOrgSpecificTLV) {
	defer func() { _ = recover() }()
	one := &layers.LinkLayerDiscoveryInfo{OrgTLVs: []layers.LLDPOrgSpecificTLV{o}}
	switch o.OUI {
	case layers.IEEEOUI8021:
		i, err := one.Decode8021()
		if err != nil {
			return
		}
		switch o.SubType {
		case layers.LLDP8021SubtypePortVLANID:
			out.PVID = int(i.PVID)
		case layers.LLDP8021SubtypeVLANName:
			for _, v := range i.VLANNames {
				if len(out.VLANs) < maxVLANs {
					out.VLANs = append(out.VLANs, check.LLDPVLAN{ID: int(v.ID), Name: text(v.Name)})
				}
			}
		case layers.LLDP8021SubtypeLinkAggregation:
			out.Aggregation = lag(i.LinkAggregation)
		}
	case layers.IEEEOUI8023:
		i, err := one.Decode8023()
		if err != nil {
			return
		}
		switch o.SubType {
		case layers.LLDP8023SubtypeMTU:
			out.MaxFrameSize = int(i.MTU)
		case layers.LLDP8023SubtypeLinkAggregation:
			out.Aggregation = lag(i.LinkAggregation)
		}
	}
}

func lag(a layers.LLDPLinkAggregation) *check.LLDPLAG {
	return &check.LLDPLAG{Capable: a.Supported, Enabled: a.Enabled, PortID: a.PortID}
}

func chassisID(c layers.LLDPChassisID) (string, string) {
	switch c.Subtype {
	case layers.LLDPChassisIDSubTypeMACAddr:
		return "mac", macText(c.ID)
	case layers.LLDPChassisIDSubTypeNetworkAddr:
		return "address", networkAddr(c.ID)
	case layers.LLDPChassisIDSubtypeIfaceName:
		return "ifname", text(string(c.ID))
	case layers.LLDPChassisIDSubtypeIfaceAlias:
		return "ifalias", text(string(c.ID))
	case layers.LLDPChassisIDSubTypeLocal:
		return "local", text(string(c.ID))
	}
	return fmt.Sprintf("subtype-%d", c.Subtype), text(string(c.ID))
}

func portID(p layers.LLDPPortID) (string, string) {
	switch p.Subtype {
	case layers.LLDPPortIDSubtypeMACAddr:
		return "mac", macText(p.ID)
	case layers.LLDPPortIDSubtypeNetworkAddr:
		return "address", networkAddr(p.ID)
	case layers.LLDPPortIDSubtypeIfaceName:
		return "ifname", text(string(p.ID))
	case layers.LLDPPortIDSubtypeIfaceAlias:
		return "ifalias", text(string(p.ID))
	case layers.LLDPPortIDSubtypeLocal:
		return "local", text(string(p.ID))
	}
	return fmt.Sprintf("subtype-%d", p.Subtype), text(string(p.ID))
}

func macText(b []byte) string {
	if len(b) == 6 {
		return net.HardwareAddr(b).String()
	}
	return text(string(b))
}

// networkAddr is an ID of subtype network address: an IANA family byte, then the address.
func networkAddr(b []byte) string {
	if len(b) < 1 {
		return ""
	}
	if a, ok := netip.AddrFromSlice(b[1:]); ok {
		return a.Unmap().String()
	}
	return text(string(b))
}

func mgmtAddress(m layers.LLDPMgmtAddress) string {
	if a, ok := netip.AddrFromSlice(m.Address); ok {
		return a.Unmap().String()
	}
	return ""
}

// text bounds and escapes what the switch sent before it is stored or printed.
func text(s string) string { return sanitize.Text(s, maxText) }
