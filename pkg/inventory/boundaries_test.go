package inventory

import (
	"strings"
	"testing"
)

// TestRuleBoundaries: each range rule takes the values at its ends and refuses the ones
// just past them (the message named, on the line changed). Mutants (make mutate,
// validate.go): the boundaries of the VLAN, MTU, lease, nconnect, BMC port, rack units,
// unit placement, root device size and /30 network address rules.
func TestRuleBoundaries(t *testing.T) {
	t.Parallel()
	prov := "  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}\n"
	storage := func(extra string) string {
		return prov + "  - {name: s, cidr: 10.2.0.0/24, role: storage" + extra + "}\n"
	}
	img := "    boot: {kernel: k2}\n"
	hints := func(h string) string {
		return img + "    image: {file: d.raw, sha256: abababababababababababababababababababababababababababababababab, root_device: {" + h + "}}\n"
	}
	for _, tc := range []struct {
		name, old, new string
		want           string // "": valid
	}{
		{name: "vlan 1", old: prov, new: storage(", vlan: 1")},
		{name: "vlan 4094", old: prov, new: storage(", vlan: 4094")},
		{name: "vlan 4095", old: prov, new: storage(", vlan: 4095"), want: "VLAN 4095"},
		{name: "mtu 576", old: prov, new: storage(", mtu: 576")},
		{name: "mtu 9216", old: prov, new: storage(", mtu: 9216")},
		{name: "mtu 575", old: prov, new: storage(", mtu: 575"), want: "MTU 575"},
		{name: "mtu 9217", old: prov, new: storage(", mtu: 9217"), want: "MTU 9217"},
		{name: "lease 1s", old: "dhcp: {mode: reservation}", new: "dhcp: {mode: reservation, lease: 1s}"},
		{name: "lease 0s", old: "dhcp: {mode: reservation}", new: "dhcp: {mode: reservation, lease: 0s}", want: "is not a positive duration"},
		{name: "/30 network address", old: prov, new: prov + "  - {name: s, cidr: 10.2.0.0/30, server: 10.2.0.0, role: storage}\n", want: "is the network address"},
		{name: "/30 host address", old: prov, new: prov + "  - {name: s, cidr: 10.2.0.0/30, server: 10.2.0.1, role: storage}\n"},
		{name: "nconnect 16", old: img, new: img + "    expect: {storage: [{mount: /d, nconnect: 16}]}\n"},
		{name: "nconnect 17", old: img, new: img + "    expect: {storage: [{mount: /d, nconnect: 17}]}\n", want: "nconnect 17 of /d is outside 1-16"},
		{name: "bmc port 1", old: "bmc: {address: 10.9.0.1}", new: "bmc: {address: 10.9.0.1, port: 1}"},
		{name: "bmc port 65535", old: "bmc: {address: 10.9.0.1}", new: "bmc: {address: 10.9.0.1, port: 65535}"},
		{name: "bmc port 65536", old: "bmc: {address: 10.9.0.1}", new: "bmc: {address: 10.9.0.1, port: 65536}", want: "port"},
		{name: "rack of 1 unit", old: "  - rack: r2\n", new: "  - rack: r2\n    units: 1\n"},
		{name: "rack of 100 units", old: "  - rack: r2\n", new: "  - rack: r2\n    units: 100\n"},
		{name: "rack of 101 units", old: "  - rack: r2\n", new: "  - rack: r2\n    units: 101\n", want: "has 101 units"},
		{name: "node at the top unit", old: "  - rack: r2\n", new: "  - rack: r2\n    units: 1\n"},
		{name: "node past the top", old: "  - rack: r1\n", new: "  - rack: r1\n    units: 1\n", want: "past the top of rack"},
		{name: "root device min = max", old: img, new: hints("min_size_gib: 100, max_size_gib: 100")},
		{name: "root device min > max", old: img, new: hints("min_size_gib: 101, max_size_gib: 100"), want: "is above max_size_gib 100"},
		{name: "root device model with spaces", old: img, new: hints("model: \"SAMSUNG MZ7L3 \"")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(single, tc.old) {
				t.Fatalf("test bug: %q not in the base site", tc.old)
			}
			path := writeFile(t, t.TempDir(), "site.yaml", strings.Replace(single, tc.old, tc.new, 1))
			inv, err := Load(path)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("want valid, got %v", err)
			case tc.want != "" && (inv != nil || err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}
