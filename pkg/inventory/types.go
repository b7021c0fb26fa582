// Package inventory loads and validates a site's rack inventory: networks, profiles,
// credentials references, racks and nodes, keeping the file:line:col of every value so
// errors point at the line an ops engineer has to fix.
package inventory

import (
	"net"
	"net/netip"

	"github.com/racklift/racklift/pkg/expect"
)

// Inventory is a loaded site with defaults applied and references resolved.
type Inventory struct {
	Site        string
	Path        string // file or directory it was loaded from
	Files       []string
	Networks    []*Network
	Profiles    []*Profile
	Credentials []*Credential
	Racks       []*Rack
	Nodes       []*Node // every node, in file order
	TLS         TLS     // site-wide BMC TLS policy

	Switches []*Switch // the site's and the racks' switches (switches.go)
	Uplink   *Uplink   // the provisioning host's own cabling; nil: not written

	site          *siteFile
	nodeByName    map[string]*Node
	nodeByMAC     map[string]owner // key: string(net.HardwareAddr)
	networkByName map[string]*Network
	profileByName map[string]*Profile
	credByName    map[string]*Credential
	switchByName  map[string]*Switch
}

// Network is one L2/L3 segment the site uses.
type Network struct {
	Name    string   `yaml:"name" json:"name"`
	VLAN    int      `yaml:"vlan,omitempty" json:"vlan,omitempty"` // 0: untagged
	CIDR    string   `yaml:"cidr" json:"cidr"`
	Gateway string   `yaml:"gateway,omitempty" json:"gateway,omitempty"`
	MTU     int      `yaml:"mtu,omitempty" json:"mtu,omitempty"` // default 1500
	Role    string   `yaml:"role" json:"role"`                   // provisioning, storage, bmc, compute, oob, management
	DNS     []string `yaml:"dns,omitempty" json:"dns,omitempty"`
	Domain  string   `yaml:"domain,omitempty" json:"domain,omitempty"`
	DHCP    *DHCP    `yaml:"dhcp,omitempty" json:"dhcp,omitempty"`
	// Server is the provisioning host's address on this network (where serve listens).
	Server string `yaml:"server,omitempty" json:"server,omitempty"`

	Prefix netip.Prefix `yaml:"-" json:"-"`
	src    source
}

// DHCP says how nodes on a provisioning network get addresses and boot options.
type DHCP struct {
	Mode  string `yaml:"mode" json:"mode"`                       // reservation, proxy or off
	Range string `yaml:"range,omitempty" json:"range,omitempty"` // "first-last", for proxy/off exports
	Lease string `yaml:"lease,omitempty" json:"lease,omitempty"` // Go duration, default 12h
}

// Profile is what a node boots and what the node agent must find on it.
type Profile struct {
	Name   string `yaml:"name" json:"name"`
	Boot   Boot   `yaml:"boot,omitempty" json:"boot"`
	Expect Expect `yaml:"expect,omitempty" json:"expect"`
	Image  *Image `yaml:"image,omitempty" json:"image,omitempty"` // nil: a stateless node
	Login  *Login `yaml:"login,omitempty" json:"login,omitempty"` // nil: the site's (login.go)
	src    source
}

// Image is the OS a profile deploys to the node's disk after the ramdisk's checks pass
// (`provision image import` prints file and sha256).
type Image struct {
	File   string `yaml:"file" json:"file"`     // path under the artifacts directory, or URL
	SHA256 string `yaml:"sha256" json:"sha256"` // of the raw image; required
	// Format is raw, zstd or gzip; default by the file's extension.
	Format     string                 `yaml:"format,omitempty" json:"format,omitempty"`
	Size       int64                  `yaml:"size,omitempty" json:"size,omitempty"` // raw bytes, when known
	RootDevice expect.RootDeviceHints `yaml:"root_device,omitempty" json:"root_device,omitzero"`
}

// Boot is the network boot of a profile.
type Boot struct {
	Kernel  string `yaml:"kernel,omitempty" json:"kernel,omitempty"`   // path under the artifacts dir, or URL
	Initrd  string `yaml:"initrd,omitempty" json:"initrd,omitempty"`   // path under the artifacts dir, or URL
	Cmdline string `yaml:"cmdline,omitempty" json:"cmdline,omitempty"` // kernel command line
	Install string `yaml:"install,omitempty" json:"install,omitempty"` // template under templates/install, e.g. ubuntu-autoinstall
	// RootDevice picks the disk the installer (Install) puts the OS on, with the same
	// hints as an image's; none: the smallest non-removable disk, never every disk.
	RootDevice expect.RootDeviceHints `yaml:"root_device,omitempty" json:"root_device,omitzero"`
	// UEFIBinary is the iPXE build sent to x86-64 UEFI clients: ipxe.efi (default) or snponly.efi.
	UEFIBinary string `yaml:"uefi_binary,omitempty" json:"uefi_binary,omitempty"`
}

