package inventory

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRules breaks the valid single-file site one way at a time and checks that exactly
// one error comes out, with the expected message, on the line of the change.
func TestRules(t *testing.T) {
	t.Parallel()
	prov := "  - {name: prov, cidr: 10.1.0.0/24, server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}}\n"
	n1ifc := `interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}]`
	for _, tc := range []struct {
		name, old, new, want string
		at                   string // text on the expected line; default: the start of new
		count                int    // errors expected, default 1 (the first is checked)
	}{
		{"network without name", prov, prov + "  - {cidr: 10.2.0.0/24, role: storage}\n", "network has no name", "{cidr: 10.2.0.0/24", 0},
		{"network without cidr", prov, prov + "  - {name: s, role: storage}\n", `network "s" has no cidr`, "{name: s,", 0},
		{"bad cidr", prov, prov + "  - {name: s, cidr: 10.2.0/33, role: storage}\n", `cidr "10.2.0/33" of network "s" is not a valid network`, "10.2.0/33", 0},
		{"network without role", prov, prov + "  - {name: s, cidr: 10.2.0.0/24}\n", `network "s" has no role`, "{name: s, cidr: 10.2.0.0/24}", 0},
		{"overlapping networks", prov, prov + "  - {name: s, cidr: 10.1.0.128/25, role: storage}\n", `network "s" (10.1.0.128/25) overlaps network "prov"`, "10.1.0.128/25", 0},
		{"server outside", "server: 10.1.0.1,", "server: 10.2.0.1,", `server address 10.2.0.1 is outside network "prov"`, "", 0},
		{"server is gateway", "server: 10.1.0.1,", "server: 10.1.0.1, gateway: 10.1.0.1,", `server address 10.1.0.1 of network "prov" is its gateway`, "", 0},
		{"server not an address", "server: 10.1.0.1,", "server: prov-host,", `server of network "prov": "prov-host" is not an IP address`, "", 0},
		{"bad dns", "server: 10.1.0.1,", "server: 10.1.0.1, dns: [10.1.0.53, dns1],", `DNS server "dns1" of network "prov" is not an IP address`, "", 0},
		{"dhcp without mode", "dhcp: {mode: reservation}", "dhcp: {lease: 1h}", `DHCP of network "prov" has no mode`, "", 0},
		{"bad lease", "dhcp: {mode: reservation}", "dhcp: {mode: reservation, lease: 12 hours}", `DHCP lease "12 hours" of network "prov" is not a positive duration`, "", 0},
		{"range outside", "dhcp: {mode: reservation}", "dhcp: {mode: proxy, range: 10.1.0.100-10.1.1.5}", "is outside 10.1.0.0/24", "", 0},
		{"range reversed", "dhcp: {mode: reservation}", "dhcp: {mode: proxy, range: 10.1.0.200-10.1.0.100}", "ends before it starts", "", 0},
		{"range holds server", "dhcp: {mode: reservation}", "dhcp: {mode: proxy, range: 10.1.0.1-10.1.0.100}", "contains the server address 10.1.0.1", "", 0},
		{"range malformed", "dhcp: {mode: reservation}", "dhcp: {mode: proxy, range: 10.1.0.100}", "is not first-last", "", 0},
		{"pxe network without server", "server: 10.1.0.1, role: provisioning, dhcp: {mode: reservation}", "role: provisioning", `network "prov" has PXE-booting nodes (e.g. n1) but no server address`, "", 0},
		{"credential without name", "  - {name: rack-cred, username: root}\n", "  - {name: rack-cred, username: root}\n  - {username: x}\n", "credential has no name", "{username: x}", 0},
		{"duplicate credential", "  - {name: rack-cred, username: root}\n", "  - {name: rack-cred, username: root}\n  - {name: rack-cred}\n", `duplicate credential "rack-cred"`, "{name: rack-cred}\n", 0},
		{"duplicate profile", "  - name: other\n", "  - name: base\n  - name: other\n", `duplicate profile "base": also at`, "- name: base\n  - name: other", 0},
		{"profile without name", "  - name: other\n", "  - boot: {}\n  - name: other\n", "profile has no name", "", 0},
		{"negative gpu count", "count: 8,", "count: -1,", "GPU count -1 is negative", "", 0},
		{"bad driver", `min_driver: "550.54.15"`, `min_driver: "r550"`, `min_driver "r550" is not a version`, "", 0},
		{"bad cuda", `min_driver: "550.54.15"`, `cuda: twelve`, `cuda "twelve" is not a version`, "", 0},
		{"relative mount", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    expect: {storage: [{mount: data}]}\n", `storage mount "data" is not an absolute path`, "expect: {storage", 0},
		{"negative throughput", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    expect: {storage: [{mount: /d, min_read_mbps: -5}]}\n", "negative minimum throughput", "expect: {storage", 0},
		{"nconnect", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    expect: {storage: [{mount: /d, nconnect: 64}]}\n", "nconnect 64 of /d is outside 1-16", "expect: {storage", 0},
		{"image without sha256", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: images/d.raw.zst}\n", "image images/d.raw.zst has no sha256: no checksum, no deploy", "image:", 0},
		{"image sha256 not hex", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: images/d.raw.zst, sha256: abc}\n", `image sha256 "abc" is not 64 hex digits`, "image:", 0},
		{"image without file", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {sha256: abababababababababababababababababababababababababababababababab}\n", "image has no file", "image:", 0},
		{"image qcow2", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: images/d.qcow2, sha256: abababababababababababababababababababababababababababababababab}\n", "image images/d.qcow2 is qcow2: the node never parses qcow2", "image:", 0},
		{"image unknown extension", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: images/d.iso, sha256: abababababababababababababababababababababababababababababababab}\n", `unknown extension ".iso"`, "image:", 0},
		{"image format", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: images/d, format: xz, sha256: abababababababababababababababababababababababababababababababab}\n", `image format "xz": the agent writes raw, zstd or gzip`, "image:", 0},
		{"root device sizes", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: d.raw, sha256: abababababababababababababababababababababababababababababababab, root_device: {min_size_gib: 500, max_size_gib: 100}}\n", "root_device min_size_gib 500 is above max_size_gib 100: no disk can match", "image:", 0},
		{"root device by_path", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    image: {file: d.raw, sha256: abababababababababababababababababababababababababababababababab, root_device: {by_path: /dev/sda}}\n", `root_device by_path "/dev/sda" is not a /dev/disk/by-path name`, "image:", 0},
		{"installer root device without installer", "    boot: {kernel: k2}\n", "    boot: {kernel: k2, root_device: {min_size_gib: 400}}\n", "boot.root_device without boot.install: no installer runs", "boot: {kernel: k2, root_device", 0},
		{"installer root device sizes", "    boot: {kernel: k2}\n", "    boot: {kernel: k2, install: kickstart, root_device: {min_size_gib: 500, max_size_gib: 100}}\n", "root_device min_size_gib 500 is above max_size_gib 100: no disk can match", "boot: {kernel: k2, install", 0},
		{"unknown peer", "    boot: {kernel: k2}\n", "    boot: {kernel: k2}\n    expect: {peers: [n1, n9]}\n", `peer "n9" is not a node`, "expect: {peers", 0},
		{"cmdline or", "boot: {cmdline: c2-node}", `boot: {cmdline: "c2-node || shell"}`, `cmdline holds "||" at byte 8`, "", 0},
		{"cmdline and", "boot: {cmdline: c2-node}", `boot: {cmdline: "c2-node && x"}`, `cmdline holds "&&"`, "", 0},
		{"cmdline semicolon", "boot: {cmdline: c2-node}", `boot: {cmdline: "c2-node;reboot"}`, `cmdline holds ";"`, "", 0},
		{"cmdline dollar", "boot: {cmdline: c2-node}", `boot: {cmdline: "c2-node x=${net0/ip}"}`, `cmdline holds "$"`, "", 0},
		{"cmdline backtick", "boot: {cmdline: c2-node}", "boot: {cmdline: \"c2-node `id`\"}", "cmdline holds \"`\"", "", 0},
		{"cmdline control", "boot: {cmdline: c2-node}", `boot: {cmdline: "c2-node\nchain http://evil/"}`, "cmdline holds a control character (U+000A)", "", 0},
		{"override uefi", "boot: {cmdline: c2-node}", "boot: {cmdline: c2-node, uefi_binary: ipxe.kpxe}", `unknown uefi_binary "ipxe.kpxe"`, "", 0},
		{"override network", "expect: {gpu: {count: 4}}\n        interfaces: [{name: e0, mac: \"02:00:00:00:00:02\"", "expect: {networks: [prov, ib]}\n        interfaces: [{name: e0, mac: \"02:00:00:00:00:02\"", `expected network "ib" is not defined`, "", 0},
		{"site default profile", "  profile: base\n", "  profile: bsae\n", `profile "bsae" is not defined`, "", 0},
		{"site default protocol", "{protocol: ipmi,", "{protocol: smash,", `unknown BMC protocol "smash"`, "", 0},
		{"rack default credentials", "bmc: {credentials: rack-cred, port: 6230}", "bmc: {credentials: rack-cerd, port: 6230}", `credentials "rack-cerd" are not declared`, "", 0},
		{"bmc port", "port: 8443,", "port: 70000,", "BMC port 70000 is out of range", "", 0},
		{"bmc address", "bmc: {address: 10.9.0.1}", "bmc: {address: https://10.9.0.1/}", "is neither an IP address nor a host name", "", 0},
		{"bmc fingerprint", "bmc: {address: 10.9.0.1}", "bmc: {address: 10.9.0.1, tls: {fingerprint: abc}}", `TLS fingerprint "abc" is not a SHA-256 digest`, "", 0},
		{"tls insecure and ca", "site: one\n", "site: one\ntls: {insecure: true, ca_file: /ca.pem}\n", "TLS insecure is set together with ca_file", "tls:", 0},
		{"no site name", "site: one\n", "description: x\n", "site name is missing", "", 0},
		{"rack without name", "  - rack: r2\n", "  - units: 42\n", "rack has no name", "", 0},
		{"duplicate rack", "  - rack: r2\n", "  - rack: r1\n", `duplicate rack "r1"`, "- rack: r1\n    nodes:\n      - name: n3", 0},
		{"rack units", "  - rack: r2\n", "  - rack: r2\n    units: -4\n", `rack "r2" has -4 units`, "units:", 0},
		{"negative unit", "        unit: 2\n", "        unit: -2\n", `node "n2" is at unit -2`, "", 0},
		{"negative height", "        unit: 2\n", "        unit: 2\n        height: -1\n", `node "n2" has height -1`, "height:", 0},
		{"node without name", "      - name: n3\n", "      - role: gpu\n", "node has no name", "", 0},
		{"no profile anywhere", "  profile: base\n", "", `node "n1" has no profile`, "- name: n1", 2},
		{"no credentials anywhere", "bmc: {protocol: ipmi, credentials: site-cred, vendor: supermicro}", "bmc: {protocol: ipmi, vendor: supermicro}", `node "n3" has no BMC credentials reference`, "{address: 10.9.0.3}", 0},
		{"no interfaces", n1ifc, "interfaces: []", `node "n1" has no interfaces`, "- name: n1", 0},
		{"interface without name", `[{name: e0, mac: "02:00:00:00:00:01"`, `[{mac: "02:00:00:00:00:01"`, "an interface of node \"n1\" has no name", "", 0},
		{"duplicate interface name", n1ifc, `interfaces: [{name: e0, mac: "02:00:00:00:00:01", network: prov, address: 10.1.0.11, pxe: true}, {name: e0, mac: "02:00:00:00:00:09", network: prov}]`, `node "n1" has two interfaces named "e0"`, "", 0},
		{"interface without mac", `{name: e0, mac: "02:00:00:00:00:01", network: prov`, `{name: e0, network: prov`, "interface n1/e0 has no MAC address", "", 0},
		{"interface without network", `mac: "02:00:00:00:00:01", network: prov,`, `mac: "02:00:00:00:00:01",`, "interface n1/e0 has no network", "", 0},
		{"address not an ip", "address: 10.1.0.11,", "address: 10.1.0.11/24,", `address of n1/e0: "10.1.0.11/24" is not an IP address`, "", 0},
		{"address is server", "address: 10.1.0.11,", "address: 10.1.0.1,", "address of n1/e0 is 10.1.0.1, the server address of network \"prov\"", "", 0},
		{"dash mac is fine but eui64 is not", `mac: "02:00:00:00:00:01"`, `mac: "02:00:00:00:00:01:02:03"`, `malformed MAC "02:00:00:00:00:01:02:03"`, "", 0},
		{"bmc on a host address", "bmc: {address: 10.9.0.3}", "bmc: {address: 10.1.0.12}", `BMC address 10.1.0.12 of node "n3" is also the address of n2/e0`, "", 0},
		{"host on a bmc address", "bmc: {address: 10.9.0.1}", "bmc: {address: 10.1.0.12}", `address 10.1.0.12 of n2/e0 is also the BMC address of node "n1"`, "10.1.0.12, pxe", 0},
		{"node password", "bmc: {address: 10.9.0.1}", "bmc: {address: 10.9.0.1, pass: x}", `plain-text secret "pass"`, "", 0},
		{"site token", "site: one\n", "site: one\napi_token: x\n", `plain-text secret "api_token"`, "api_token", 0},
		{"duplicate key", "        unit: 1\n        bmc: {address: 10.9.0.1}", "        unit: 1\n        unit: 3\n        bmc: {address: 10.9.0.1}", `duplicate key "unit"`, "unit: 3", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if !strings.Contains(single, tc.old) {
				t.Fatalf("test bug: %q not in the base site", tc.old)
			}
			body := strings.Replace(single, tc.old, tc.new, 1)
			at := tc.at
			if at == "" {
				at = strings.TrimSpace(strings.SplitN(tc.new, "\n", 2)[0])
			}
			idx := strings.Index(body, at)
			if at == "" || idx < 0 {
				t.Fatalf("test bug: %q not in the changed site", at)
			}
			line := strings.Count(body[:idx], "\n") + 1
			path := writeFile(t, t.TempDir(), "site.yaml", body)
			errs := loadErrors(t, path)
			if tc.count == 0 {
				tc.count = 1
			}
			if len(errs) != tc.count {
				t.Fatalf("want %d error(s), got %d:\n%v", tc.count, len(errs), errs)
			}
			e := errs[0]
			if !strings.Contains(e.Msg, tc.want) || e.Pos.Line != line || e.Pos.File != path || e.Hint == "" {
				t.Errorf("got %s (hint %q)\nwant line %d: %s", e.Pos.String()[len(filepath.Dir(path))+1:]+": "+e.Msg, e.Hint, line, tc.want)
			}
		})
	}
}
