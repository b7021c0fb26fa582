package tftp

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/events"
)

// rrq sends a read request from c to addr.
func rrq(t *testing.T, c net.PacketConn, addr net.Addr, file, mode string) {
	t.Helper()
	b := binary.BigEndian.AppendUint16(nil, opRRQ)
	b = append(append(append(append(b, file...), 0), mode...), 0)
	if _, err := c.WriteTo(b, addr); err != nil {
		t.Fatal(err)
	}
}

// answer reads the server's first answer to c: its opcode and, for an ERROR, the message.
func answer(t *testing.T, c net.PacketConn, wait time.Duration) (op uint16, msg string) {
	op, msg, _ = answerFrom(t, c, wait)
	return op, msg
}

// answerFrom is answer with the address it came from (the transfer's port).
func answerFrom(t *testing.T, c net.PacketConn, wait time.Duration) (op uint16, msg string, from net.Addr) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(wait))
	n, from, err := c.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no answer within %v: %v", wait, err)
	}
	op = binary.BigEndian.Uint16(buf)
	if op == opERROR {
		msg = strings.TrimRight(string(buf[4:n]), "\x00")
	}
	return op, msg, from
}

func udp(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func capServer(t *testing.T, cfg Config) (net.Addr, *events.Stream) {
	t.Helper()
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "ipxe.efi"), make([]byte, 100_000), 0o644))
	cfg.Root, cfg.Events = root, events.New(nil, nil)
	// A transfer that is never ACKed holds its slot for minutes, however slow the
	// machine: the test aborts the ones it holds (abortAll) so Shutdown need not wait.
	cfg.Timeout, cfg.Retries = hangGuard, 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	shutdown(t, s)
	return conn.LocalAddr(), cfg.Events
}

