package rack

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

var guestMAC = net.HardwareAddr{0x52, 0x54, 0, 4, 0xc8, 1}

func tagged(vlan int, typ uint16, body []byte) []byte {
	f := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, guestMAC...)
	if vlan > 0 {
		f = binary.BigEndian.AppendUint16(f, etherVLAN)
		f = binary.BigEndian.AppendUint16(f, uint16(vlan))
	}
	f = binary.BigEndian.AppendUint16(f, typ)
	return append(f, body...)
}

func arpRequest(target string) []byte {
	p := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	p = append(p, guestMAC...)
	p = append(p, 10, 204, 200, 11)
	p = append(p, 0, 0, 0, 0, 0, 0)
	t := netip.MustParseAddr(target).As4()
	return append(p, t[:]...)
}

func echoRequest(dst string, payload int, flags uint16) []byte {
	ip := make([]byte, 20+8+payload)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[6:], flags)
	ip[8], ip[9] = 64, 1
	copy(ip[12:], []byte{10, 204, 200, 11})
	d := netip.MustParseAddr(dst).As4()
	copy(ip[16:], d[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:20]))
	ip[20] = 8
	for i := 28; i < len(ip); i++ {
		ip[i] = byte(i)
	}
	binary.BigEndian.PutUint16(ip[22:], checksum(ip[20:]))
	return ip
}

func TestGatewayAnswers(t *testing.T) {
	g := &gateway{Network: "storage", VLAN: 200, IP: netip.MustParseAddr("10.204.200.1"), MAC: net.HardwareAddr{2, 0x72, 0x6c, 0, 200, 1}}
	gws := []*gateway{g}
	for _, tc := range []struct {
		name  string
		frame []byte
		reply bool
	}{
		{"ARP for the gateway in its VLAN", tagged(200, etherARP, arpRequest("10.204.200.1")), true},
		{"ARP in another VLAN", tagged(201, etherARP, arpRequest("10.204.200.1")), false},
		{"ARP untagged", tagged(0, etherARP, arpRequest("10.204.200.1")), false},
		{"ARP for another address", tagged(200, etherARP, arpRequest("10.204.200.2")), false},
		{"echo, jumbo, DF", tagged(200, etherIPv4, echoRequest("10.204.200.1", 8972, 0x4000)), true},
		{"echo to another address", tagged(200, etherIPv4, echoRequest("10.204.200.9", 56, 0)), false},
		{"fragment", tagged(200, etherIPv4, echoRequest("10.204.200.1", 56, 0x2000)), false},
		{"runt", []byte{1, 2, 3}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reply, _ := answer(gws, tc.frame)
			if (reply != nil) != tc.reply {
				t.Fatalf("reply %x, want one: %v", reply, tc.reply)
			}
			if reply == nil {
				return
			}
			if !bytes.Equal(reply[0:6], guestMAC) || !bytes.Equal(reply[6:12], g.MAC) ||
				binary.BigEndian.Uint16(reply[12:]) != etherVLAN || binary.BigEndian.Uint16(reply[14:])&0xfff != 200 {
				t.Fatalf("reply header % x: want to the guest, from the gateway, tagged 200", reply[:18])
			}
			body := reply[18:]
			switch binary.BigEndian.Uint16(reply[16:]) {
			case etherARP:
				if binary.BigEndian.Uint16(body[6:]) != 2 || !bytes.Equal(body[8:14], g.MAC) ||
					!bytes.Equal(body[14:18], []byte{10, 204, 200, 1}) || !bytes.Equal(body[24:28], []byte{10, 204, 200, 11}) {
					t.Errorf("ARP reply % x", body)
				}
			case etherIPv4:
				req := tc.frame[18:]
				if len(body) != len(req) || checksum(body[:20]) != 0 || checksum(body[20:]) != 0 ||
					body[20] != 0 || !bytes.Equal(body[12:16], req[16:20]) || !bytes.Equal(body[16:20], req[12:16]) ||
					!bytes.Equal(body[28:], req[28:]) || binary.BigEndian.Uint16(body[6:]) != 0x4000 {
					t.Errorf("echo reply: %d bytes, checksums %x %x, type %d", len(body), checksum(body[:20]), checksum(body[20:]), body[20])
				}
			default:
				t.Errorf("reply type %x", reply[16:18])
			}
		})
	}
	if g.arp.Load() != 1 || g.icmp.Load() != 1 {
		t.Errorf("counted %d ARP and %d ICMP answers, want 1 and 1", g.arp.Load(), g.icmp.Load())
	}
}
