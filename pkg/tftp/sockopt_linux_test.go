package tftp

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// bufferSize is a socket's SO_RCVBUF or SO_SNDBUF as the kernel reports it (twice what
// was set, for its bookkeeping).
func bufferSize(t *testing.T, c *net.UDPConn, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	must(t, err)
	var n int
	var gerr error
	must(t, rc.Control(func(fd uintptr) { n, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) }))
	must(t, gerr)
	return n
}

// sysctlInt reads a /proc/sys value such as net/core/rmem_max.
func sysctlInt(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + name)
	must(t, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	must(t, err)
	return n
}

// wantBuffer is what a request for n bytes must give: all of it as root (the FORCE
// options pass the kernel's limit), else as much as the limit allows (the plain
// option, the fallback) rather than the kernel's default.
func wantBuffer(t *testing.T, n int, limit string) int {
	if os.Geteuid() == 0 {
		return 2 * n
	}
	return 2 * min(n, sysctlInt(t, limit))
}

// TestSocketBuffersRaised: the transfer sockets (setBuffers) and the request socket
// (Listen) get the buffers a boot storm needs, by SO_*BUFFORCE as root and by the plain
// options within the kernel's limits otherwise. Mutants (make mutate, port.go setBuffers
// and server.go Listen): the fallback taken when FORCE worked (which lowers a root's
// buffer to the kernel's limit) or skipped when it failed (which leaves the default).
func TestSocketBuffersRaised(t *testing.T) {
	fast(t)
	const n = 8 << 20 // above the usual rmem_max/wmem_max (4 MiB or less)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	must(t, err)
	t.Cleanup(func() { c.Close() })
	setBuffers(c, n)
	if got, want := bufferSize(t, c, syscall.SO_RCVBUF), wantBuffer(t, n, "net/core/rmem_max"); got != want {
		t.Errorf("transfer socket receive buffer %d, want %d (uid %d)", got, want, os.Geteuid())
	}
	if got, want := bufferSize(t, c, syscall.SO_SNDBUF), wantBuffer(t, n, "net/core/wmem_max"); got != want {
		t.Errorf("transfer socket send buffer %d, want %d (uid %d)", got, want, os.Geteuid())
	}

	l, err := Listen("127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	if got, want := bufferSize(t, l.(*net.UDPConn), syscall.SO_RCVBUF), wantBuffer(t, requestBuffer, "net/core/rmem_max"); got != want {
		t.Errorf("request socket receive buffer %d, want %d (uid %d)", got, want, os.Geteuid())
	}
	if _, err := Listen("127.0.0.1:-1"); err == nil {
		t.Error("Listen on port -1: no error")
	}
}
