package ipxe

import (
	"net/netip"
	"strings"
	"testing"
)

// TestRefusesOperatorsAndControlCharacters: a command line word "&&" (like "||") and
// every control character, CR and DEL included, are refused naming the node; a plain
// space, "&&" inside a word and the printable edge 0x20 and 0x7e are not. Regression
// (issue 20): "&&" and a lone CR went through, and iPXE ran the text after them as a
// command of its own.
func TestRefusesOperatorsAndControlCharacters(t *testing.T) {
	t.Parallel()
	r := renderer(t)
	for _, tc := range []struct {
		name    string
		cmdline string
		msg     string // "" : rendered
	}{
		{name: "&& word", cmdline: "quiet && shell", msg: `holds "&&", which iPXE reads as an operator`},
		{name: "|| word", cmdline: "quiet || shell", msg: `holds "||", which iPXE reads as an operator`},
		{name: "CR", cmdline: "quiet\rshell", msg: "control character (U+000D)"},
		{name: "LF", cmdline: "quiet\nshell", msg: "control character (U+000A)"},
		{name: "NUL", cmdline: "quiet\x00", msg: "control character (U+0000)"},
		{name: "unit separator", cmdline: "quiet\x1f", msg: "control character (U+001F)"},
		{name: "DEL", cmdline: "quiet\x7f", msg: "control character (U+007F)"},
		{name: "&& inside a word", cmdline: "opt=a&&b"},
		{name: "tilde", cmdline: "x=~"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := r.Boot(node("k", "i", tc.cmdline))
			if tc.msg == "" {
				if err != nil || !strings.Contains(string(b), tc.cmdline) {
					t.Fatalf("Boot(%q) = %v; want rendered", tc.cmdline, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), `node "gpu-01"`) {
				t.Fatalf("Boot(%q) error %v; want one naming gpu-01 with %q", tc.cmdline, err, tc.msg)
			}
		})
	}
	// The node name, MAC and URLs are checked the same way.
	np := node("k", "http://x/i\rshell", "")
	if _, err := r.Boot(np); err == nil || !strings.Contains(err.Error(), "initrd") {
		t.Errorf("CR in the initrd URL: %v", err)
	}
}

// TestBaseFromScriptURL: the script URL's scheme and host are the base; without a
// usable one, the reservation's server on the default port; else nothing.
func TestBaseFromScriptURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script, server, want string
	}{
		{script: "https://boot.example:9443/ipxe/m", server: "10.202.0.2", want: "https://boot.example:9443"},
		{script: "/ipxe/m", server: "10.202.0.2", want: "http://10.202.0.2:8080"},
		{script: "http://[::1/x", server: "10.202.0.2", want: "http://10.202.0.2:8080"},
		{script: "", server: "", want: ""},
	} {
		np := node("k", "i", "")
		np.Boot.ScriptURL = tc.script
		np.Reservation.Server = netip.Addr{}
		if tc.server != "" {
			np.Reservation.Server = netip.MustParseAddr(tc.server)
		}
		if got := Base(np); got != tc.want {
			t.Errorf("Base(script %q, server %q) = %q, want %q", tc.script, tc.server, got, tc.want)
		}
	}
}
