//go:build linux

package netcheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// arpPing sends ARP requests for target from src on the interface and waits for a reply:
// it proves L2 reachability on exactly this interface (and VLAN), without the kernel's
// neighbour cache answering from memory. It returns the target's MAC.
func arpPing(ifi *net.Interface, src, target netip.Addr, timeout time.Duration, tries int) (net.HardwareAddr, error) {
	if !src.Is4() || !target.Is4() {
		return nil, fmt.Errorf("ARP needs IPv4 addresses, have %s → %s", src, target)
	}
	proto := htons(unix.ETH_P_ARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return nil, fmt.Errorf("raw ARP socket (needs root or CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("bind ARP socket to %s: %w", ifi.Name, err)
	}
	req := make([]byte, 28)
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:14], ifi.HardwareAddr)
	s4, t4 := src.As4(), target.As4()
	copy(req[14:18], s4[:])
	copy(req[24:28], t4[:])
	bcast := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}

	if tries < 1 {
		tries = 1
	}
	per := timeout / time.Duration(tries)
	buf := make([]byte, 1500)
	for i := 0; i < tries; i++ {
		if err := unix.Sendto(fd, req, 0, bcast); err != nil {
			return nil, fmt.Errorf("send ARP request on %s: %w", ifi.Name, err)
		}
		deadline := time.Now().Add(per)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			tv := unix.NsecToTimeval(left.Nanoseconds())
			unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return nil, fmt.Errorf("read ARP on %s: %w", ifi.Name, err)
			}
			p := buf[:n]
			if n >= 28 && binary.BigEndian.Uint16(p[6:]) == 2 && bytes.Equal(p[14:18], t4[:]) {
				return net.HardwareAddr(append([]byte(nil), p[8:14]...)), nil
			}
		}
	}
	return nil, errNoReply
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
