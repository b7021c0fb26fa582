package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/racklift/racklift/pkg/events"
)

// finish ACKs the one-block file's DATA 1 (the short block) so the transfer ends and
// Shutdown need not wait for it.
func finish(t *testing.T, c net.PacketConn, port net.Addr) {
	t.Helper()
	if _, err := c.WriteTo([]byte{0, opACK, 0, 1}, port); err != nil {
		t.Fatal(err)
	}
}

// handled waits until the server has handled every datagram c sent to its socket
// conn (the request socket, read by Serve, or a transfer socket, read by its port's
// loop): c sends a byte (neither a request nor an ACK) and waits until conn's receive
// queue is empty, then does so again. The loop has then read the second byte, so it has
// gone back to reading after handling the batch that held the datagrams before the
// first (Serve reads one at a time; a port reads in batches). A server that drops a
// datagram is then seen at once, not after a client's timeout.
func handled(t *testing.T, conn net.PacketConn, c net.PacketConn) {
	t.Helper()
	rc, err := conn.(*net.UDPConn).SyscallConn()
	must(t, err)
	for range 2 {
		if _, err := c.WriteTo([]byte{0}, conn.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(hangGuard); ; time.Sleep(time.Millisecond) {
			var queued int
			var qerr error
			must(t, rc.Control(func(fd uintptr) { queued, qerr = unix.IoctlGetInt(int(fd), unix.SIOCINQ) }))
			must(t, qerr)
			if queued == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the server never read its socket")
			}
		}
	}
}

// unbindable is an address of the documentation ranges (RFC 5737) that no interface
// here has, so a socket cannot be bound to it.
func unbindable(t *testing.T) netip.Addr {
	t.Helper()
	for _, a := range []string{"192.0.2.1", "198.51.100.1", "203.0.113.1"} {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(a), 0)))
		if err != nil {
			return netip.MustParseAddr(a)
		}
		c.Close()
	}
	t.Fatal("every RFC 5737 address tried is on an interface here")
	return netip.Addr{}
}

// admitted is the number of transfers s holds a slot for.
func admitted(s *Server) int {
	s.slots.Lock()
	defer s.slots.Unlock()
	return s.total
}

// TestAnsweredFromTheAddressAsked: a server bound to every address answers a request
// from the address it was sent to (a client takes answers only from where it asked: a
// node that asked 127.0.0.2 ignores 127.0.0.1), and a request to an address it cannot
// bind (a subnet broadcast, say) from the address the server is bound to. Mutants (make
// mutate, server.go Serve and request): the destination read from the control message,
// the broadcast check, the fallback to the bound address, a request dropped unanswered.
func TestAnsweredFromTheAddressAsked(t *testing.T) {
	fast(t)
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "f"), []byte("hello"), 0o644))
	// The retransmit timer is a hang guard: each transfer ends on the client's ACK.
	s, err := New(Config{Root: root, Timeout: hangGuard, Retries: 1})
	must(t, err)
	conn, err := net.ListenPacket("udp4", "0.0.0.0:0")
	must(t, err)
	go s.Serve(conn)
	shutdown(t, s)
	port := conn.LocalAddr().(*net.UDPAddr).Port

	for i, to := range []string{"127.0.0.1", "127.0.0.2"} {
		c := udp(t)
		rrq(t, c, &net.UDPAddr{IP: net.ParseIP(to), Port: port}, "f", "octet")
		handled(t, conn, c)
		// Not ACKed yet, so each transfer still holds its slot.
		if n := admitted(s); n != i+1 {
			t.Fatalf("request to %s went through the request loop: %d transfers admitted, want %d", to, n, i+1)
		}
		op, msg, from := answerFrom(t, c, hangGuard)
		if op != opDATA {
			t.Fatalf("request to %s: op %d %q, want DATA", to, op, msg)
		}
		t.Cleanup(func() { finish(t, c, from) }) // before Shutdown (cleanups run last first)
		if got := from.(*net.UDPAddr).IP.String(); got != to {
			t.Errorf("request to %s answered from %s", to, got)
		}
	}

	// A request to lo's subnet broadcast: Linux would let a transfer bind 127.255.255.255,
	// but the client's ACKs go to the unicast address the DATA came from, so it is answered
	// from the bound (wildcard) address, and the ACK ends the transfer.
	c := udp(t)
	rc, err := c.(*net.UDPConn).SyscallConn()
	must(t, err)
	var serr error
	must(t, rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1) }))
	must(t, serr)
	rrq(t, c, &net.UDPAddr{IP: net.ParseIP("127.255.255.255"), Port: port}, "f", "octet")
	op, msg, from := answerFrom(t, c, hangGuard)
	if op != opDATA {
		t.Fatalf("request to 127.255.255.255: op %d %q, want DATA", op, msg)
	}
	s.mu.Lock()
	_, onBroadcast := s.ports[netip.MustParseAddr("127.255.255.255")]
	s.mu.Unlock()
	if onBroadcast {
		t.Fatal("a transfer socket was bound to the broadcast address 127.255.255.255: the client's ACKs never reach it")
	}
	finish(t, c, from)
	for deadline := time.Now().Add(hangGuard); admitted(s) != 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the ACK to the broadcast request's transfer did not end it: %d admitted", admitted(s))
		}
	}

	// A server of its own, not serving: request is called as Serve would, for an address
	// on no interface here.
	elsewhere := unbindable(t)
	s2, err := New(Config{Root: root, Timeout: hangGuard, Retries: 1})
	must(t, err)
	shutdown(t, s2)
	c = udp(t)
	peer := c.LocalAddr().(*net.UDPAddr).AddrPort()
	s2.request(elsewhere, netip.MustParseAddr("127.0.0.1"), peer, append([]byte{0, opRRQ}, "f\x00octet\x00"...))
	s2.mu.Lock()
	_, bound := s2.ports[netip.MustParseAddr("127.0.0.1")]
	ports := len(s2.ports)
	s2.mu.Unlock()
	if !bound || ports != 1 || admitted(s2) != 1 {
		t.Fatalf("a request to an address that cannot be bound: %d transfer sockets (on the bound address: %v), %d admitted; want the bound one and 1",
			ports, bound, admitted(s2))
	}
	op, msg, from = answerFrom(t, c, hangGuard)
	if op != opDATA {
		t.Fatalf("request to %s: op %d %q, want DATA", elsewhere, op, msg)
	}
	finish(t, c, from)
	if got := from.(*net.UDPAddr).IP.String(); got != "127.0.0.1" {
		t.Errorf("request to %s answered from %s, want the bound 127.0.0.1", elsewhere, got)
	}
}

