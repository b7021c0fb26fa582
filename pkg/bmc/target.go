// Package bmc drives a node's baseboard management controller through bmclib: power
// status and control, the boot device override (read back after setting, and set once
// more if the BMC dropped or changed it), and the inventory (Redfish resources read with
// gofish, IPMI mc info and FRU). Under the libraries, quirks copes with vendor
// behaviour (428 demanding If-Match, 202 task monitors, session limits). Each operation
// has its own deadline, retries a BMC that is restarting, always logs out, and fails
// with an Error naming the node and the BMC whose text never holds the password and
// whose Kind says which happened: no answer, a refusal (with the BMC's message), or a
// change accepted and not made. Fanout runs an operation on many nodes at once
// without one hung BMC holding up the rest; Run is the operator's fan-out on top of it
// (the lock policy, dry runs, one result per node and the table).
package bmc

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/racklift/racklift/pkg/inventory"
)

// Target is everything needed to reach one node's BMC.
type Target struct {
	Node     string
	Protocol string // redfish or ipmi
	Host     string
	Port     int
	Vendor   string
	Login    inventory.Secret
	// Credential is the name of the inventory's credentials reference, for hints.
	Credential string
	TLS        inventory.TLS
	// TLSScope says where the TLS policy came from ("site" or "node"), for the
	// one-time insecure warning.
	TLSScope string
	// Dir resolves a relative tls.ca_file (the inventory's directory).
	Dir string
}

// URL is how messages name the BMC.
func (t Target) URL() string {
	scheme := "https"
	if t.Protocol == "ipmi" {
		scheme = "ipmi"
	}
	return scheme + "://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// URLFor names a node's BMC as messages do, without resolving its credentials.
func URLFor(n *inventory.Node) string {
	t := Target{Protocol: n.BMC.Protocol, Host: n.BMC.Address, Port: n.BMC.Port}
	if t.Protocol == "" {
		t.Protocol = "redfish"
	}
	if t.Port == 0 {
		t.Port = inventory.DefaultPort(t.Protocol)
	}
	return t.urlIfKnown()
}

// TargetFor resolves a node's BMC from the inventory: address, protocol, port, TLS
// policy (the node's, else the site's) and credentials (through secrets).
func TargetFor(inv *inventory.Inventory, n *inventory.Node, secrets *inventory.Secrets) (Target, error) {
	t := Target{
		Node:     n.Name,
		Protocol: n.BMC.Protocol,
		Host:     n.BMC.Address,
		Port:     n.BMC.Port,
		Vendor:   n.BMC.Vendor,
		TLS:      inv.TLS,
		TLSScope: "site " + inv.Site,
	}
	if t.Protocol == "" {
		t.Protocol = "redfish"
	}
	if t.Port == 0 {
		t.Port = inventory.DefaultPort(t.Protocol)
	}
	if n.BMC.TLS != nil {
		t.TLS = *n.BMC.TLS
		t.TLSScope = "node " + n.Name
	}
	if inv.Path != "" {
		t.Dir = inv.Path
		if fi, err := os.Stat(inv.Path); err == nil && !fi.IsDir() {
			t.Dir = filepath.Dir(inv.Path)
		}
	}
	fail := func(msg, hint string) (Target, error) {
		return t, &Error{Node: n.Name, BMC: t.urlIfKnown(), Msg: msg, Hint: hint, Kind: KindConfig}
	}
	if t.Protocol != "redfish" && t.Protocol != "ipmi" {
		return fail(fmt.Sprintf("unknown BMC protocol %q", t.Protocol), "set bmc.protocol to redfish or ipmi")
	}
	if t.Host == "" {
		return fail("the node has no BMC address", "set bmc.address on the node, its rack's defaults or the site's defaults")
	}
	if n.BMC.Credentials == "" {
		return fail("the node's BMC has no credentials reference", "set bmc.credentials to the name of an entry of the site's credentials")
	}
	login, err := secrets.Resolve(inv, n.BMC.Credentials)
	if err != nil {
		t.Credential = n.BMC.Credentials
		if c := inv.Credential(n.BMC.Credentials); c != nil {
			t.Login.Username = c.Username
		}
		e := &Error{Node: n.Name, BMC: t.urlIfKnown(), Msg: err.Error(), Kind: KindSecret}
		return t, e
	}
	if login.Username == "" {
		return fail(fmt.Sprintf("credential %q has no username", n.BMC.Credentials),
			fmt.Sprintf("set username on credential %q or %s", n.BMC.Credentials, inventory.EnvName(n.BMC.Credentials, "username")))
	}
	t.Login = login
	t.Credential = n.BMC.Credentials
	return t, nil
}

func (t Target) urlIfKnown() string {
	if t.Host == "" {
		return ""
	}
	return t.URL()
}
