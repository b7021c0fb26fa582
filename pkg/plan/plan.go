// Package plan turns a validated inventory into what each service and each agent needs:
// Build computes the DHCP reservation, the boot files and iPXE script URL of every node and
// the VLAN interfaces the provisioning host needs; beside it, ExpectationsFor derives what
// a node's agent checks, NodeNetworks the networks a node must be on and HostNetworks
// those of the provisioning host. DHCP, TFTP, HTTP boot, netsetup and the agent read these
// results; they never interpret the inventory themselves.
package plan

import (
	"net"
	"net/netip"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/inventory"
)

// Boot binaries served over TFTP from pxe/, by client architecture.
const (
	FileBIOS      = "undionly.kpxe" // legacy BIOS PXE (arch 0)
	FileUEFI      = "ipxe.efi"      // x86-64 UEFI (arch 7, 9)
	FileUEFISNP   = "snponly.efi"   // x86-64 UEFI, using the firmware's own NIC driver
	FileARM64UEFI = "arm64/ipxe.efi"
)

// DefaultHTTPPort is where serve answers iPXE scripts, artifacts and install files.
const DefaultHTTPPort = 8080

// Options are the provisioning host's choices that are not in the inventory.
type Options struct {
	HTTPPort int // default DefaultHTTPPort
}

// Plan is the whole site's plan.
type Plan struct {
	Site  string          `json:"site"`
	Nodes []*NodePlan     `json:"nodes"`
	Host  []HostInterface `json:"host_interfaces"` // what the provisioning host needs

	byMAC  map[string]*NodePlan // string(net.HardwareAddr) of the PXE interface
	byName map[string]*NodePlan
}

// NodePlan is what one node gets.
type NodePlan struct {
	Node        string      `json:"node"`
	Rack        string      `json:"rack"`
	Role        string      `json:"role"`
	Protected   bool        `json:"protected,omitempty"`
	Maintenance bool        `json:"maintenance,omitempty"`
	Profile     string      `json:"profile,omitempty"`
	Reservation Reservation `json:"reservation"`
	Boot        Boot        `json:"boot"`
	// Login is who the install creates, with which SSH keys (inventory login:); nil: none.
	Login *inventory.Login `json:"login,omitempty"`
}

// Reservation is the DHCP answer for the node's PXE interface.
type Reservation struct {
	Mode         string           `json:"mode"` // reservation, proxy or off
	Network      string           `json:"network"`
	Interface    string           `json:"interface"`
	MAC          net.HardwareAddr `json:"-"`
	MACString    string           `json:"mac"`
	IP           netip.Addr       `json:"ip"`
	Prefix       netip.Prefix     `json:"prefix"` // the network, e.g. 10.10.0.0/22
	Gateway      netip.Addr       `json:"gateway,omitzero"`
	DNS          []netip.Addr     `json:"dns,omitempty"`
	Domain       string           `json:"domain,omitempty"`
	MTU          int              `json:"mtu"`
	Hostname     string           `json:"hostname"`
	LeaseSeconds int              `json:"lease_seconds"`
	Server       netip.Addr       `json:"server"` // provisioning host on this network: DHCP server id, TFTP and HTTP
}

// Boot is how the node boots from the network.
type Boot struct {
	BIOSFile    string `json:"bios_file"`     // TFTP file for arch 0
	UEFIFile    string `json:"uefi_file"`     // TFTP file for arch 7/9
	ARM64File   string `json:"arm64_file"`    // TFTP file for arch 11
	HTTPBootURL string `json:"http_boot_url"` // UEFI HTTP boot clients: the iPXE binary over HTTP
	ScriptURL   string `json:"script_url"`    // what iPXE chains to
	Kernel      string `json:"kernel,omitempty"`
	Initrd      string `json:"initrd,omitempty"`
	Cmdline     string `json:"cmdline,omitempty"`
	Install     string `json:"install,omitempty"` // install template name, empty: none
	// RootDevice: the installer's disk (boot.root_device).
	RootDevice expect.RootDeviceHints `json:"root_device,omitzero"`
}

// HostInterface is an interface the provisioning host needs on a network (a VLAN
// sub-interface on the trunk when VLAN is non-zero) so serve can listen there.
type HostInterface struct {
	Network string       `json:"network"`
	Role    string       `json:"role"`
	VLAN    int          `json:"vlan,omitempty"`
	MTU     int          `json:"mtu"`
	Address netip.Prefix `json:"address"` // Network.Server with the network's prefix length
}
