package tftp

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// finish ACKs the one-block file's DATA 1 (the short block) so the transfer ends and
// Shutdown need not wait for it.
func finish(t *testing.T, c net.PacketConn, port net.Addr) {
	t.Helper()
	if _, err := c.WriteTo([]byte{0, opACK, 0, 1}, port); err != nil {
		t.Fatal(err)
	}
}

// TestAnsweredFromTheAddressAsked: a server bound to every address answers a request
// from the address it was sent to (a client takes answers only from where it asked: a
// node that asked 127.0.0.2 ignores 127.0.0.1), and a request to an address it cannot
// bind (a subnet broadcast, say) from the address the server is bound to. Mutants (make
// mutate, server.go Serve and request): the destination read from the control message,
// the broadcast check, the fallback to the bound address.
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
	t.Cleanup(s.Shutdown)
	port := conn.LocalAddr().(*net.UDPAddr).Port

	for _, to := range []string{"127.0.0.1", "127.0.0.2"} {
		c := udp(t)
		rrq(t, c, &net.UDPAddr{IP: net.ParseIP(to), Port: port}, "f", "octet")
		op, msg, from := answerFrom(t, c, hangGuard)
		if op != opDATA {
			t.Fatalf("request to %s: op %d %q, want DATA", to, op, msg)
		}
		finish(t, c, from)
		if got := from.(*net.UDPAddr).IP.String(); got != to {
			t.Errorf("request to %s answered from %s", to, got)
		}
	}

	// 192.0.2.1 (TEST-NET-1) is on no interface: its socket cannot be bound.
	c := udp(t)
	peer := c.LocalAddr().(*net.UDPAddr).AddrPort()
	b := append([]byte{0, opRRQ}, "f\x00octet\x00"...)
	s.request(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1"), peer, b)
	s.mu.Lock()
	_, bound := s.ports[netip.MustParseAddr("127.0.0.1")]
	s.mu.Unlock()
	if !bound {
		t.Fatal("a request to an address that cannot be bound: no transfer socket on the bound address")
	}
	op, msg, from := answerFrom(t, c, hangGuard)
	if op != opDATA {
		t.Fatalf("request to 192.0.2.1: op %d %q, want DATA", op, msg)
	}
	finish(t, c, from)
	if got := from.(*net.UDPAddr).IP.String(); got != "127.0.0.1" {
		t.Errorf("request to 192.0.2.1 answered from %s, want the bound 127.0.0.1", got)
	}
}
