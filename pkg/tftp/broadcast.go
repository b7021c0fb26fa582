package tftp

import (
	"net"
	"net/netip"
)

// replyAddr is the address a request sent to dst is answered from: dst itself,
// except for a broadcast or multicast destination, answered from the bound address.
// Linux lets a socket bind a subnet's broadcast address, but a transfer bound there
// never receives the client's ACKs (they go to the unicast address it answered from).
func replyAddr(dst, bound netip.Addr, ifaddrs func() ([]net.Addr, error)) netip.Addr {
	if dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}) || dst.IsMulticast() || subnetBroadcast(dst, ifaddrs) {
		return bound
	}
	return dst
}

// subnetBroadcast reports whether dst is the broadcast address of a subnet on an
// interface here (the last address of an IPv4 prefix shorter than /31).
func subnetBroadcast(dst netip.Addr, ifaddrs func() ([]net.Addr, error)) bool {
	if !dst.Is4() {
		return false
	}
	addrs, err := ifaddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP.To4())
		ones, bits := n.Mask.Size()
		if !ok || bits != 32 || ones >= 31 {
			continue
		}
		p := netip.PrefixFrom(ip, ones).Masked()
		b := p.Addr().As4()
		host := uint32(1)<<(32-ones) - 1
		for i := range 4 {
			b[i] |= byte(host >> (8 * (3 - i)))
		}
		if netip.AddrFrom4(b) == dst {
			return true
		}
	}
	return false
}
