package netcheck

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// errTooBig is the local kernel refusing a don't-fragment packet larger than the route's MTU.
var errTooBig = errors.New("message too long for the local interface MTU")

// fragNeeded is a router's "fragmentation needed" answer to a DF probe.
type fragNeeded struct {
	From    netip.Addr
	NextMTU int
}

func (f *fragNeeded) Error() string {
	return fmt.Sprintf("%s answers 'fragmentation needed', next-hop MTU %d", f.From, f.NextMTU)
}

// errNoReply is a probe that timed out: the silent drop a misconfigured switch produces.
var errNoReply = errors.New("no reply")

var echoSeq atomic.Uint32

// ping sends one ICMP echo of size payload bytes with the don't-fragment bit from the given
// interface and waits for the matching reply. The whole IP packet is payload+28 bytes.
func ping(ifname string, src, dst netip.Addr, payload int, timeout time.Duration) error {
	c, err := net.ListenPacket("ip4:icmp", src.String())
	if err != nil {
		return fmt.Errorf("ICMP socket on %s (needs root or CAP_NET_RAW): %w", src, err)
	}
	defer c.Close()
	ipc := c.(*net.IPConn)
	rc, err := ipc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	rc.Control(func(fd uintptr) { serr = probeSocket(int(fd), ifname) })
	if serr != nil {
		return fmt.Errorf("ICMP socket options on %s: %w", ifname, serr)
	}
	id := os.Getpid() & 0xffff
	seq := int(echoSeq.Add(1) & 0xffff)
	body := make([]byte, payload)
	for i := range body {
		body[i] = byte(i)
	}
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: body}}
	wb, _ := msg.Marshal(nil)
	if _, err := c.WriteTo(wb, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		if errors.Is(err, syscall.EMSGSIZE) {
			return errTooBig
		}
		return fmt.Errorf("send ICMP echo to %s: %w", dst, err)
	}
	deadline := time.Now().Add(timeout)
	c.SetReadDeadline(deadline)
	rb := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(rb)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errNoReply
			}
			if errors.Is(err, syscall.EMSGSIZE) {
				return errTooBig
			}
			return fmt.Errorf("read ICMP: %w", err)
		}
		fa, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		fa = fa.Unmap()
		m, err := icmp.ParseMessage(1, rb[:n])
		if err != nil {
			continue
		}
		switch b := m.Body.(type) {
		case *icmp.Echo:
			if m.Type == ipv4.ICMPTypeEchoReply && fa == dst && b.ID == id && b.Seq == seq {
				return nil
			}
		case *icmp.DstUnreach:
			if m.Code == 4 && len(b.Data) >= 28 && echoOf(b.Data, id, seq) {
				return &fragNeeded{From: fa, NextMTU: int(rb[6])<<8 | int(rb[7])}
			}
		}
	}
}

// echoOf reports whether an ICMP error quotes our echo request (IP header + 8 bytes).
func echoOf(quoted []byte, id, seq int) bool {
	ihl := int(quoted[0]&0x0f) * 4
	if len(quoted) < ihl+8 {
		return false
	}
	e := quoted[ihl:]
	return e[0] == 8 && int(e[4])<<8|int(e[5]) == id && int(e[6])<<8|int(e[7]) == seq
}
