package rack

import (
	"encoding/binary"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/racklift/racklift/pkg/inventory"
)

// The storage switch's router port: for every tagged network of the inventory with a
// gateway (not the provisioning one), the rack answers ARP and ICMP echo for the
// gateway's address on br-stor, in that VLAN, up to the MTU with DF set. So a guest's
// VLAN sub-interface, its MTU path and the trunk are verified hop by hop as on a real
// switch, although the host kernel has no 8021q: frames are read and written raw.
const gatewayPort = "uplink-stor-p"

type gateway struct {
	Network string
	VLAN    int
	IP      netip.Addr
	MAC     net.HardwareAddr
	arp     atomic.Int64
	icmp    atomic.Int64
}

// gatewaysOf lists the inventory's networks that get a gateway on br-stor.
func gatewaysOf(inv *inventory.Inventory) ([]*gateway, error) {
	var out []*gateway
	for _, n := range inv.Networks {
		if n.Role == "provisioning" || n.Gateway == "" {
			continue
		}
		ip, err := netip.ParseAddr(n.Gateway)
		if err != nil || !ip.Is4() {
			return nil, fmt.Errorf("rack: network %s: gateway %q is not an IPv4 address", n.Name, n.Gateway)
		}
		mac := net.HardwareAddr{0x02, 0x72, 0x6c, byte(n.VLAN >> 8), byte(n.VLAN), 0x01}
		out = append(out, &gateway{Network: n.Name, VLAN: n.VLAN, IP: ip, MAC: mac})
	}
	return out, nil
}

// GatewayAnswers counts the ARP replies and ICMP echo replies the rack sent as the
// gateway of a network (by name); -1s for a network it does not serve.
func (r *Rack) GatewayAnswers(network string) (arp, icmp int) {
	for _, g := range r.gateways {
		if g.Network == network {
			return int(g.arp.Load()), int(g.icmp.Load())
		}
	}
	return -1, -1
}

func (r *Rack) startGateways() error {
	if len(r.gateways) == 0 {
		return nil
	}
	sn, err := r.ns.Sniff(gatewayPort)
	if err != nil {
		return fmt.Errorf("rack: storage gateway: %w", err)
	}
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		<-r.ctx.Done()
		sn.Close()
	}()
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 1<<16)
		for {
			n, err := sn.Read(buf)
			if err != nil {
				return
			}
			if reply, g := answer(r.gateways, buf[:n]); reply != nil {
				if err := sn.Write(reply); err != nil {
					log.Printf("rack: gateway %s (VLAN %d): %v", g.IP, g.VLAN, err)
				}
			}
		}
	}()
	return nil
}

const (
	etherARP  = 0x0806
	etherIPv4 = 0x0800
	etherVLAN = 0x8100
)

// answer returns the reply to an ARP request or ICMP echo request for one of the
// gateways, tagged as the request was, or nil.
func answer(gws []*gateway, f []byte) ([]byte, *gateway) {
	if len(f) < 14 {
		return nil, nil
	}
	vlan, typ, payload := 0, binary.BigEndian.Uint16(f[12:]), f[14:]
	if typ == etherVLAN {
		if len(f) < 18 {
			return nil, nil
		}
		vlan = int(binary.BigEndian.Uint16(f[14:]) & 0x0fff)
		typ, payload = binary.BigEndian.Uint16(f[16:]), f[18:]
	}
	src := net.HardwareAddr(f[6:12])
	for _, g := range gws {
		if g.VLAN != vlan {
			continue
		}
		var body []byte
		switch typ {
		case etherARP:
			body = arpReply(g, payload)
			if body != nil {
				g.arp.Add(1)
			}
		case etherIPv4:
			body = echoReply(g, payload)
			if body != nil {
				g.icmp.Add(1)
			}
		}
		if body == nil {
			continue
		}
		out := make([]byte, 0, 18+len(body))
		out = append(out, src...)
		out = append(out, g.MAC...)
		if vlan != 0 {
			out = binary.BigEndian.AppendUint16(out, etherVLAN)
			out = binary.BigEndian.AppendUint16(out, uint16(vlan))
		}
		out = binary.BigEndian.AppendUint16(out, typ)
		return append(out, body...), g
	}
	return nil, nil
}

// arpReply answers "who has g.IP" (RFC 826, Ethernet/IPv4).
func arpReply(g *gateway, p []byte) []byte {
	if len(p) < 28 || binary.BigEndian.Uint16(p[0:]) != 1 || binary.BigEndian.Uint16(p[2:]) != etherIPv4 ||
		p[4] != 6 || p[5] != 4 || binary.BigEndian.Uint16(p[6:]) != 1 {
		return nil
	}
	if netip.AddrFrom4([4]byte(p[24:28])) != g.IP {
		return nil
	}
	out := make([]byte, 28)
	copy(out, p[:6])
	binary.BigEndian.PutUint16(out[6:], 2)
	copy(out[8:14], g.MAC)
	copy(out[14:18], p[24:28])
	copy(out[18:24], p[8:14])
	copy(out[24:28], p[14:18])
	return out
}

// echoReply answers an ICMP echo request to g.IP, same size, DF kept.
func echoReply(g *gateway, p []byte) []byte {
	if len(p) < 20 || p[0]>>4 != 4 {
		return nil
	}
	ihl := int(p[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(p[2:]))
	if ihl < 20 || total < ihl+8 || total > len(p) || p[9] != 1 ||
		netip.AddrFrom4([4]byte(p[16:20])) != g.IP ||
		binary.BigEndian.Uint16(p[6:])&0x3fff != 0 { // fragments: not for us
		return nil
	}
	if p[ihl] != 8 { // echo request
		return nil
	}
	out := make([]byte, total)
	copy(out, p[:total])
	copy(out[12:16], p[16:20])
	copy(out[16:20], p[12:16])
	out[8] = 64
	out[10], out[11] = 0, 0
	binary.BigEndian.PutUint16(out[10:], checksum(out[:ihl]))
	icmp := out[ihl:]
	icmp[0] = 0 // echo reply
	icmp[2], icmp[3] = 0, 0
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return out
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
