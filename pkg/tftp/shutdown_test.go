package tftp

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/events"
)

// drainServer is a server with one transfer socket (on 127.0.0.1) holding one transfer
// whose retransmit deadline is an hour away, so only Shutdown can end it; the request
// socket is not served.
func drainServer(t *testing.T, timeout time.Duration, retries int) (*Server, *port, *transfer, *events.Stream) {
	t.Helper()
	ev := events.New(nil, nil)
	s, err := New(Config{Root: t.TempDir(), Events: ev, Timeout: timeout, Retries: retries})
	must(t, err)
	p, err := s.port(netip.MustParseAddr("127.0.0.1"))
	must(t, err)
	x := newTransfer(netip.MustParseAddrPort("127.0.0.1:1001"), "ipxe.efi", bytes.NewReader(make([]byte, 1000)), 1000, 100, 1, nil)
	x.deadline = time.Now().Add(time.Hour)
	p.mu.Lock()
	p.xfers[x.peer] = x
	p.mu.Unlock()
	return s, p, x, ev
}

// outcome is the error of the transfer event for file with n bytes ("" for success; 0
// bytes for a failed transfer); ok is false when there is none.
func outcome(ev *events.Stream, file string, n int64) (errText string, ok bool) {
	for _, e := range ev.Recent("") {
		if e.Kind == events.TFTPTransfer && e.Detail == file && e.Bytes == n {
			return e.Err, true
		}
	}
	return "", false
}

// TestShutdownWaitsOutTransfers: Shutdown lets a transfer in flight run for as long as
// its retries last (Timeout × (Retries+1)) and then ends it with "server shut down";
// one that ends during the wait lets Shutdown return at once. Mutants (make mutate,
// server.go Shutdown): the wait's length (its product and sum), its loop, the check for
// no transfer left.
func TestShutdownWaitsOutTransfers(t *testing.T) {
	fast(t)
	t.Run("still in flight at the deadline", func(t *testing.T) {
		const timeout, retries = 50 * time.Millisecond, 3 // the wait: 200 ms
		s, p, _, ev := drainServer(t, timeout, retries)
		start := time.Now()
		s.Shutdown()
		if waited := time.Since(start); waited < timeout*(retries+1) {
			t.Errorf("Shutdown returned after %v with a transfer in flight, before its retries' %v", waited, timeout*(retries+1))
		}
		if errText, ok := outcome(ev, "ipxe.efi", 0); !ok || errText != "server shut down" {
			t.Errorf("transfer event: %q (found %v), want the error \"server shut down\"", errText, ok)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.xfers) != 0 {
			t.Errorf("%d transfers left after Shutdown", len(p.xfers))
		}
	})
	t.Run("ends during the wait", func(t *testing.T) {
		s, p, x, ev := drainServer(t, hangGuard, 4) // the wait: 10 minutes
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.Shutdown()
		}()
		t.Cleanup(func() { // on a failure too: end the transfer, so Shutdown returns
			p.mu.Lock()
			if p.xfers[x.peer] != nil {
				p.finish(x, nil)
			}
			p.mu.Unlock()
			<-done
		})
		// Shutdown is waiting once it has marked the server closed; the transfer ends.
		for deadline := time.Now().Add(hangGuard); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("Shutdown never marked the server closed")
			}
		}
		select {
		case <-done:
			t.Fatal("Shutdown returned with a transfer in flight")
		default:
		}
		p.mu.Lock()
		p.finish(x, nil)
		p.mu.Unlock()
		select {
		case <-done:
		case <-time.After(hangGuard):
			t.Fatal("Shutdown still waiting after its last transfer ended")
		}
		if errText, ok := outcome(ev, "ipxe.efi", 1000); !ok || errText != "" {
			t.Errorf("transfer event: %q (found %v), want success", errText, ok)
		}
	})
}
