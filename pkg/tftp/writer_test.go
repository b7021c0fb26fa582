package tftp

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestClientError: a client's ERROR packet is told as its code and message up to the
// message's NUL; a packet too short for a code says so. Mutants (make mutate, port.go
// clientError): the length check, the NUL search.
func TestClientError(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		pkt  string
		want string
	}{
		{pkt: "\x00\x05\x00\x02", want: `code 2: ""`},
		{pkt: "\x00\x05\x00\x01no such file\x00trailing", want: `code 1: "no such file"`},
		{pkt: "\x00\x05\x00\x00disk full", want: `code 0: "disk full"`},
		{pkt: "\x00\x05\x00", want: "(no message)"},
	} {
		if got := clientError([]byte(tc.pkt)); got != tc.want {
			t.Errorf("clientError(%q) = %s, want %s", tc.pkt, got, tc.want)
		}
	}
}

// TestWriterBatchesKeepEveryPacket: packets built in the writer's arena reach the peer
// intact and in order across arena refills: no packet is overwritten by a later one
// before it is sent; a packet larger than the arena gets its own buffer. Mutants (make
// mutate, port.go writer): the arena's room check.
func TestWriterBatchesKeepEveryPacket(t *testing.T) {
	fast(t)
	recv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	setBuffers(recv, 16<<20)
	send, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer send.Close()
	send.SetWriteBuffer(8 << 20)
	pc := ipv4.NewPacketConn(send)
	to := recv.LocalAddr().(*net.UDPAddr)

	// Read while sending; 150 KB in all also fits a receive buffer at the kernel's
	// default limit (setBuffers raises it only as root).
	sizes := []int{40000, 30000, 40000, 1472, 700, 30000, 33}
	total := len(sizes)
	received := make(chan [][]byte, 1)
	go func() {
		var got [][]byte
		buf := make([]byte, 70000)
		recv.SetReadDeadline(time.Now().Add(10 * time.Second))
		for len(got) < total {
			n, err := recv.Read(buf)
			if err != nil {
				break
			}
			got = append(got, bytes.Clone(buf[:n]))
		}
		received <- got
	}()

	var w writer
	var want [][]byte
	// The third packet does not fit beside the first two: the arena is sent and reused.
	for i, size := range sizes {
		pkt := w.space(pc, size)
		pkt = append(pkt, bytes.Repeat([]byte{byte(i)}, size)...)
		copy(pkt, fmt.Sprintf("%04d", i))
		want = append(want, bytes.Clone(pkt))
		w.queue(pc, to, pkt)
	}
	w.flush(pc)
	got := <-received
	if big := w.space(pc, arenaSize+1); len(big) != 0 || cap(big) < arenaSize+1 {
		t.Errorf("room for a packet larger than the arena: len %d cap %d", len(big), cap(big))
	}

	if len(got) != len(want) {
		t.Fatalf("received %d packets, sent %d", len(got), len(want))
	}
	for i, exp := range want {
		if !bytes.Equal(got[i], exp) {
			t.Fatalf("packet %d: %d bytes starting %q, want %d bytes starting %q", i, len(got[i]), got[i][:min(len(got[i]), 8)], len(exp), exp[:8])
		}
	}
}

// TestWriterBuildsInTheArena: a block is read straight into the writer's arena, the
// packet queued as a slice of it: no buffer per block in a boot storm. Mutant (make
// mutate, port.go add): the room reserved 4 bytes short, so the block outgrows it and
// is copied elsewhere.
func TestWriterBuildsInTheArena(t *testing.T) {
	fast(t)
	data := bytes.Repeat([]byte("x"), 1468*3)
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 1468, 3, nil)
	var w writer
	for k := 1; k <= 3; k++ {
		if !w.add(nil, x, k) {
			t.Fatal(w.err)
		}
	}
	arena := w.arena[:cap(w.arena)]
	for i, m := range w.msgs {
		pkt := m.Buffers[0]
		if len(pkt) != 1468+4 || &pkt[0] != &arena[i*(1468+4)] {
			t.Errorf("packet %d (%d bytes) is not at its place in the arena", i+1, len(pkt))
		}
	}
}

// TestWriterFlushDropsRefused: a datagram the kernel refuses (larger than UDP allows) is
// dropped as the network would drop it, and the ones after it are still sent, in order.
// Mutant (make mutate, port.go flush): a failed send taken as none sent, so the batch
// is tried again without end.
func TestWriterFlushDropsRefused(t *testing.T) {
	fast(t)
	recv := udp(t).(*net.UDPConn)
	send := udp(t).(*net.UDPConn)
	pc := ipv4.NewPacketConn(send)
	to := recv.LocalAddr().(*net.UDPAddr)
	var w writer
	for _, p := range [][]byte{[]byte("first"), make([]byte, 70000), []byte("third")} {
		w.queue(pc, to, p)
	}
	w.flush(pc)
	if len(w.msgs) != 0 {
		t.Errorf("%d datagrams left queued after flush", len(w.msgs))
	}
	buf := make([]byte, 100)
	for _, want := range []string{"first", "third"} {
		recv.SetReadDeadline(time.Now().Add(hangGuard))
		n, err := recv.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("received %q, %v; want %q", buf[:n], err, want)
		}
	}
}
