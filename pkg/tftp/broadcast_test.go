package tftp

import (
	"errors"
	"net"
	"net/netip"
	"testing"
)

// A request is answered from the address it came to, except one sent to a broadcast or
// multicast address: from the bound address. Subnet broadcasts are the last address of
// each IPv4 prefix on an interface here, /31 and /32 having none.
func TestReplyAddr(t *testing.T) {
	t.Parallel()
	ifaddrs := func() ([]net.Addr, error) {
		return []net.Addr{
			&net.IPNet{IP: net.ParseIP("10.0.0.5"), Mask: net.CIDRMask(24, 32)},
			&net.IPNet{IP: net.ParseIP("10.0.2.9").To4(), Mask: net.CIDRMask(23, 32)},
			&net.IPNet{IP: net.ParseIP("127.0.0.1"), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.ParseIP("192.0.2.0"), Mask: net.CIDRMask(31, 32)},
			&net.IPNet{IP: net.ParseIP("198.51.100.7"), Mask: net.CIDRMask(32, 32)},
			&net.IPNet{IP: net.ParseIP("fd00::1"), Mask: net.CIDRMask(64, 128)},
			&net.IPAddr{IP: net.ParseIP("10.9.9.255")},
		}, nil
	}
	failing := func() ([]net.Addr, error) { return nil, errors.New("netlink: no") }
	bound := netip.MustParseAddr("0.0.0.0")
	for _, tc := range []struct {
		dst     string
		ifaddrs func() ([]net.Addr, error)
		want    string
	}{
		{dst: "10.0.0.5", ifaddrs: ifaddrs, want: "10.0.0.5"},
		{dst: "10.0.0.255", ifaddrs: ifaddrs, want: "0.0.0.0"},
		{dst: "10.0.0.254", ifaddrs: ifaddrs, want: "10.0.0.254"},
		{dst: "10.0.1.255", ifaddrs: ifaddrs, want: "10.0.1.255"}, // no interface's subnet
		{dst: "10.0.3.255", ifaddrs: ifaddrs, want: "0.0.0.0"},
		{dst: "10.0.2.255", ifaddrs: ifaddrs, want: "10.0.2.255"}, // inside the /23
		{dst: "127.255.255.255", ifaddrs: ifaddrs, want: "0.0.0.0"},
		{dst: "127.0.0.2", ifaddrs: ifaddrs, want: "127.0.0.2"},
		{dst: "192.0.2.1", ifaddrs: ifaddrs, want: "192.0.2.1"},       // /31: both are hosts
		{dst: "198.51.100.7", ifaddrs: ifaddrs, want: "198.51.100.7"}, // /32
		{dst: "10.9.9.255", ifaddrs: ifaddrs, want: "10.9.9.255"},     // an address without a mask
		{dst: "255.255.255.255", ifaddrs: failing, want: "0.0.0.0"},
		{dst: "224.0.0.1", ifaddrs: failing, want: "0.0.0.0"},
		{dst: "10.0.0.255", ifaddrs: failing, want: "10.0.0.255"},
		{dst: "fd00::ffff:ffff:ffff:ffff", ifaddrs: ifaddrs, want: "fd00::ffff:ffff:ffff:ffff"},
	} {
		if got := replyAddr(netip.MustParseAddr(tc.dst), bound, tc.ifaddrs); got.String() != tc.want {
			t.Errorf("request to %s: answered from %s, want %s", tc.dst, got, tc.want)
		}
	}
}
