package relay_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/relay"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/events"
	"github.com/racklift/racklift/pkg/server"
)

// Addresses: serve's network prov is 10.210.0.0/24 (serve 10.210.0.1, the relay's
// upstream port .254); the relayed network pod-b is 10.211.0.0/24 behind the relay at
// 10.211.0.1 (giaddr and gateway).
const (
	serveIP  = "10.210.0.1"
	relayUp  = "10.210.0.254/24"
	giaddr   = "10.211.0.1"
	clientIP = "10.211.0.11"
	spoofIP  = "10.211.0.66"
	b1MAC    = "02:17:00:00:00:11"
)

const site = `site: relay-test
defaults: {profile: p, bmc: {credentials: c}}
credentials: [{name: c, username: admin}]
networks:
  - {name: prov, cidr: 10.210.0.0/24, server: 10.210.0.1, role: provisioning, dhcp: {mode: reservation}}
  - {name: pod-b, cidr: 10.211.0.0/24, gateway: 10.211.0.1, server: 10.210.0.1, role: provisioning, dhcp: {mode: reservation, lease: 1h, relays: [10.211.0.1]}}
profiles: [{name: p, boot: {kernel: k}}]
switches: [{name: tor-b, os: sonic}]
racks:
  - rack: r1
    nodes:
      - {name: a1, unit: 1, bmc: {address: 127.0.0.1, port: 8443}, interfaces: [{name: e0, mac: "02:17:00:00:00:01", network: prov, address: 10.210.0.11, pxe: true}]}
      - {name: b1, unit: 2, bmc: {address: 127.0.0.1, port: 8444}, interfaces: [{name: e0, mac: "` + b1MAC + `", network: pod-b, address: ` + clientIP + `, pxe: true, switch: tor-b, port: swp9}]}
`

// udhcpcScript records the lease udhcpc got and configures it.
const udhcpcScript = `#!/bin/sh
case "$1" in
bound|renew)
  ip addr add "$ip/$mask" dev "$interface"
  echo "ip=$ip mask=$mask router=$router serverid=$serverid" > "$LEASE_FILE"
  ;;
esac
exit 0
`

