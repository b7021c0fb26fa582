package provisioner

import (
	"context"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/pki"
)

// TestParseAgentURL: --agent-url takes https://HOST:PORT and nothing else; a bad one is
// an error naming the flag and what to give.
func TestParseAgentURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want, host string // want "": an error
		why            string // in the error
	}{
		{in: "https://10.204.0.1:8443", want: "https://10.204.0.1:8443", host: "10.204.0.1"},
		{in: "https://10.204.0.1:8443/", want: "https://10.204.0.1:8443", host: "10.204.0.1"},
		{in: "https://prov.lab:443", want: "https://prov.lab:443", host: "prov.lab"},
		{in: "https://[fd00::1]:8443", want: "https://[fd00::1]:8443", host: "fd00::1"},
		{in: "http://10.204.0.1:8443", why: "not https"},
		{in: "10.204.0.1:8443", why: "not a URL"},
		{in: "prov.lab:8443", why: "not https"},
		{in: "https://10.204.0.1", why: "no port"},
		{in: "https://10.204.0.1:0", why: "no port"},
		{in: "https://10.204.0.1:70000", why: "no port"},
		{in: "https://:8443", why: "no host"},
		{in: "https://10.204.0.1:8443/agent", why: "nothing but"},
		{in: "https://u:p@10.204.0.1:8443", why: "nothing but"},
		{in: "https://10.204.0.1:8443?x=1", why: "nothing but"},
		{in: "https://10.204.0.1:8443#f", why: "nothing but"},
		{in: "https://10.204.0.1:84%43", why: "not a URL"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, host, err := parseAgentURL(tc.in)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), "--agent-url") || !strings.Contains(err.Error(), tc.why) {
					t.Errorf("parseAgentURL(%q) = %q, %v; want an error naming --agent-url saying %q", tc.in, got, err, tc.why)
				}
				return
			}
			if err != nil || got != tc.want || host != tc.host {
				t.Errorf("parseAgentURL(%q) = %q, %q, %v; want %q, %q", tc.in, got, host, err, tc.want, tc.host)
			}
		})
	}
}

// TestAgentURLToldToNodes: with --agent-url (a balancer's address) a node's boot
// arguments name it as racklift.api, and serve's certificate names its host, so the
// agent's pinned check of the name passes through the balancer. A bad one fails Open
// before the state directory is touched.
func TestAgentURLToldToNodes(t *testing.T) {
	t.Parallel()
	c := openCore(t, Config{AgentListen: "127.0.0.1:0", Hosts: []string{"127.0.0.1"}, AgentURL: "https://10.204.0.1:8443/"}, "lab-01")
	if got := c.AgentURL(); got != "https://10.204.0.1:8443" {
		t.Errorf("AgentURL = %q, want the balancer's https://10.204.0.1:8443", got)
	}
	if _, err := c.Up(context.Background(), api.UpRequest{Selectors: []string{"lab-01"}}); err != nil {
		t.Fatal(err)
	}
	tick(t, c) // power cycled: pxe, with its bootstrap
	args, err := c.BootArgs("lab-01", "52:54:00:09:00:00", netip.MustParseAddr("10.204.0.11"))
	if err != nil {
		t.Fatal(err)
	}
	if want := pki.CmdlineAPI + "=https://10.204.0.1:8443"; !slices.Contains(args, want) {
		t.Errorf("boot args %q, want %s", args, want)
	}
	leaf := c.PKI.Server.Leaf
	for _, host := range []string{"127.0.0.1", "10.204.0.1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("serve's certificate does not name %s: %v", host, err)
		}
	}

	dir := t.TempDir()
	if _, err := Open(Config{StateDir: dir, AgentListen: "127.0.0.1:0", AgentURL: "http://10.204.0.1:8443", Power: &countPower{}}); err == nil || !strings.Contains(err.Error(), "--agent-url") {
		t.Errorf("Open with --agent-url http://...: %v, want an error naming --agent-url", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a bad --agent-url left %v in the state directory", ents)
	}
}
