// Package relay is the lab's DHCP relay: a network namespace standing in for a
// top-of-rack switch that routes between the provisioning network serve is on
// (upstream) and a second provisioning network (downstream), and runs ISC's dhcrelay
// (Debian's isc-dhcp-relay) in the foreground, relaying the downstream network's DHCP to
// serve with option 82 added (circuit id: the downstream interface's name).
//
//	upstream ns:   [UpBridge or UpPeer] ── veth ── up0   ┐
//	                                               relay ns (routes, dhcrelay -a)
//	downstream ns: [DownBridge or DownPeer] ── veth ── down0 ┘  giaddr = DownAddr
//
// Everything it starts (the namespace, the veths, dhcrelay) is removed at the end of the
// test, also when it fails.
package relay

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/racklift/racklift/internal/lab/netns"
)

// Interface names inside the relay's namespace; the downstream one is the circuit id
// dhcrelay sends (Config.DownIf, default DownIf).
const (
	UpIf   = "up0"
	DownIf = "down0"
)

// Config places the relay between two networks.
type Config struct {
	// Upstream is the namespace of serve's network; the relay's upstream port is a veth
	// whose far end is UpPeer there, enslaved to UpBridge when it is set.
	Upstream *netns.NS
	UpBridge string
	UpPeer   string // default: a unique name
	// UpAddr is the relay's address on serve's network, e.g. 10.204.0.254/24.
	UpAddr string
	// Downstream is the namespace of the relayed network (nil: Upstream); its far end is
	// DownPeer, enslaved to DownBridge when set.
	Downstream *netns.NS
	DownBridge string
	DownPeer   string // default: a unique name
	// DownIf names the relay's downstream interface, which dhcrelay sends as circuit id:
	// name it after the switch port the inventory cables the nodes to (default DownIf).
	DownIf string
	// DownAddr is the relay's address on the relayed network: the giaddr it stamps, and
	// the nodes' gateway, e.g. 10.205.0.1/24.
	DownAddr string
	// Servers are the DHCP servers dhcrelay forwards to (serve's address).
	Servers []string
	// Log is dhcrelay's output file (default: in the test's temporary directory).
	Log string
}

// Relay is a running relay router.
type Relay struct {
	NS       *netns.NS
	UpPeer   string
	DownPeer string
	DownIf   string
	Giaddr   netip.Addr
	UpIP     netip.Addr
	Log      string
	cmd      *exec.Cmd
}

// Start builds the relay router and starts dhcrelay, waiting until it listens. It fails
// the test on error; t.Cleanup stops dhcrelay and deletes the namespace.
func Start(t testing.TB, cfg Config) *Relay {
	t.Helper()
	if cfg.Downstream == nil {
		cfg.Downstream = cfg.Upstream
	}
	if cfg.UpPeer == "" {
		cfg.UpPeer = netns.IfName("rup")
	}
	if cfg.DownPeer == "" {
		cfg.DownPeer = netns.IfName("rdn")
	}
	if cfg.DownIf == "" {
		cfg.DownIf = DownIf
	}
	if cfg.Log == "" {
		cfg.Log = filepath.Join(t.TempDir(), "dhcrelay.log")
	}
	up, err := netip.ParsePrefix(cfg.UpAddr)
	if err != nil {
		t.Fatalf("relay: UpAddr %q: %v", cfg.UpAddr, err)
	}
	down, err := netip.ParsePrefix(cfg.DownAddr)
	if err != nil {
		t.Fatalf("relay: DownAddr %q: %v", cfg.DownAddr, err)
	}
	ns := netns.New(t)
	r := &Relay{NS: ns, UpPeer: cfg.UpPeer, DownPeer: cfg.DownPeer, DownIf: cfg.DownIf, Giaddr: down.Addr(), UpIP: up.Addr(), Log: cfg.Log}
	for _, p := range []struct {
		name, peer, bridge, addr string
		other                    *netns.NS
	}{
		{UpIf, cfg.UpPeer, cfg.UpBridge, cfg.UpAddr, cfg.Upstream},
		{cfg.DownIf, cfg.DownPeer, cfg.DownBridge, cfg.DownAddr, cfg.Downstream},
	} {
		if _, err := ns.Veth(p.name, p.peer, p.other, 0); err != nil {
			t.Fatalf("relay: %v", err)
		}
		// The far end lives in another namespace: delete it there too (deleting the
		// relay's namespace removes the pair, this covers a rig that keeps its own).
		other, peer := p.other, p.peer
		t.Cleanup(func() { other.Delete(peer) })
		if p.bridge != "" {
			br, err := p.other.Link(p.bridge)
			if err != nil {
				t.Fatalf("relay: %v", err)
			}
			pl, err := p.other.Link(p.peer)
			if err != nil {
				t.Fatalf("relay: %v", err)
			}
			if err := p.other.SetMaster(pl, br); err != nil {
				t.Fatalf("relay: %v", err)
			}
		}
		if err := ns.AddAddr(p.name, p.addr); err != nil {
			t.Fatalf("relay: %v", err)
		}
	}
	// A switch routes between its VLANs.
	if err := ns.Do(func() error { return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644) }); err != nil {
		t.Fatalf("relay: ip_forward: %v", err)
	}
	r.start(t, cfg)
	return r
}

