package bmc_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/bmc"
	"github.com/racklift/racklift/pkg/inventory"
)

// TargetFor resolves protocol and port defaults, the node's TLS policy over the site's
// (and says which, for the insecure warning), the inventory's directory, and the login;
// what is missing fails naming the node, kind config or secret.
func TestTargetFor(t *testing.T) {
	t.Parallel()
	f, inv, secrets := loadFleet(t, 2, func(s *lab.Site, _ *lab.Fleet) {
		s.TLS = "insecure"
		s.Nodes[0].TLS = "" // the site's
	})
	dir := inv.Path

	tg, err := bmc.TargetFor(inv, inv.Nodes[0], secrets)
	if err != nil {
		t.Fatal(err)
	}
	want := bmc.Target{Node: "node-0001", Protocol: "redfish", Host: f.BMCs[0].Host(), Port: f.BMCs[0].Port(),
		Login: inventory.Secret{Username: labUser, Password: labPassword}, Credential: "lab-bmc",
		TLS: inventory.TLS{Insecure: true}, TLSScope: "site lab", Dir: dir}
	if tg != want {
		t.Errorf("site TLS:\n got %+v\nwant %+v", tg, want)
	}
	tg, err = bmc.TargetFor(inv, inv.Nodes[1], secrets)
	if err != nil || tg.TLS.Fingerprint != f.BMCs[1].Fingerprint() || tg.TLS.Insecure || tg.TLSScope != "node node-0002" {
		t.Errorf("node TLS: %+v %v", tg, err)
	}

	// The inventory loaded from a file: its directory.
	byFile := *inv
	byFile.Path = filepath.Join(dir, "site.yaml")
	if tg, err := bmc.TargetFor(&byFile, inv.Nodes[0], secrets); err != nil || tg.Dir != dir {
		t.Errorf("inventory file: dir %q, want %q (%v)", tg.Dir, dir, err)
	}

	node := func(edit func(*inventory.BMC)) *inventory.Node {
		n := *inv.Nodes[0]
		edit(&n.BMC)
		return &n
	}
	for _, tc := range []struct {
		name    string
		n       *inventory.Node
		secrets *inventory.Secrets
		proto   string
		port    int
		kind    bmc.ErrorKind
		msg     string
		url     string
	}{
		{name: "protocol default", n: node(func(b *inventory.BMC) { b.Protocol, b.Port = "", 0 }), proto: "redfish", port: 443},
		{name: "ipmi port default", n: node(func(b *inventory.BMC) { b.Protocol, b.Port = "ipmi", 0 }), proto: "ipmi", port: 623},
		{name: "unknown protocol", n: node(func(b *inventory.BMC) { b.Protocol = "snmp" }), kind: bmc.KindConfig,
			msg: `unknown BMC protocol "snmp"`, url: "https://" + f.BMCs[0].Addr()},
		{name: "no address", n: node(func(b *inventory.BMC) { b.Address = "" }), kind: bmc.KindConfig, msg: "the node has no BMC address"},
		{name: "no credentials", n: node(func(b *inventory.BMC) { b.Credentials = "" }), kind: bmc.KindConfig,
			msg: "no credentials reference", url: "https://" + f.BMCs[0].Addr()},
		{name: "no password", n: inv.Nodes[0], secrets: &inventory.Secrets{File: filepath.Join(t.TempDir(), "none.yaml")},
			kind: bmc.KindSecret, msg: "no password", url: "https://" + f.BMCs[0].Addr()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := secrets
			if tc.secrets != nil {
				s = tc.secrets
			}
			tg, err := bmc.TargetFor(inv, tc.n, s)
			if tc.kind == "" {
				if err != nil || tg.Protocol != tc.proto || tg.Port != tc.port {
					t.Errorf("%+v %v; want %s port %d", tg, err, tc.proto, tc.port)
				}
				return
			}
			var be *bmc.Error
			if !errors.As(err, &be) || be.Kind != tc.kind || be.Node != "node-0001" || !strings.Contains(be.Msg, tc.msg) || be.BMC != tc.url {
				t.Fatalf("%v (%+v); want kind %s, %q, BMC %q", err, be, tc.kind, tc.msg, tc.url)
			}
			if tc.kind == bmc.KindSecret && (tg.Login.Username != labUser || tg.Credential != "lab-bmc" || tg.Login.Password != "") {
				t.Errorf("without a password the target still names user and credential: %+v", tg)
			}
		})
	}

	// A credential without a username.
	inv.Credential("lab-bmc").Username = ""
	_, err = bmc.TargetFor(inv, inv.Nodes[0], secrets)
	var be *bmc.Error
	if !errors.As(err, &be) || be.Kind != bmc.KindConfig || !strings.Contains(be.Msg, `credential "lab-bmc" has no username`) ||
		!strings.Contains(be.Hint, "RACKLIFT_CRED_LAB_BMC_USERNAME") {
		t.Errorf("no username: %v", err)
	}
}