// TestTransferThroughTheLoop: a lock-step transfer through the server's loops, each
// block checked as it comes: once the port's loop has handled the last ACK the transfer
// is over, its slot given back and its event published. Mutants (make mutate, port.go
// loop): ACKs read but not handled, a finished transfer's event left unpublished.
func TestTransferThroughTheLoop(t *testing.T) {
	fast(t)
	root := t.TempDir()
	data := bytes.Repeat([]byte("0123456789"), 110) // blocks of 512, 512 and 76 bytes
	must(t, os.WriteFile(filepath.Join(root, "f"), data, 0o644))
	ev := events.New(nil, nil)
	s, err := New(Config{Root: root, Events: ev, Timeout: hangGuard, Retries: 1})
	must(t, err)
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	go s.Serve(conn)
	shutdown(t, s)
	c := udp(t)
	rrq(t, c, conn.LocalAddr(), "f", "octet")
	var got []byte
	buf := make([]byte, 1500)
	for k := 1; ; k++ {
		c.SetReadDeadline(time.Now().Add(hangGuard))
		n, from, err := c.ReadFrom(buf)
		if err != nil || n < 4 || binary.BigEndian.Uint16(buf) != opDATA || int(binary.BigEndian.Uint16(buf[2:])) != k {
			t.Fatalf("want DATA %d, got % x, %v", k, buf[:max(0, min(n, 8))], err)
		}
		got = append(got, buf[4:n]...)
		if _, err := c.WriteTo([]byte{0, opACK, 0, byte(k)}, from); err != nil {
			t.Fatal(err)
		}
		if n-4 < 512 {
			break
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, differ from the %d served", len(got), len(data))
	}
	s.mu.Lock()
	p := s.ports[netip.MustParseAddr("127.0.0.1")]
	s.mu.Unlock()
	handled(t, p.conn, c)
	p.mu.Lock()
	running := len(p.xfers)
	p.mu.Unlock()
	if running != 0 || admitted(s) != 0 {
		t.Fatalf("the last ACK handled: %d transfers running, %d slots taken; want none", running, admitted(s))
	}
	if errText, ok := outcome(ev, "f", int64(len(data))); !ok || errText != "" {
		t.Errorf("the last ACK handled: transfer event %q (found %v), want one without error", errText, ok)
	}
}

// TestListenAndServe: ListenAndServe fails on an address it cannot bind and otherwise
// serves until Shutdown, then returns nil.
func TestListenAndServe(t *testing.T) {
	fast(t)
	s, err := New(Config{Root: t.TempDir()})
	must(t, err)
	if err := s.ListenAndServe("127.0.0.1:-1"); err == nil {
		t.Fatal("ListenAndServe on port -1: no error")
	}
	done := make(chan error, 1)
	go func() { done <- s.ListenAndServe("127.0.0.1:0") }()
	// Serving once s.conn is set; Shutdown closes it and Serve returns.
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		serving := s.conn != nil
		s.mu.Unlock()
		if serving {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ListenAndServe never served")
		}
	}
	s.Shutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ListenAndServe after Shutdown: %v, want nil", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("ListenAndServe still serving after Shutdown")
	}
	// Serve after Shutdown refuses at once and closes the socket it was given.
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	if err := s.Serve(c); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve after Shutdown: %v, want net.ErrClosed", err)
	}
	if _, err := c.WriteTo([]byte{0}, c.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the socket given to Serve after Shutdown is still open (write: %v)", err)
	}
}
