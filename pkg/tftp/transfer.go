package tftp

import (
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"slices"
	"time"
)

// transfer is one read request being answered. Blocks are numbered from 1 (0 is the
// OACK) as absolute ints; the wire carries them modulo 65536, so files past 65535
// blocks roll over as tftp-hpa and dnsmasq do.
//
// Sending follows RFC 7440: up to window blocks go out before an ACK is needed, and
// an ACK for block n acknowledges every block up to n, the next window starting at
// n+1. With window 1 (every client that did not ask for windowsize: iPXE, legacy PXE
// ROMs) this is RFC 1350 lock-step, and a duplicate ACK is ignored rather than
// answered, so a late ACK never doubles the traffic (the Sorcerer's Apprentice bug).
type transfer struct {
	peer     netip.AddrPort
	addr     *net.UDPAddr
	name     string
	src      io.ReaderAt
	size     int64
	closer   io.Closer // the file, when not served from the cache
	release  func()    // gives the transfer's slot back (Server.admit)
	blksize  int
	window   int
	oack     []byte // sent as block 0; nil when the request carried no option we accept
	last     int    // the last block; it is shorter than blksize, possibly empty
	base     int    // lowest block not yet acknowledged
	next     int    // next block to send
	goneBack int    // ACK value a window was already resent for (RFC 7440 recovery)
	deadline time.Time
	tries    int
	start    time.Time
}

func newTransfer(peer netip.AddrPort, name string, src io.ReaderAt, size int64, blksize, window int, oack []byte) *transfer {
	t := &transfer{
		peer: peer, addr: net.UDPAddrFromAddrPort(peer), name: name, src: src, size: size,
		blksize: blksize, window: window, oack: oack,
		last: int(size/int64(blksize)) + 1, base: 1, next: 1, goneBack: -1, start: time.Now(),
	}
	if oack != nil {
		t.base, t.next = 0, 0
	}
	return t
}

// packet appends block k (the OACK for 0) to b.
func (t *transfer) packet(b []byte, k int) ([]byte, error) {
	if k == 0 {
		return append(b, t.oack...), nil
	}
	b = binary.BigEndian.AppendUint16(b, opDATA)
	b = binary.BigEndian.AppendUint16(b, uint16(k))
	off := int64(k-1) * int64(t.blksize)
	n := int(min(int64(t.blksize), t.size-off))
	if n <= 0 {
		return b, nil
	}
	h := len(b)
	b = slices.Grow(b, n)[:h+n]
	if _, err := t.src.ReadAt(b[h:], off); err != nil && err != io.EOF {
		return b[:h], err
	}
	return b, nil
}

// due returns the blocks to send now, [from, to], after new progress or a retransmit,
// and marks them sent. The OACK goes alone: the client has to take the options first.
func (t *transfer) due(now time.Time, timeout time.Duration) (from, to int) {
	t.deadline = now.Add(timeout)
	if t.base == 0 {
		t.next = 1
		return 0, 0
	}
	from, to = t.next, min(t.base+t.window-1, t.last)
	if to < from {
		return 1, 0
	}
	t.next = to + 1
	return from, to
}

// ack takes the client's ACK of wire block a. It reports whether the transfer is
// complete and whether blocks are due (call due).
func (t *transfer) ack(a uint16) (done, send bool) {
	lo := t.base - 1
	n := lo + int(a-uint16(lo)) // the block at or after lo whose number is a
	if n > t.next-1 {
		return false, false // never sent (or far in the past): ignore
	}
	if n >= t.last {
		return true, false
	}
	if n >= t.base {
		t.base, t.tries, t.goneBack = n+1, 0, -1
		if t.window > 1 && n < t.next-1 {
			// A windowed client acknowledges short of what was sent when a block was
			// lost: start again after the last one it has (RFC 7440, section 4).
			t.next = n + 1
		}
		return false, true
	}
	// n == base-1: nothing new. Lock-step ignores it; a windowed client says so when
	// it timed out waiting, so resend the window, once per ACK value.
	if t.window > 1 && t.goneBack != n {
		t.goneBack, t.next = n, t.base
		return false, true
	}
	return false, false
}

// expire is called once the deadline has passed: it rewinds to the first block not
// acknowledged, and reports false when the retries are used up.
func (t *transfer) expire(retries int) bool {
	t.tries++
	if t.tries > retries {
		return false
	}
	t.next = t.base
	return true
}

func (t *transfer) close() {
	if t.closer != nil {
		t.closer.Close()
	}
	if t.release != nil {
		t.release()
	}
}