// Expect is what the node agent checks. Its GPU and storage parts are the wire types
// (pkg/expect), so what a profile says is what the agent is sent.
type Expect struct {
	GPU      *expect.GPU      `yaml:"gpu,omitempty" json:"gpu,omitempty"`
	Storage  []expect.Storage `yaml:"storage,omitempty" json:"storage,omitempty"`
	Networks []string         `yaml:"networks,omitempty" json:"networks,omitempty"` // names of networks that must answer
	Peers    []string         `yaml:"peers,omitempty" json:"peers,omitempty"`       // node names that must be reachable
}

// Credential names a BMC login. Only the username may be written in the inventory;
// the password comes from the environment or a 0600 secrets file (see secrets.go).
type Credential struct {
	Name     string `yaml:"name" json:"name"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	src      source
}

// TLS is how racklift verifies a BMC's HTTPS certificate.
type TLS struct {
	Insecure    bool   `yaml:"insecure,omitempty" json:"insecure,omitempty"`       // accept any certificate (warned once)
	CAFile      string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`         // PEM bundle
	Fingerprint string `yaml:"fingerprint,omitempty" json:"fingerprint,omitempty"` // SHA-256 of the leaf certificate, hex
}

// BMC is a node's baseboard management controller.
type BMC struct {
	Address     string `yaml:"address,omitempty" json:"address,omitempty"`
	Protocol    string `yaml:"protocol,omitempty" json:"protocol,omitempty"` // redfish or ipmi
	Port        int    `yaml:"port,omitempty" json:"port,omitempty"`         // default 443 (redfish), 623 (ipmi)
	Credentials string `yaml:"credentials,omitempty" json:"credentials,omitempty"`
	Vendor      string `yaml:"vendor,omitempty" json:"vendor,omitempty"` // supermicro, dell, hpe, lenovo, ... (quirks)
	TLS         *TLS   `yaml:"tls,omitempty" json:"tls,omitempty"`
}

// Interface is one NIC of a node.
type Interface struct {
	Name    string `yaml:"name" json:"name"`
	MAC     string `yaml:"mac" json:"mac"`
	Network string `yaml:"network" json:"network"`
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	PXE     bool   `yaml:"pxe,omitempty" json:"pxe,omitempty"`
	Switch  string `yaml:"switch,omitempty" json:"switch,omitempty"` // cabling: a switch of switches:
	Port    string `yaml:"port,omitempty" json:"port,omitempty"`     // cabling: that switch's port, e.g. Ethernet12

	HW   net.HardwareAddr `yaml:"-" json:"-"`
	Addr netip.Addr       `yaml:"-" json:"-"`
	src  source
}

// Defaults are inherited site → rack → node; a value set lower wins.
type Defaults struct {
	Role      string            `yaml:"role,omitempty" json:"role,omitempty"`
	Profile   string            `yaml:"profile,omitempty" json:"profile,omitempty"`
	Labels    map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	BMC       *BMC              `yaml:"bmc,omitempty" json:"bmc,omitempty"`
	Protected *bool             `yaml:"protected,omitempty" json:"protected,omitempty"`
}

// Rack holds nodes; a rack file is one Rack.
type Rack struct {
	Name     string   `yaml:"rack" json:"rack"`
	Location string   `yaml:"location,omitempty" json:"location,omitempty"`
	Units    int      `yaml:"units,omitempty" json:"units,omitempty"` // rack height in U, default 42
	Defaults Defaults `yaml:"defaults,omitempty" json:"defaults"`
	Nodes    []*Node  `yaml:"nodes" json:"nodes"`
	File     string   `yaml:"-" json:"file"`

	Switches []*Switch `yaml:"switches,omitempty" json:"switches,omitempty"` // the rack's own (top-of-rack) switches
	src      source
}

// Overrides change a node's profile for that node only.
type Overrides struct {
	Boot   *Boot   `yaml:"boot,omitempty" json:"boot,omitempty"`
	Expect *Expect `yaml:"expect,omitempty" json:"expect,omitempty"`
}

// Node is one server. After Load, BMC, Role, Profile, Labels and Protected hold the
// effective values (site and rack defaults applied), and Spec the effective profile.
type Node struct {
	Name        string            `yaml:"name" json:"name"`
	Unit        int               `yaml:"unit,omitempty" json:"unit,omitempty"`
	Height      int               `yaml:"height,omitempty" json:"height,omitempty"` // default 1
	Role        string            `yaml:"role,omitempty" json:"role,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Protected   bool              `yaml:"protected,omitempty" json:"protected,omitempty"`     // in use: power actions need --force
	Maintenance bool              `yaml:"maintenance,omitempty" json:"maintenance,omitempty"` // locked for work: power actions need --force
	BMC         BMC               `yaml:"bmc,omitempty" json:"bmc"`
	Interfaces  []*Interface      `yaml:"interfaces" json:"interfaces"`
	Profile     string            `yaml:"profile,omitempty" json:"profile,omitempty"`
	Overrides   *Overrides        `yaml:"overrides,omitempty" json:"overrides,omitempty"`

	Rack string   `yaml:"-" json:"rack"`
	Spec *Profile `yaml:"-" json:"-"` // effective profile, overrides applied
	src  source
}
