package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBrokenSite loads inventory/testdata/broken, a site with one defect per rule, and
// checks that each defect gives exactly one error, at its file:line:col, and no more.
func TestBrokenSite(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "inventory", "testdata", "broken")
	inv, err := Load(dir)
	if inv != nil {
		t.Fatal("a broken inventory must not load")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want Errors, got %T: %v", err, err)
	}
	want := []struct {
		file      string
		line, col int
		msg       string
		also      string // the other occurrence, named in the message
	}{
		{"racks/r1.yaml", 17, 14, `duplicate MAC 02:00:00:00:01:01 on dup-mac/eth0: also on ok-01/eth0`, "racks/r1.yaml:9:27"},
		{"racks/r1.yaml", 29, 18, `address of outside/eth0 10.51.0.13 is outside network "provisioning" (10.50.0.0/24)`, ""},
		{"racks/r1.yaml", 39, 18, `address of bcast/eth0 10.50.0.255 is the broadcast address of "provisioning" (10.50.0.0/24)`, ""},
		{"racks/r1.yaml", 49, 18, `address of gw/eth0 is 10.50.0.1, the gateway of network "provisioning"`, ""},
		{"racks/r1.yaml", 59, 18, `address of netaddr/eth0 10.50.0.0 is the network address of "provisioning" (10.50.0.0/24)`, ""},
		{"racks/r1.yaml", 64, 14, `node "noprofile": profile "h200" is not defined`, ""},
		{"racks/r1.yaml", 74, 57, `interface nonet/eth1 is on network "infiniband", which is not defined`, ""},
		{"racks/r1.yaml", 77, 11, `node "overlap" (U8) overlaps node "nonet" (U8`, "racks/r1.yaml:69:11"},
		{"racks/r1.yaml", 83, 11, `node "toohigh" occupies U41-U44, past the top of rack "r1"`, ""},
		{"racks/r1.yaml", 93, 27, `malformed MAC "02:00:00:00:0b" on badmac/eth0`, ""},
		{"racks/r1.yaml", 100, 92, `node "twopxe" has 2 PXE interfaces (eth0`, "racks/r1.yaml:98:97"},
		{"racks/r1.yaml", 106, 7, `node "nopxe" has no PXE interface`, ""},
		{"racks/r2.yaml", 5, 12, `profile "gpu-old" is not defined`, ""},
		{"racks/r2.yaml", 13, 7, `plain-text secret "password" in the inventory: passwords, secrets and tokens must not be written here`, ""},
		{"racks/r2.yaml", 17, 11, `duplicate node name "ok-01": also`, "racks/r1.yaml:5:11"},
		{"racks/r2.yaml", 28, 16, `BMC address 10.70.0.11 port 443 of node "dup-bmc" is also used by node "ok-01"`, "racks/r1.yaml:7:20"},
		{"racks/r2.yaml", 37, 17, `unknown BMC protocol "snmp"`, ""},
		{"racks/r2.yaml", 46, 20, `credentials "bmc-admin" are not declared in the site's credentials`, ""},
		{"racks/r2.yaml", 55, 80, `duplicate address 10.50.0.11 on dup-ip/eth0: also on ok-01/eth0`, "racks/r1.yaml:9:80"},
		{"racks/r2.yaml", 60, 5, `unknown field "lables" in node`, ""},
		{"racks/r2.yaml", 69, 7, `plain-text secret "api_token" in the inventory: passwords, secrets and tokens must not be written here`, ""},
		{"racks/r2.yaml", 74, 5, `node "nobmc" has no BMC address`, ""},
		{"racks/r2.yaml", 85, 9, `PXE interface noaddr/eth0 has no address, but network "provisioning" gives out reservations`, ""},
		{"racks/r2.yaml", 86, 11, `node name "Bad_Name" is not a valid host name`, ""},
		{"racks/r2.yaml", 99, 27, `MAC 01:00:5e:00:00:01 on mcast/eth0 is a multicast address`, ""},
		{"site.yaml", 16, 5, `plain-text secret "password" in the inventory: passwords, secrets and tokens must not be written here`, ""},
		{"site.yaml", 27, 5, `unknown field "vlna" in network`, ""},
		{"site.yaml", 33, 11, `VLAN 5000 of network "bmc" is outside 1-4094`, ""},
		{"site.yaml", 40, 10, `MTU 100 of network "compute" is outside 576-9216`, ""},
		{"site.yaml", 46, 11, `unknown role "outofband" for network "oob"`, ""},
		{"site.yaml", 52, 11, `network "prov2" serves DHCP (mode reservation) but has no server address`, ""},
		{"site.yaml", 58, 18, `unknown DHCP mode "static" for network "prov3"`, ""},
		{"site.yaml", 63, 14, `gateway 10.94.0.1 is outside network "mgmt" (10.93.0.0/24)`, ""},
		{"site.yaml", 67, 11, `VLAN 300 of network "mgmt2" is also used by network "compute"`, "site.yaml:37:11"},
		{"site.yaml", 71, 11, `duplicate network name "mgmt2": also`, "site.yaml:65:11"},
		{"site.yaml", 78, 11, `cidr "10.97.0.1/24" of network "mgmt3" has host bits set`, ""},
		{"site.yaml", 87, 20, `unknown uefi_binary "ipxe64.efi"`, ""},
		{"site.yaml", 91, 27, `expected network "infiniband" is not defined`, ""},
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d (one per defect):\n%v", len(errs), len(want), errs)
	}
	got := map[string]*Error{}
	for _, e := range errs {
		got[e.Pos.String()] = e
	}
	for _, w := range want {
		pos := Pos{File: filepath.Join(dir, w.file), Line: w.line, Col: w.col}
		e, ok := got[pos.String()]
		if !ok {
			t.Errorf("no error at %s, want %q", pos, w.msg)
			continue
		}
		if !strings.Contains(e.Msg, w.msg) {
			t.Errorf("%s: got %q, want %q", pos, e.Msg, w.msg)
		}
		if w.also != "" && !strings.Contains(e.Msg, filepath.Join(dir, w.also)) {
			t.Errorf("%s: %q does not name the other occurrence %s", pos, e.Msg, w.also)
		}
		if e.Hint == "" {
			t.Errorf("%s: %q has no fix hint", pos, e.Msg)
		}
	}
	// The files mark each defect with a "# DEFECT:" comment; keep them and the table in step.
	marker := regexp.MustCompile(`(?m)^\s*# DEFECT:`)
	markers := 0
	for _, f := range []string{"site.yaml", "racks/r1.yaml", "racks/r2.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		markers += len(marker.FindAll(b, -1))
	}
	if markers != len(want) {
		t.Errorf("%d DEFECT markers in the files, %d rows in the table", markers, len(want))
	}
}
