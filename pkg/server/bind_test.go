package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/templates"
)

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestBindsOnlyToListenAddress: with --listen 127.0.0.1, HTTP and TFTP answer there and
// nowhere else (127.0.0.2 is the same loopback interface, a different address).
func TestBindsOnlyToListenAddress(t *testing.T) {
	t.Parallel()
	dir := copyExample(t, "lab")
	httpPort, tftpPort := freePort(t, "tcp"), freePort(t, "udp")
	s, err := New(Config{Inventory: dir, Listen: "127.0.0.1", HTTPPort: httpPort, TFTPPort: tftpPort,
		PXEDir: t.TempDir(), Templates: templates.FS, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s)
	get := func(host, path string) (string, error) {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + net.JoinHostPort(host, strconv.Itoa(httpPort)) + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), nil
	}
	if body, err := get("127.0.0.1", "/healthz"); err != nil || body != "ok\n" {
		t.Fatalf("healthz on the listen address: %q, %v", body, err)
	}
	if _, err := get("127.0.0.2", "/healthz"); err == nil {
		t.Fatal("HTTP answered on 127.0.0.2: serve must bind only to --listen")
	}
	if body, _ := get("127.0.0.1", "/metrics"); !strings.Contains(body, "racklift_serve_nodes 3") {
		t.Errorf("/metrics lacks racklift_serve_nodes 3")
	}
	if body, _ := get("127.0.0.1", "/api/discovered"); strings.TrimSpace(body) != "[]" {
		t.Errorf("/api/discovered = %q, want []", body)
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "127.0.0.2": false} {
		c, err := net.ListenPacket("udp4", host+":0")
		if err != nil {
			t.Fatal(err)
		}
		// A read request for a missing file: the server answers with an ERROR packet.
		rrq := append([]byte{0, 1}, []byte("nope\x00octet\x00")...)
		c.WriteTo(rrq, &net.UDPAddr{IP: net.ParseIP(host), Port: tftpPort})
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 516)
		n, _, err := c.ReadFrom(buf)
		c.Close()
		got := err == nil && n > 4 && buf[1] == 5
		if got != want {
			t.Errorf("TFTP on %s answered=%v, want %v", host, got, want)
		}
	}
}

// runServer runs s until the test ends and waits until it serves.
func runServer(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-s.ready:
	case err := <-done:
		t.Fatalf("serve stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
}
