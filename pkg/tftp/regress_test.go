package tftp

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/events"
)

// TestExactMultipleEndsWithEmptyBlock: a file of exactly N × blksize bytes ends with an
// empty DATA block N+1 (RFC 1350: a block shorter than blksize ends the transfer);
// an empty file is one empty block. Regression (issue 20): ending on block N left
// the client waiting for the end (PXE ROMs time out).
func TestExactMultipleEndsWithEmptyBlock(t *testing.T) {
	fast(t)
	for _, tc := range []struct {
		name   string
		size   int
		blocks int // DATA blocks sent, the last one empty
	}{
		{name: "10 × 100 bytes", size: 1000, blocks: 11},
		{name: "empty file", size: 0, blocks: 1},
		{name: "one byte short", size: 999, blocks: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := bytes.Repeat([]byte{7}, tc.size)
			x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 100, 1, nil)
			var got []byte
			for k := 1; ; k++ {
				from, to := x.due(time.Now(), time.Second)
				if from != k || to != k {
					t.Fatalf("block %d: due %d..%d", k, from, to)
				}
				p, err := x.packet(nil, k)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, p[4:]...)
				done, _ := x.ack(uint16(k))
				if len(p)-4 < 100 { // the short block: the client stops here
					if !done || k != tc.blocks {
						t.Fatalf("short block %d (%d bytes): done %v; want the end at block %d", k, len(p)-4, done, tc.blocks)
					}
					break
				}
				if done {
					t.Fatalf("block %d of %d bytes ended the transfer: the client never saw a short block", k, len(p)-4)
				}
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%d bytes sent, want %d", len(got), len(data))
			}
		})
	}
}

// TestAckForUnsentBlockIgnored: an ACK for a block not yet sent (a stray, a forged or
// a confused client's) changes nothing. Regression (issue 20): accepting the next
// unsent block skipped it, and the client got a file with a hole.
func TestAckForUnsentBlockIgnored(t *testing.T) {
	fast(t)
	data := bytes.Repeat([]byte("x"), 10*100+50) // 11 blocks
	for _, window := range []int{1, 4} {
		x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 100, window, nil)
		from, to := x.due(time.Now(), time.Second)
		if from != 1 || to != window {
			t.Fatalf("window %d: first due %d..%d", window, from, to)
		}
		for _, a := range []uint16{uint16(window + 1), uint16(window + 2), 11, 65535} {
			if done, send := x.ack(a); done || send {
				t.Errorf("window %d: ACK %d of a block never sent: done %v send %v; want ignored", window, a, done, send)
			}
		}
		if x.base != 1 || x.next != window+1 {
			t.Errorf("window %d: after stray ACKs base %d next %d; want 1 and %d", window, x.base, x.next, window+1)
		}
		if done, send := x.ack(uint16(window)); done || !send {
			t.Errorf("window %d: ACK %d of the last block sent: done %v send %v", window, window, done, send)
		}
	}
	// After an OACK only ACK 0 counts: 65535 (block -1) and 1 were never sent.
	// (make mutate: transfer.go goneBack's start -1 made 1 resent the OACK for 65535.)
	for _, window := range []int{1, 4} {
		x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 100, window, []byte{0, opOACK})
		x.due(time.Now(), time.Second)
		for _, a := range []uint16{65535, 1} {
			if done, send := x.ack(a); done || send {
				t.Errorf("window %d, after the OACK: ACK %d: done %v send %v; want ignored", window, a, done, send)
			}
		}
		if done, send := x.ack(0); done || !send {
			t.Errorf("window %d: ACK 0 of the OACK: done %v send %v", window, done, send)
		}
	}
}

// TestRetriesExact: Retries is the number of retransmissions of a block, exactly:
// the block goes out 1 + Retries times, then the client gets an ERROR and the
// transfer event says so. Regression (issue 20): one retransmission more or less.
func TestRetriesExact(t *testing.T) {
	fast(t)
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader([]byte("abc")), 3, 100, 1, nil)
	x.due(time.Now(), time.Second)
	for i := 1; i <= 3; i++ {
		if !x.expire(3) {
			t.Fatalf("retry %d of 3 refused", i)
		}
	}
	if x.expire(3) {
		t.Fatal("a 4th retransmission with Retries 3")
	}
}

// TestRetriesExactOnTheWire: TestRetriesExact through a server, with a client that
// never ACKs.
func TestRetriesExactOnTheWire(t *testing.T) {
	network(t)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0o644))
	ev := events.New(nil, nil)
	s, err := New(Config{Root: dir, Events: ev, Timeout: 150 * time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	shutdown(t, s)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteTo([]byte("\x00\x01f\x00octet\x00"), conn.LocalAddr())
	data, buf := 0, make([]byte, 1500)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("after %d DATA packets: %v; want an ERROR", data, err)
		}
		op := binary.BigEndian.Uint16(buf)
		if op == opERROR {
			if !strings.Contains(string(buf[4:n]), "timed out") {
				t.Errorf("ERROR %q", buf[4:n])
			}
			break
		}
		if op != opDATA || binary.BigEndian.Uint16(buf[2:]) != 1 || string(buf[4:n]) != "hello" {
			t.Fatalf("packet % x, want DATA 1 hello", buf[:n])
		}
		data++
	}
	if data != 3 {
		t.Errorf("block 1 sent %d times with Retries 2; want 3", data)
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range ev.Recent("") {
			if e.Kind == events.TFTPTransfer && strings.Contains(e.Err, "timed out after 2 retransmissions of block 1") {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("no transfer event naming 2 retransmissions: %+v", ev.Recent(""))
}
