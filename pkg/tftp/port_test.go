package tftp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// testPort is a port whose loop does not run: a test hands its receive and scan the
// datagrams and times and reads what they queue in the writer, which is never flushed.
func testPort(t *testing.T, retries int) *port {
	t.Helper()
	s, err := New(Config{Root: t.TempDir(), Timeout: time.Second, Retries: retries})
	must(t, err)
	t.Cleanup(func() { s.root.Close() })
	return &port{s: s, xfers: map[netip.AddrPort]*transfer{}}
}

// started registers a transfer of data (blocks of 100 bytes) from peer and queues its
// first packet, as port.start does.
func (p *port) started(t *testing.T, w *writer, peer string, data []byte, window int, oack bool, now time.Time) *transfer {
	t.Helper()
	var o []byte
	if oack {
		o = appendOACK(nil, []option{{"blksize", "100"}})
	}
	x := newTransfer(netip.MustParseAddrPort(peer), "f", bytes.NewReader(data), int64(len(data)), 100, window, o)
	p.xfers[x.peer] = x
	p.send(w, x, now)
	return x
}

// queued describes the datagrams w holds, one per line: "DATA 2 (100 bytes) to ADDR",
// "OACK to ADDR" or "ERROR 0 \"msg\" to ADDR"; reset empties w.
func queued(w *writer, reset bool) string {
	var out []string
	for _, m := range w.msgs {
		b := m.Buffers[0]
		switch binary.BigEndian.Uint16(b) {
		case opDATA:
			out = append(out, fmt.Sprintf("DATA %d (%d bytes) to %s", binary.BigEndian.Uint16(b[2:]), len(b)-4, m.Addr))
		case opOACK:
			out = append(out, fmt.Sprintf("OACK to %s", m.Addr))
		case opERROR:
			out = append(out, fmt.Sprintf("ERROR %d %q to %s", binary.BigEndian.Uint16(b[2:]), strings.TrimRight(string(b[4:]), "\x00"), m.Addr))
		default:
			out = append(out, fmt.Sprintf("% x to %s", b, m.Addr))
		}
	}
	if reset {
		w.msgs, w.arena = w.msgs[:0], w.arena[:0]
	}
	return strings.Join(out, "\n")
}

// dgram is a datagram as ReadBatch gives it: n bytes of b from addr.
func dgram(from string, b ...byte) ipv4.Message {
	buf := make([]byte, 1500)
	copy(buf, b)
	return ipv4.Message{Buffers: [][]byte{buf}, N: len(b), Addr: net.UDPAddrFromAddrPort(netip.MustParseAddrPort(from))}
}

func ackOf(from string, block uint16) ipv4.Message {
	return dgram(from, 0, opACK, byte(block>>8), byte(block))
}

func errorOf(from, msg string) ipv4.Message {
	return dgram(from, appendError(nil, 0, msg)...)
}

