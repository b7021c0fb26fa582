//go:build linux

package lldp

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/check"
)

// maxFrame bounds a read: an LLDPDU fits a standard frame; a longer one is cut and
// decodes as far as it goes.
const maxFrame = 2048

// Listen waits up to wait (or until ctx ends) for the first LLDP frame the switch sends
// to the interface named ifname and returns what it said. Heard false with no Error
// means nothing came within wait: the switch does not send LLDP there, or the link is
// down. Listening needs root or CAP_NET_RAW.
func Listen(ctx context.Context, ifname string, wait time.Duration) check.LLDP {
	out := check.LLDP{Interface: ifname, WaitSeconds: int(math.Ceil(wait.Seconds()))}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		out.Error = fmt.Sprintf("interface %s: %v", ifname, err)
		return out
	}
	out.MAC = ifi.HardwareAddr.String()
	got, err := listen(ctx, ifi, wait)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	if got == nil {
		return out
	}
	got.Interface, got.MAC, got.WaitSeconds = out.Interface, out.MAC, out.WaitSeconds
	return *got
}

func listen(ctx context.Context, ifi *net.Interface, wait time.Duration) (*check.LLDP, error) {
	proto := htons(EtherType)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(proto))
	if err != nil {
		return nil, fmt.Errorf("LLDP socket on %s (needs root or CAP_NET_RAW): %w", ifi.Name, err)
	}
	f := os.NewFile(uintptr(fd), "lldp:"+ifi.Name) // owns fd from here
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return nil, fmt.Errorf("bind LLDP socket to %s: %w", ifi.Name, err)
	}
	// A NIC drops multicast it was not asked for; LLDP goes to 01:80:c2:00:00:0e.
	mreq := &unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], Multicast)
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); err != nil {
		return nil, fmt.Errorf("join the LLDP multicast group on %s: %w", ifi.Name, err)
	}
	if err := f.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, fmt.Errorf("LLDP socket on %s: %w", ifi.Name, err)
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, maxFrame)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_TRUNC)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ctx.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("read LLDP on %s: %w", ifi.Name, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // the node's own LLDP daemon, if it runs one
		}
		l, err := Decode(buf[:min(n, len(buf))])
		if err == nil {
			return &l, nil
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
