package tftp

import (
	"bytes"
	"io"
	"net/netip"
	"testing"
	"time"
)

// step is one event in a transfer's life and what must follow.
type step struct {
	ack      int // wire block acknowledged; -1: the retransmit timer fires
	done     bool
	from, to int // blocks due afterwards (to < from: none)
}

func TestTransferWindows(t *testing.T) {
	fast(t)
	data := bytes.Repeat([]byte("x"), 10*100+50) // 11 blocks of 100: the last holds 50
	for _, tc := range []struct {
		name   string
		window int
		oack   bool
		steps  []step
	}{
		{"lock-step", 1, false, []step{
			{ack: 1, from: 2, to: 2},
			{ack: 1, from: 1, to: 0}, // duplicate ACK: ignored (Sorcerer's Apprentice)
			{ack: 2, from: 3, to: 3},
			{ack: -1, from: 3, to: 3}, // timeout: block 3 again
			{ack: 5, from: 1, to: 0},  // never sent: ignored
		}},
		{"lock-step with OACK", 1, true, []step{
			{ack: 0, from: 1, to: 1},
			{ack: 1, from: 2, to: 2},
		}},
		{"window 4", 4, true, []step{
			{ack: 0, from: 1, to: 4},
			{ack: 4, from: 5, to: 8},
			{ack: 6, from: 7, to: 10},  // 7 was lost: resend from 7 (RFC 7440)
			{ack: 6, from: 7, to: 10},  // the client timed out waiting: once more
			{ack: 6, from: 1, to: 0},   // the same ACK again: left to the timer
			{ack: -1, from: 7, to: 10}, // the timer
			{ack: 10, from: 11, to: 11},
			{ack: 11, done: true},
		}},
		{"window 4, block 2 lost", 4, true, []step{
			{ack: 0, from: 1, to: 4},
			{ack: 1, from: 2, to: 5}, // resend from 2
			{ack: 1, from: 2, to: 5}, // the client timed out waiting: once more
			{ack: 1, from: 1, to: 0}, // the same ACK again: left to the timer
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var oack []byte
			if tc.oack {
				oack = appendOACK(nil, []option{{"blksize", "100"}})
			}
			x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 100, tc.window, oack)
			now := time.Now()
			from, to := x.due(now, time.Second)
			if tc.oack && (from != 0 || to != 0) || !tc.oack && (from != 1 || to != 1) {
				t.Fatalf("first packets %d..%d", from, to)
			}
			for i, s := range tc.steps {
				send := true
				if s.ack < 0 {
					if !x.expire(5) {
						t.Fatalf("step %d: retries used up", i)
					}
				} else {
					var done bool
					done, send = x.ack(uint16(s.ack))
					if done != s.done {
						t.Fatalf("step %d: ACK %d: done %v, want %v", i, s.ack, done, s.done)
					}
					if done {
						continue
					}
				}
				from, to = 1, 0
				if send {
					from, to = x.due(now, time.Second)
				}
				if from != s.from || to != s.to {
					t.Fatalf("step %d (ACK %d): due %d..%d, want %d..%d", i, s.ack, from, to, s.from, s.to)
				}
			}
		})
	}
}

func TestTransferPacketsAndRollover(t *testing.T) {
	fast(t)
	data := make([]byte, 70000*8+3) // 70001 blocks of 8: numbers wrap past 65535
	for i := range data {
		data[i] = byte(i / 8)
	}
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", bytes.NewReader(data), int64(len(data)), 8, 1, nil)
	if x.last != 70001 {
		t.Fatalf("last block %d, want 70001", x.last)
	}
	for k := 1; k <= x.last; k++ {
		from, to := x.due(time.Now(), time.Second)
		if from != k || to != k {
			t.Fatalf("block %d: due %d..%d", k, from, to)
		}
		p, err := x.packet(nil, k)
		if err != nil {
			t.Fatal(err)
		}
		want := 8
		if k == x.last {
			want = 3
		}
		if len(p) != 4+want || p[1] != opDATA || int(p[2])<<8|int(p[3]) != k%65536 || p[4] != byte(k-1) {
			t.Fatalf("block %d: packet % x", k, p[:min(len(p), 8)])
		}
		done, _ := x.ack(uint16(k))
		if done != (k == x.last) {
			t.Fatalf("ACK %d: done %v", k, done)
		}
	}
}

// eofAtEnd is a ReaderAt that, as io.ReaderAt allows, returns io.EOF with a read that
// reaches the end of its data.
type eofAtEnd []byte

func (d eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, d[off:])
	if off+int64(n) == int64(len(d)) {
		return n, io.EOF
	}
	return n, nil
}

// TestPacketReadErrors: a block read that ends the file with io.EOF is whole and sent;
// any other read error is the packet's error, with no payload. Mutants (make mutate,
// transfer.go packet): the read error's checks.
func TestPacketReadErrors(t *testing.T) {
	fast(t)
	data := eofAtEnd("0123456789abcde") // blocks of 10: "0123456789", "abcde"
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", data, int64(len(data)), 10, 1, nil)
	for k, want := range []string{1: "0123456789", 2: "abcde"} {
		if k == 0 {
			continue
		}
		p, err := x.packet(nil, k)
		if err != nil || string(p[4:]) != want {
			t.Errorf("block %d: %q, %v; want %q", k, p[4:], err, want)
		}
	}
	x = newTransfer(netip.MustParseAddrPort("127.0.0.1:1000"), "f", failingReader{}, 15, 10, 1, nil)
	if p, err := x.packet(nil, 1); err == nil || len(p) != 4 {
		t.Errorf("a failing read: packet % x, %v; want the header alone and the error", p, err)
	}
}
