package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/racklift/racklift/pkg/events"
)

// A port is the UDP socket every transfer answered from one local address runs on
// (its TID, as dnsmasq's --tftp-single-port does for port 69), with one goroutine
// that reads ACKs and writes DATA in batches (recvmmsg/sendmmsg). A boot storm then
// costs a few system calls per batch instead of a socket, a goroutine and several
// system calls and wake-ups per block. Transfers are told apart by the client's
// address and port.
type port struct {
	s    *Server
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	mu    sync.Mutex
	xfers map[netip.AddrPort]*transfer
	idle  bool    // the loop waits without a deadline: no transfer to time out
	ended []ended // finished transfers whose events are not yet published
	done  chan struct{}
}

type ended struct {
	t   *transfer
	n   int64
	err error
}

const (
	batch      = 64 // messages per recvmmsg/sendmmsg
	tick       = 100 * time.Millisecond
	portBuffer = 8 << 20 // socket buffers: a storm's ACKs and windows in flight
)

func newPort(s *Server, ip netip.Addr) (*port, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("tftp: transfer socket on %s: %w", ip, err)
	}
	setBuffers(conn, portBuffer)
	p := &port{s: s, conn: conn, pc: ipv4.NewPacketConn(conn), xfers: map[netip.AddrPort]*transfer{}, idle: true, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// setBuffers raises both socket buffers (SO_*BUFFORCE as root, else as far as the
// kernel's limits allow).
func setBuffers(c *net.UDPConn, n int) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	var rerr, werr error
	rc.Control(func(fd uintptr) {
		rerr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRcvBufForce, n)
		werr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soSndBufForce, n)
	})
	if rerr != nil {
		c.SetReadBuffer(n)
	}
	if werr != nil {
		c.SetWriteBuffer(n)
	}
}

// start registers t and sends its first packet. A request from the address and port
// of a transfer still running replaces it: the client either repeated a request it got
// no answer to, or gave up on the old transfer (PXE ROMs ask for tsize, abort, and ask
// again from the same port).
func (p *port) start(t *transfer) {
	p.mu.Lock()
	if old := p.xfers[t.peer]; old != nil {
		old.close()
	}
	p.xfers[t.peer] = t
	// One packet goes now (the OACK, or block 1 when there is none): no batch arena.
	w := writer{arena: make([]byte, 0, t.blksize+4)}
	p.send(&w, t, time.Now())
	if p.idle { // the loop sleeps without a deadline; give it one for t's retransmits
		p.idle = false
		p.conn.SetReadDeadline(time.Now().Add(tick))
	}
	p.mu.Unlock()
	w.flush(p.pc)
	p.publish()
}

// publish records the transfers that ended, outside the lock: an event may be logged.
func (p *port) publish() {
	p.mu.Lock()
	e := p.ended
	p.ended = nil
	p.mu.Unlock()
	for _, e := range e {
		p.s.publish(events.TFTPTransfer, e.t.peer.Addr(), e.t.name, e.n, time.Since(e.t.start), e.err)
	}
}

// send queues the blocks t has due. Called with p.mu held.
func (p *port) send(w *writer, t *transfer, now time.Time) {
	from, to := t.due(now, p.s.timeout)
	for k := from; k <= to; k++ {
		if !w.add(p.pc, t, k) {
			p.finish(t, fmt.Errorf("reading %s: %w", t.name, w.err))
			return
		}
	}
}

// finish removes t and records the outcome. Called with p.mu held.
func (p *port) finish(t *transfer, err error) {
	delete(p.xfers, t.peer)
	t.close()
	n := t.size
	if err != nil {
		n = 0
	}
	p.ended = append(p.ended, ended{t, n, err})
}

func (p *port) loop() {
	defer close(p.done)
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	var w writer
	nextScan := time.Now().Add(tick)
	for {
		n, err := p.pc.ReadBatch(msgs, 0)
		now := time.Now()
		n = max(n, 0) // -1 on a timeout
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ECONNREFUSED reported for an earlier send: nothing lost
		}
		p.mu.Lock()
		p.receive(&w, msgs[:n], now)
		if !now.Before(nextScan) {
			nextScan = now.Add(tick)
			p.scan(&w, now)
		}
		// The deadline is set under the lock so that start, seeing idle, can move it.
		p.idle = len(p.xfers) == 0
		if p.idle {
			p.conn.SetReadDeadline(time.Time{})
		} else {
			p.conn.SetReadDeadline(nextScan)
		}
		publish := len(p.ended) > 0
		p.mu.Unlock()
		w.flush(p.pc)
		if publish {
			p.publish()
		}
	}
}

