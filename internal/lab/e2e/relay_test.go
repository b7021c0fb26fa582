package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/internal/lab/netns"
	"github.com/racklift/racklift/internal/lab/rack"
	"github.com/racklift/racklift/internal/lab/relay"
	"github.com/racklift/racklift/internal/testenv"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// The relayed pod of the lab: provisioning-b (10.205.0.0/24) behind a relay router at
// 10.205.0.1 whose upstream port is 10.204.0.254 on the lab's provisioning network.
const (
	podBridge  = "br-prov-b"
	relayUp    = "10.204.0.254/24"
	relayGI    = "10.205.0.1"
	lab01PodIP = "10.205.0.11"
	lab01MAC   = "52:54:00:04:00:01"
	// lab01Port is the switch port the lab inventory cables lab-01's PXE NIC to; the relay
	// names its downstream interface after it, so option 82's circuit id matches.
	lab01Port = "Ethernet1"
)

// moveLab01 puts provisioning-b in the inventory (relayed through 10.205.0.1 to serve at
// 10.204.0.1) and lab-01's PXE interface on it; lab-01's agent checks provisioning-b
// and storage.
func moveLab01(t testing.TB) func(inv string) {
	return func(inv string) {
		edit := func(file, old, new string) {
			p := filepath.Join(inv, file)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), old) {
				t.Fatalf("the lab inventory changed: no %q in %s", old, file)
			}
			if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		edit("site.yaml", "  - name: storage\n", `  - name: provisioning-b
    cidr: 10.205.0.0/24
    gateway: `+relayGI+`
    server: `+serverIP+`
    role: provisioning
    dhcp:
      mode: reservation
      lease: 1h
      relays: [`+relayGI+`]
  - name: storage
`)
		edit(filepath.Join("racks", "lab.yaml"), `network: provisioning, address: 10.204.0.11, pxe: true`, `network: provisioning-b, address: `+lab01PodIP+`, pxe: true`)
		edit(filepath.Join("racks", "lab.yaml"), "  - name: lab-01\n    unit: 1\n", "  - name: lab-01\n    unit: 1\n    overrides: {expect: {networks: [provisioning-b, storage]}}\n")
	}
}

// Issue 17, done when: in namespaces, a QEMU guest on a second provisioning network
// behind isc-dhcp-relay boots its ramdisk and reaches ready through the relay; a spoofed
// giaddr gets nothing.
func TestRelayedNodeReady(t *testing.T) {
	testenv.NeedCommand(t, "dhcrelay")
	r := NewRig(t)
	// The rack took MACs and BMCs from the inventory; serve reads the moved one.
	moveLab01(t)(r.inv)
	ns := r.rack.NS()

	// The relayed pod: its own bridge, lab-01's PXE tap on it, the relay router between
	// it and the lab's provisioning bridge, and serve's route to it.
	if _, err := ns.Bridge(podBridge, 0); err != nil {
		t.Fatal(err)
	}
	rl := relay.Start(t, relay.Config{
		Upstream: ns, UpBridge: rack.ProvisioningBridge, UpAddr: relayUp,
		DownBridge: podBridge, DownAddr: relayGI + "/24", DownIf: lab01Port,
		Servers: []string{serverIP},
	})
	tap := r.rack.Taps("lab-01")[0]
	tl, err := ns.Link(tap)
	if err != nil {
		t.Fatal(err)
	}
	br, err := ns.Link(podBridge)
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.SetMaster(tl, br); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddRoute("10.205.0.0/24", rl.UpIP.String()); err != nil {
		t.Fatal(err)
	}
	// net plan says how serve reaches each network.
	if out, code := r.provisionNS("net", "plan", "-i", r.inv, "--trunk", rack.HostNIC, "--state", filepath.Join(r.dir, "net-state.json")); code != 0 ||
		!strings.Contains(out, "provisioning-b (10.205.0.0/24, reservation, 1 node(s)): via relay "+relayGI+" → serve at "+serverIP) {
		t.Errorf("net plan: exit %d\n%s", code, out)
	}

	r.StartServe()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	res, errOut, code := r.Up(ctx, "lab-01")
	t.Logf("up lab-01 through relay %s: %s", relayGI, time.Since(start).Round(time.Second))
	if code != 0 || len(res.Nodes) != 1 || res.Nodes[0].Phase != lifecycle.Ready {
		t.Fatalf("up lab-01 behind the relay: exit %d, %+v\n%s\ndhcrelay:\n%s", code, res, errOut, rl.Output())
	}
	st := r.status(ctx)["lab-01"]
	if st.Phase != lifecycle.Ready {
		t.Fatalf("lab-01: %s (%s)", st.Phase, st.Reason)
	}
	// Its DHCP came through the relay: the node's events name it and its circuit id.
	out, errOut, code := r.provision(ctx, "events", "lab-01", "-o", "json")
	var evs []state.Event
	if err := json.Unmarshal([]byte(out), &evs); err != nil || code != 0 {
		t.Fatalf("events lab-01: exit %d %v\n%s", code, err, errOut)
	}
	relayed := 0
	for _, e := range evs {
		switch {
		case e.Kind == "dhcp.relay" && strings.Contains(e.Detail, `relay `+relayGI+` circuit-id "`+lab01Port+`"`):
			relayed++
		case strings.HasPrefix(e.Kind, "dhcp.relay"):
			t.Errorf("lab-01's relay event %s: %s (the circuit id is its cabled port %s)", e.Kind, e.Detail, lab01Port)
		}
	}
	if relayed == 0 {
		t.Errorf("lab-01's events record no DHCP through relay %s with circuit id %s", relayGI, lab01Port)
	}
	// And the relay itself says it carried serve's answers to lab-01.
	if want := "Forwarded BOOTREPLY for " + lab01MAC + " to " + lab01PodIP; !strings.Contains(rl.Output(), want) {
		t.Errorf("dhcrelay's log has no %q", want)
	}
	if c := r.rack.PowerCycles("lab-01"); c != 1 {
		t.Errorf("lab-01's BMC counted %d power cycles, want 1", c)
	}

	// A spoofed giaddr on the relayed network: an attacker there claims to be a relay at
	// 10.205.0.66 for lab-01's MAC and listens for the answer. serve drops it.
	att := netns.New(t)
	if _, err := att.Veth("att0", "att0-sw", ns, 0); err != nil {
		t.Fatal(err)
	}
	sw, err := ns.Link("att0-sw")
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.SetMaster(sw, br); err != nil {
		t.Fatal(err)
	}
	hw, _ := net.ParseMAC(lab01MAC)
	line := "giaddr 10.205.0.66 is a relay no network names"
	if n := relay.Spoof(t, att, "att0", netip.MustParsePrefix("10.205.0.66/24"), rl.Giaddr, netip.MustParseAddr(serverIP), hw,
		func() bool { b, _ := os.ReadFile(r.serveOut); return strings.Contains(string(b), line) }); n != 0 {
		t.Errorf("the spoofed giaddr got an answer of %d bytes", n)
	}
	if after := r.status(ctx)["lab-01"]; after.Phase != lifecycle.Ready {
		t.Errorf("lab-01 after the spoofed request: %s", after.Phase)
	}
}