// Issue 17: a real DHCP client (busybox udhcpc) on a second provisioning network gets
// its reservation through a real relay (ISC dhcrelay with option 82) from serve, which
// picks the network from giaddr and records the relay and circuit id in the node's
// events; a request with a spoofed giaddr gets nothing and one located log line.
func TestRelayedDHCPClient(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "dhcrelay", "busybox", "ip")
	dir := t.TempDir()

	// serve's namespace and the client's, with the relay router between them.
	srvNS, cliNS := netns.New(t), netns.New(t)
	r := relay.Start(t, relay.Config{
		Upstream: srvNS, UpPeer: "srv0", UpAddr: relayUp,
		Downstream: cliNS, DownPeer: "cl0", DownAddr: giaddr + "/24",
		Servers: []string{serveIP},
	})
	must(t, srvNS.AddAddr("srv0", serveIP+"/24"))
	must(t, srvNS.AddRoute("10.211.0.0/24", r.UpIP.String()))
	cl, err := cliNS.Link("cl0")
	must(t, err)
	hw, _ := net.ParseMAC(b1MAC)
	must(t, cliNS.Handle().LinkSetHardwareAddr(cl, hw))

	// serve, in process, inside its namespace.
	inv := filepath.Join(dir, "site.yaml")
	must(t, os.WriteFile(inv, []byte(site), 0o644))
	for _, d := range []string{"pxe", "artifacts", "state"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	var logBuf testenv.SyncBuffer
	var s *server.Server
	must(t, srvNS.Do(func() error {
		var err error
		s, err = server.New(server.Config{Inventory: inv, Interface: "srv0", PXEDir: filepath.Join(dir, "pxe"),
			Artifacts: filepath.Join(dir, "artifacts"), StateDir: filepath.Join(dir, "state"),
			Log: slog.New(slog.NewTextHandler(&logBuf, nil))})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done, ready := make(chan struct{}), make(chan struct{})
	var runErr error
	go func() { runErr = srvNS.Do(func() error { return s.Run(ctx) }); close(done) }()
	go func() { s.HTTPAddr(); close(ready) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if runErr != nil {
			t.Errorf("serve: %v", runErr)
		}
		if t.Failed() {
			t.Logf("serve log:\n%s", logBuf.String())
		}
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("serve stopped at start: %v", runErr)
	}

	// The client on pod-b asks by broadcast; only the relay can carry it to serve.
	script := filepath.Join(dir, "udhcpc.sh")
	must(t, os.WriteFile(script, []byte(udhcpcScript), 0o755))
	leaseFile := filepath.Join(dir, "lease")
	cmd := cliNS.Command(context.Background(), "busybox", "udhcpc", "-i", "cl0", "-n", "-q", "-f", "-t", "10", "-T", "3", "-s", script)
	cmd.Env = append(os.Environ(), "LEASE_FILE="+leaseFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("udhcpc got no lease through the relay: %v\n%s\ndhcrelay:\n%s", err, out, r.Output())
	}
	lease, _ := os.ReadFile(leaseFile)
	if want := fmt.Sprintf("ip=%s mask=24 router=%s serverid=%s", clientIP, giaddr, serveIP); strings.TrimSpace(string(lease)) != want {
		t.Errorf("lease %q, want %q", strings.TrimSpace(string(lease)), want)
	}
	var relayed []events.Event
	for _, e := range s.Events.Recent("b1") {
		if e.Kind == events.DHCPRelay {
			relayed = append(relayed, e)
		}
	}
	if len(relayed) == 0 || !strings.Contains(relayed[0].Detail, `relay `+giaddr+` circuit-id "`+relay.DownIf+`"`) {
		t.Errorf("b1's relay events %+v, want the relay %s and circuit id %q", relayed, giaddr, relay.DownIf)
	}
	// The inventory cables b1 to tor-b swp9; the relay says its port is down0: the event
	// says so (b1 was still answered: its MAC is known).
	if want := `relay ` + giaddr + ` reports circuit-id "` + relay.DownIf + `", not port "swp9"`; len(relayed) == 0 || !strings.Contains(relayed[0].Err, want) {
		t.Errorf("b1's relay event error %+v, want %q", relayed, want)
	}
	before := len(s.Events.Recent(""))

	// A forged giaddr: the client says it is a relay at 10.211.0.66 and listens there
	// for the answer. serve must drop it, record nothing and log it once.
	const line = "giaddr " + spoofIP + " is a relay no network names"
	if n := relay.Spoof(t, cliNS, "cl0", netip.MustParsePrefix(spoofIP+"/24"), r.Giaddr, netip.MustParseAddr(serveIP), hw,
		func() bool { return strings.Contains(logBuf.String(), line) }); n != 0 {
		t.Errorf("the spoofed giaddr got an answer of %d bytes", n)
	}
	if after := len(s.Events.Recent("")); after != before {
		t.Errorf("the spoofed request recorded %d event(s): %+v", after-before, s.Events.Recent("")[before:])
	}
	for _, l := range strings.Split(logBuf.String(), "\n") {
		if strings.Contains(l, line) && !strings.Contains(l, "interface=srv0") {
			t.Errorf("the log line does not say where the request arrived (interface=srv0): %s", l)
		}
	}
	// A node of prov asking through pod-b's relay (a port in the wrong VLAN): no lease,
	// and a line naming both networks and the relay.
	a1, _ := net.ParseMAC("02:17:00:00:00:01")
	must(t, cliNS.SetDown("cl0"))
	must(t, cliNS.Handle().LinkSetHardwareAddr(cl, a1))
	must(t, cliNS.SetUp("cl0"))
	cmd = cliNS.Command(context.Background(), "busybox", "udhcpc", "-i", "cl0", "-n", "-q", "-f", "-t", "3", "-T", "1", "-s", script)
	cmd.Env = append(os.Environ(), "LEASE_FILE="+filepath.Join(dir, "lease-a1"))
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("a1 (network prov) got a lease through pod-b's relay:\n%s", out)
	}
	if want := `node a1 boots from network \"prov\" but asked on network \"pod-b\" (through relay ` + giaddr + `)`; !strings.Contains(logBuf.String(), want) {
		t.Errorf("no log line %s", want)
	}
	if strings.Count(logBuf.String(), line) != 1 {
		t.Errorf("log lines for the spoofed giaddr: %d, want 1 (rate-limited)", strings.Count(logBuf.String(), line))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