// receive handles a batch of datagrams from clients: ACKs move their transfer on, an
// ERROR ends it. Called with p.mu held; what is due goes into w.
func (p *port) receive(w *writer, msgs []ipv4.Message, now time.Time) {
	for _, m := range msgs {
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		t := p.xfers[ua.AddrPort()]
		if t == nil || m.N < 4 {
			continue // not a transfer of ours: ignore, as for a stray packet
		}
		b := m.Buffers[0][:m.N]
		switch binary.BigEndian.Uint16(b) {
		case opACK:
			done, due := t.ack(binary.BigEndian.Uint16(b[2:]))
			if done {
				p.finish(t, nil)
			} else if due {
				p.send(w, t, now)
			}
		case opERROR:
			if t.base == 0 {
				// Firmware asks for tsize, then aborts and asks again: say so, since
				// this shows up on every UEFI and most BIOS boots.
				p.finish(t, fmt.Errorf("client stopped after the options (%s): a size probe, normal before the real fetch", clientError(b)))
			} else {
				p.finish(t, fmt.Errorf("client aborted the transfer: %s", clientError(b)))
			}
		}
	}
}

// scan retransmits for the transfers whose deadline has passed, or ends those out of
// retries with an ERROR to the client. Called with p.mu held; what is due goes into w.
func (p *port) scan(w *writer, now time.Time) {
	for _, t := range p.xfers {
		if now.Before(t.deadline) {
			continue
		}
		if !t.expire(p.s.retries) {
			w.queue(p.pc, t.addr, appendError(w.space(p.pc, 64), errUndefined, "timed out waiting for ACK"))
			p.finish(t, fmt.Errorf("timed out after %d retransmissions of block %d", p.s.retries, t.base))
			continue
		}
		p.send(w, t, now)
	}
}

func clientError(b []byte) string {
	if len(b) < 4 {
		return "(no message)"
	}
	msg := b[4:]
	for i, c := range msg {
		if c == 0 {
			msg = msg[:i]
			break
		}
	}
	return fmt.Sprintf("code %d: %q", binary.BigEndian.Uint16(b[2:]), msg)
}

// writer batches outgoing datagrams into one sendmmsg. Packets are built in an arena
// that stays untouched until the batch is sent.
type writer struct {
	msgs  []ipv4.Message
	arena []byte
	err   error
}

const arenaSize = batch * (1468 + 4)

// space reserves need bytes to build a packet in, flushing first when the arena is
// full; the result has length 0 and capacity need.
func (w *writer) space(pc *ipv4.PacketConn, need int) []byte {
	if need > arenaSize {
		return make([]byte, 0, need)
	}
	if w.arena == nil {
		w.arena = make([]byte, 0, arenaSize)
	}
	if cap(w.arena)-len(w.arena) < need {
		w.flush(pc)
	}
	l := len(w.arena)
	w.arena = w.arena[:l+need]
	return w.arena[l : l : l+need]
}

// add queues block k of t.
func (w *writer) add(pc *ipv4.PacketConn, t *transfer, k int) bool {
	pkt, err := t.packet(w.space(pc, t.blksize+4), k)
	if err != nil {
		w.err = err
		return false
	}
	w.queue(pc, t.addr, pkt)
	return true
}

func (w *writer) queue(pc *ipv4.PacketConn, to *net.UDPAddr, pkt []byte) {
	w.msgs = append(w.msgs, ipv4.Message{Buffers: [][]byte{pkt}, Addr: to})
	if len(w.msgs) == batch {
		w.flush(pc)
	}
}

// flush sends the queued datagrams. A datagram the kernel refuses is dropped as the
// network would drop it: the retransmit timer covers it.
func (w *writer) flush(pc *ipv4.PacketConn) {
	ms := w.msgs
	for len(ms) > 0 {
		n, err := pc.WriteBatch(ms, 0)
		if err != nil {
			n = max(n, 1)
		}
		ms = ms[n:]
	}
	clear(w.msgs)
	w.msgs = w.msgs[:0]
	w.arena = w.arena[:0]
}