// Issue 14 item 4: transfers are capped in total and per client address; a request past
// a cap gets a TFTP error at once and a tftp.refused event, and a slot comes back when a
// transfer ends.
func TestTransferCaps(t *testing.T) {
	network(t)
	for _, tc := range []struct {
		name      string
		cfg       Config
		admitted  int
		wantInMsg string
	}{
		{name: "per client", cfg: Config{MaxTransfers: 100, MaxPerClient: 3}, admitted: 3, wantInMsg: "3 from 127.0.0.1"},
		{name: "in total", cfg: Config{MaxTransfers: 2, MaxPerClient: 100}, admitted: 2, wantInMsg: "2 in all"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addr, ev := capServer(t, tc.cfg)
			abort := binary.BigEndian.AppendUint16(nil, opERROR)
			abort = append(binary.BigEndian.AppendUint16(abort, 0), "bye\x00"...)
			var held []net.PacketConn
			var port net.Addr
			// Held transfers' sockets are closed here, after their abort and before
			// Shutdown (cleanups run last first), not by udp's cleanup.
			t.Cleanup(func() {
				for _, c := range held {
					c.WriteTo(abort, port)
					c.Close()
				}
			})
			hold := func() net.PacketConn {
				c, err := net.ListenPacket("udp4", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			for range tc.admitted { // transfers that never ACK: they hold their slot
				c := hold()
				rrq(t, c, addr, "ipxe.efi", "octet")
				op, msg, from := answerFrom(t, c, hangGuard)
				if op != opDATA {
					t.Fatalf("admitted request answered with op %d %q", op, msg)
				}
				held, port = append(held, c), from
			}
			c := udp(t)
			rrq(t, c, addr, "ipxe.efi", "octet")
			op, msg := answer(t, c, hangGuard)
			if op != opERROR || !strings.Contains(msg, "too many transfers") || !strings.Contains(msg, tc.wantInMsg) {
				t.Fatalf("request past the cap: op %d %q, want an ERROR naming the cap (%s)", op, msg, tc.wantInMsg)
			}
			refused := false
			for _, e := range ev.Recent("") {
				refused = refused || e.Kind == events.TFTPRefused && strings.Contains(e.Err, "too many transfers")
			}
			if !refused {
				t.Error("no tftp.refused event for the request past the cap")
			}
			// One held transfer aborts: its slot is free again (once the transfer loop
			// has read the ERROR: until then a request is still refused).
			held[0].WriteTo(abort, port)
			held[0].Close()
			held = held[1:]
			deadline := time.Now().Add(hangGuard)
			for {
				c := hold()
				rrq(t, c, addr, "ipxe.efi", "octet")
				held = append(held, c)
				if op, _ := answer(t, c, hangGuard); op == opDATA {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the slot of an aborted transfer never came back")
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// Issue 14 item 4: a flood of netascii requests is converted once, off the request loop:
// memory stays within 100 MB of idle, and an octet client is answered while the flood's
// conversion is still under way. (Before: each request converted the file in memory on
// the loop: 400 of them took serve from 171 MB to 1048 MB and delayed a client by 8.3 s.)
// The conversion is held until the octet client has its first block, so the test shows
// the order of events, not a time: an answer that had to wait behind the conversion
// never comes, and the test fails at its hang guard.
func TestNetasciiFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("1000 sockets: not in -short")
	}
	root := t.TempDir()
	text := []byte(strings.Repeat("netascii line of a boot file\n", 1<<20/29)) // 1 MiB
	must(t, os.WriteFile(filepath.Join(root, "boot.txt"), text, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "ipxe.efi"), make([]byte, 200_000), 0o644))
	s, err := New(Config{Root: root, Timeout: 5 * time.Second, Retries: 1, MaxPerClient: 2000, MaxTransfers: 2000})
	if err != nil {
		t.Fatal(err)
	}
	converting, hold := make(chan struct{}), make(chan struct{})
	var first sync.Once
	s.cache.toNetascii = func(r io.Reader) io.Reader {
		first.Do(func() { close(converting) })
		<-hold
		return netasciiReader(r)
	}
	release := sync.OnceFunc(func() { close(hold) })
	conn, err := Listen("127.0.0.1:0") // the boot-storm receive buffer: 1001 requests at once
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(conn)
	shutdown(t, s)
	t.Cleanup(release) // before Shutdown (cleanups run last first)
	addr := conn.LocalAddr()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	idle, idleRSS := ms.HeapInuse, vmRSS(t)
	flood := make([]net.PacketConn, 1000)
	for i := range flood {
		flood[i] = udp(t)
		rrq(t, flood[i], addr, "boot.txt", "netascii") // never ACKed: each holds its transfer
	}
	select {
	case <-converting:
	case <-time.After(hangGuard):
		t.Fatal("no netascii conversion started")
	}
	c := udp(t)
	start := time.Now()
	rrq(t, c, addr, "ipxe.efi", "octet")
	op, msg, octetPort := answerFrom(t, c, hangGuard)
	if op != opDATA {
		t.Fatalf("octet client: op %d %q", op, msg)
	}
	firstBlock := time.Since(start)
	release()
	// Every flood transfer gets its first block (so each holds its reader), then aborts,
	// so Shutdown need not wait out their retransmissions.
	ports := make([]net.Addr, len(flood))
	for i, fc := range flood {
		op, msg, from := answerFrom(t, fc, hangGuard)
		if op != opDATA {
			t.Fatalf("netascii client %d: op %d %q", i, op, msg)
		}
		ports[i] = from
	}
	runtime.ReadMemStats(&ms)
	grown := int64(ms.HeapInuse) - int64(idle)
	if grown > 100<<20 {
		t.Errorf("heap grew by %d MB under 1000 netascii requests", grown>>20)
	}
	// The server runs in this process: its resident set is the test's.
	rss := vmRSS(t) - idleRSS
	if rss > 100<<20 {
		t.Errorf("RSS grew by %d MB under 1000 netascii requests, want within 100 MB of idle", rss>>20)
	}
	abort := binary.BigEndian.AppendUint16(nil, opERROR)
	abort = append(binary.BigEndian.AppendUint16(abort, 0), "bye\x00"...)
	for i, fc := range flood {
		fc.WriteTo(abort, ports[i])
	}
	c.WriteTo(abort, octetPort)
	t.Logf("heap +%d MB, RSS +%d MB, octet first block after %v while the conversion was held", grown>>20, rss>>20, firstBlock)
}

// vmRSS is this process's resident set size in bytes (/proc/self/status VmRSS).
func vmRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc/self/status")
	return 0
}