// start runs dhcrelay in the foreground: -a adds option 82 (circuit id = the interface the
// request came in on), -iu/-id name the upstream and downstream interfaces.
func (r *Relay) start(t testing.TB, cfg Config) {
	t.Helper()
	f, err := os.Create(cfg.Log)
	if err != nil {
		t.Fatalf("relay: %v", err)
	}
	args := append([]string{"-d", "-4", "-a", "--no-pid", "-iu", UpIf, "-id", r.DownIf}, cfg.Servers...)
	cmd := r.NS.Command(context.Background(), "dhcrelay", args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("relay: dhcrelay: %v", err)
	}
	r.cmd = cmd
	exited := make(chan struct{})
	go func() { cmd.Wait(); f.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("dhcrelay log:\n%s", r.Output())
		}
	})
	// dhcrelay prints "Sending on ..." for each interface once its sockets are open.
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(r.Output(), "Sending on") < 2 {
		select {
		case <-exited:
			t.Fatalf("relay: dhcrelay exited:\n%s", r.Output())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay: dhcrelay not listening after 60s:\n%s", r.Output())
		}
	}
}

// Output is what dhcrelay has logged so far.
func (r *Relay) Output() string {
	b, err := os.ReadFile(r.Log)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// Spoof sends, from ns, a DHCPDISCOVER for mac to server:67 claiming to come through a
// relay at spoofed (giaddr), listening there for the answer, as an attacker on a
// relayed network would. It adds spoofed (with the network's prefix length) to the
// interface and a route to server via gateway. handled reports when serve has
// processed the request (its log line); after that Spoof waits for a straggling answer
// for two seconds more and returns the number of bytes answered (0: nothing).
func Spoof(t testing.TB, ns *netns.NS, ifname string, spoofed netip.Prefix, gateway, server netip.Addr, mac net.HardwareAddr, handled func() bool) int {
	t.Helper()
	if err := ns.AddAddr(ifname, spoofed.String()); err != nil {
		t.Fatalf("spoof: %v", err)
	}
	if err := ns.AddRoute(netip.PrefixFrom(server, 32).String(), gateway.String()); err != nil {
		t.Fatalf("spoof: %v", err)
	}
	var conn net.PacketConn
	if err := ns.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", netip.AddrPortFrom(spoofed.Addr(), 67).String())
		return err
	}); err != nil {
		t.Fatalf("spoof: %v", err)
	}
	defer conn.Close()
	m, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithGatewayIP(net.IP(spoofed.Addr().AsSlice())))
	if err != nil {
		t.Fatalf("spoof: %v", err)
	}
	if _, err := conn.WriteTo(m.ToBytes(), net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 67))); err != nil {
		t.Fatalf("spoof: %v", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for !handled() {
		if time.Now().After(deadline) {
			t.Fatalf("spoof: serve did not handle the spoofed request within 60s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, _, err := conn.ReadFrom(make([]byte, 1500))
	if err != nil {
		return 0
	}
	return n
}