// TestPortReceive: the transfer loop's handling of a batch of datagrams: an ACK from a
// transfer's client moves it on (the next block queued to that client, the last block's
// ACK ends it with its size), an ERROR ends it (told apart after the OACK: a size probe),
// and what is not from a transfer, too short to be an ACK, or not an ACK or ERROR
// changes nothing. Mutants (make mutate, port.go receive): the address and length
// checks, the ACK's done and due branches, the size probe's check.
func TestPortReceive(t *testing.T) {
	fast(t)
	const peer, other = "127.0.0.1:1001", "127.0.0.1:1002"
	data := bytes.Repeat([]byte("x"), 250) // blocks of 100, 100, 50
	for _, tc := range []struct {
		name   string
		window int
		oack   bool
		msgs   []ipv4.Message
		sent   string // queued after the batch
		ended  string // the transfer's outcome: "" still running, "ok N bytes" or the error
	}{
		{name: "ACK of block 1", window: 1, msgs: []ipv4.Message{ackOf(peer, 1)},
			sent: "DATA 2 (100 bytes) to " + peer},
		{name: "ACKs of blocks 1 and 2 in one batch", window: 1, msgs: []ipv4.Message{ackOf(peer, 1), ackOf(peer, 2)},
			sent: "DATA 2 (100 bytes) to " + peer + "\nDATA 3 (50 bytes) to " + peer},
		{name: "ACK of the OACK, window 2", window: 2, oack: true, msgs: []ipv4.Message{ackOf(peer, 0)},
			sent: "DATA 1 (100 bytes) to " + peer + "\nDATA 2 (100 bytes) to " + peer},
		{name: "duplicate ACK in lock-step", window: 1, msgs: []ipv4.Message{ackOf(peer, 1), ackOf(peer, 1)},
			sent: "DATA 2 (100 bytes) to " + peer},
		{name: "every block ACKed", window: 1, msgs: []ipv4.Message{ackOf(peer, 1), ackOf(peer, 2), ackOf(peer, 3)},
			sent: "DATA 2 (100 bytes) to " + peer + "\nDATA 3 (50 bytes) to " + peer, ended: "ok 250 bytes"},
		{name: "ACK from another port", window: 1, msgs: []ipv4.Message{ackOf(other, 1)}},
		{name: "no UDP address", window: 1, msgs: []ipv4.Message{{Buffers: [][]byte{{0, opACK, 0, 1}}, N: 4, Addr: &net.IPAddr{IP: net.IPv4(127, 0, 0, 1)}}}},
		{name: "3 bytes", window: 1, msgs: []ipv4.Message{dgram(peer, 0, opACK, 0)}},
		{name: "DATA from the client", window: 1, msgs: []ipv4.Message{dgram(peer, 0, opDATA, 0, 1, 'x')}},
		{name: "ERROR after the OACK", window: 1, oack: true, msgs: []ipv4.Message{errorOf(peer, "tsize only")},
			ended: `client stopped after the options (code 0: "tsize only"): a size probe, normal before the real fetch`},
		{name: "ERROR during the transfer", window: 1, msgs: []ipv4.Message{errorOf(peer, "disk full")},
			ended: `client aborted the transfer: code 0: "disk full"`},
		{name: "ERROR mid-transfer after an OACK", window: 1, oack: true, msgs: []ipv4.Message{ackOf(peer, 0), errorOf(peer, "bye")},
			sent: "DATA 1 (100 bytes) to " + peer, ended: `client aborted the transfer: code 0: "bye"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPort(t, 5)
			var w writer
			now := time.Now()
			x := p.started(t, &w, peer, data, tc.window, tc.oack, now)
			queued(&w, true)
			p.receive(&w, tc.msgs, now)
			if got := queued(&w, false); got != tc.sent {
				t.Errorf("queued:\n%s\nwant:\n%s", got, tc.sent)
			}
			ended := ""
			if len(p.ended) > 1 {
				t.Fatalf("%d transfers ended, one ran", len(p.ended))
			}
			if len(p.ended) == 1 {
				e := p.ended[0]
				ended = fmt.Sprintf("ok %d bytes", e.n)
				if e.err != nil {
					ended = e.err.Error()
				}
				if e.t != x {
					t.Error("another transfer ended")
				}
			}
			if ended != tc.ended {
				t.Errorf("outcome %q, want %q", ended, tc.ended)
			}
			if _, running := p.xfers[x.peer]; running != (tc.ended == "") {
				t.Errorf("transfer still registered: %v; want %v", running, tc.ended == "")
			}
		})
	}
}

// TestPortScan: a transfer whose deadline has passed gets its unacknowledged blocks
// again, Retries times; after that its client gets an ERROR and the transfer ends naming
// the block; one whose deadline has not come is left alone. Mutants (make mutate,
// port.go scan): the deadline check, the retries check.
func TestPortScan(t *testing.T) {
	fast(t)
	const peer, waiting = "127.0.0.1:1001", "127.0.0.1:1003"
	data := bytes.Repeat([]byte("x"), 250)
	p := testPort(t, 2)
	var w writer
	start := time.Now()
	x := p.started(t, &w, peer, data, 2, false, start)
	p.receive(&w, []ipv4.Message{ackOf(peer, 1)}, start) // blocks 2 and 3 out
	queued(&w, true)
	later := start.Add(time.Hour)
	y := p.started(t, &w, waiting, data, 1, false, later) // its deadline is an hour on
	queued(&w, true)

	p.scan(&w, start.Add(999*time.Millisecond)) // before x's deadline (Timeout 1 s)
	if got := queued(&w, true); got != "" {
		t.Fatalf("before the deadline: queued %s", got)
	}
	now := start.Add(time.Second) // the deadline itself: due
	for i := 1; i <= 2; i++ {
		p.scan(&w, now)
		if got, want := queued(&w, true), "DATA 2 (100 bytes) to "+peer+"\nDATA 3 (50 bytes) to "+peer; got != want {
			t.Fatalf("retransmission %d: queued\n%s\nwant\n%s", i, got, want)
		}
		if len(p.ended) != 0 {
			t.Fatalf("retransmission %d of 2 ended the transfer: %v", i, p.ended[0].err)
		}
		now = now.Add(time.Second)
	}
	p.scan(&w, now)
	if got, want := queued(&w, true), `ERROR 0 "timed out waiting for ACK" to `+peer; got != want {
		t.Fatalf("out of retries: queued %s, want %s", got, want)
	}
	if len(p.ended) != 1 || p.ended[0].t != x || p.ended[0].err == nil || p.ended[0].err.Error() != "timed out after 2 retransmissions of block 2" {
		t.Fatalf("out of retries: ended %+v", p.ended)
	}
	if p.xfers[x.peer] != nil || p.xfers[y.peer] != y {
		t.Errorf("after the timeout: transfers %v; want only %s", p.xfers, waiting)
	}
}

// failingReader fails every read.
type failingReader struct{}

func (failingReader) ReadAt([]byte, int64) (int, error) { return 0, errors.New("I/O error") }

// TestPortSendReadError: a block that cannot be read ends the transfer with the file's
// name and the error, and nothing is sent for it. Mutant (make mutate, port.go send):
// the add's result negated.
func TestPortSendReadError(t *testing.T) {
	fast(t)
	p := testPort(t, 5)
	var w writer
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1001"), "ipxe.efi", failingReader{}, 1000, 100, 4, nil)
	p.xfers[x.peer] = x
	p.send(&w, x, time.Now())
	if got := queued(&w, false); got != "" {
		t.Errorf("queued %s for an unreadable file", got)
	}
	if len(p.ended) != 1 || p.ended[0].err == nil || p.ended[0].err.Error() != "reading ipxe.efi: I/O error" || p.ended[0].n != 0 {
		t.Fatalf("ended %+v, want one transfer ended by the read error", p.ended)
	}
	if len(p.xfers) != 0 {
		t.Error("the failed transfer is still registered")
	}
}
