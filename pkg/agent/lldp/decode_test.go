package lldp

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/racklift/racklift/pkg/check"
)

// frame builds an LLDP frame from TLVs (type, value).
func frame(tlvs ...[]byte) []byte {
	f := []byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0, 0, 0, 0, 1, 0x88, 0xcc}
	for _, t := range tlvs {
		f = append(f, t...)
	}
	return append(f, 0, 0) // end of LLDPDU
}

func tlv(typ int, v ...byte) []byte {
	return append([]byte{byte(typ<<1) | byte(len(v)>>8), byte(len(v))}, v...)
}

func org(oui [3]byte, sub byte, info ...byte) []byte {
	return tlv(127, append([]byte{oui[0], oui[1], oui[2], sub}, info...)...)
}

var (
	chassis = tlv(1, append([]byte{4}, 0x02, 0, 0, 0, 0, 1)...)
	portTLV = tlv(2, append([]byte{7}, "Ethernet7"...)...)
	ttl     = tlv(3, 0, 120)
	o8021   = [3]byte{0x00, 0x80, 0xc2}
	o8023   = [3]byte{0x00, 0x12, 0x0f}
)

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  check.LLDP
		err   error
	}{
		{name: "mandatory only", frame: frame(chassis, portTLV, ttl),
			want: check.LLDP{Heard: true, ChassisIDType: "mac", ChassisID: "02:00:00:00:00:01", PortIDType: "local", PortID: "Ethernet7", TTL: 120}},
		{name: "names, vlans, frame size, aggregation", frame: frame(chassis, portTLV, ttl,
			tlv(4, []byte("to gpu-a01-01")...), tlv(5, []byte("leaf-a02")...),
			org(o8021, 1, 0, 100), org(o8021, 3, 0, 200, 7, 's', 't', 'o', 'r', 'a', 'g', 'e'),
			org(o8023, 4, 0x23, 0x2a), org(o8023, 3, 0x03, 0, 0, 0, 9)),
			want: check.LLDP{Heard: true, ChassisIDType: "mac", ChassisID: "02:00:00:00:00:01", PortIDType: "local", PortID: "Ethernet7", TTL: 120,
				PortDescription: "to gpu-a01-01", SystemName: "leaf-a02", PVID: 100, VLANs: []check.LLDPVLAN{{ID: 200, Name: "storage"}},
				MaxFrameSize: 9002, Aggregation: &check.LLDPLAG{Capable: true, Enabled: true, PortID: 9}}},
		// gopacket indexes past a two-byte VLAN name TLV: that TLV goes, the rest stays.
		{name: "short vlan name tlv", frame: frame(chassis, portTLV, ttl, org(o8021, 3, 0, 200), tlv(5, []byte("leaf-a02")...), org(o8021, 1, 0, 100)),
			want: check.LLDP{Heard: true, ChassisIDType: "mac", ChassisID: "02:00:00:00:00:01", PortIDType: "local", PortID: "Ethernet7", TTL: 120, SystemName: "leaf-a02", PVID: 100}},
		{name: "escape sequences in the name", frame: frame(chassis, portTLV, ttl, tlv(5, []byte("leaf\x1b[2J")...)),
			want: check.LLDP{Heard: true, ChassisIDType: "mac", ChassisID: "02:00:00:00:00:01", PortIDType: "local", PortID: "Ethernet7", TTL: 120, SystemName: `leaf\x1b[2J`}},
		{name: "not lldp", frame: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1}, err: ErrNotLLDP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.frame)
			if !errors.Is(err, tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if tc.err != nil {
				return
			}
			if g, w := jsonOf(t, got), jsonOf(t, tc.want); g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(frame(chassis, portTLV, ttl, org(o8021, 3, 0, 200)))
	f.Add(frame(chassis, portTLV, ttl, org(o8023, 2, 1, 2, 3)))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := Decode(b)
		if err == nil && len(l.SystemName) > 4*maxText {
			t.Fatalf("system name of %d bytes", len(l.SystemName))
		}
	})
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
