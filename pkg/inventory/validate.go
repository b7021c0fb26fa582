package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/imagestore"
)

// Allowed values of the enumerated fields; the schema and the docs list the same.
var (
	NetworkRoles = []string{"provisioning", "storage", "bmc", "compute", "management", "oob"}
	DHCPModes    = []string{"reservation", "proxy", "off"}
	BMCProtocols = []string{"redfish", "ipmi"}
	UEFIBinaries = []string{"ipxe.efi", "snponly.efi"}
)

// Limits checked by validation.
const (
	MinVLAN = 1
	MaxVLAN = 4094
	MinMTU  = 576
	MaxMTU  = 9216
)

var (
	hostnameRe = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	dnsNameRe  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
	versionRe  = regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,3}$`)
	sha256Re   = regexp.MustCompile(`^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$`)
)

// owner is a node and one of its interfaces: what a MAC or an address belongs to.
type owner struct {
	node *Node
	ifc  *Interface
}

func (o owner) String() string { return o.node.Name + "/" + o.ifc.Name }

// validator checks a built inventory. Every check uses maps keyed by the value that must
// be unique, so a 10,000-node site validates in linear time.
type validator struct {
	inv  *Inventory
	errs *Errors

	racks    map[string]*Rack
	macs     map[string]owner     // string(HardwareAddr)
	ips      map[netip.Addr]owner // interface addresses
	bmcs     map[string]*Node     // "address:port", lower case
	bmcIPs   map[netip.Addr]*Node // BMC addresses that are IPs (loopback aside)
	pxeNets  map[*Network]*Node   // networks nodes PXE boot on, with one example node
	reported map[*Network]bool    // networks whose missing server is already reported
	netAddrs map[*Network]netAddrs
}

// validate adds every semantic defect of a built inventory to errs.
func (inv *Inventory) validate(errs *Errors) {
	v := &validator{
		inv:      inv,
		errs:     errs,
		racks:    map[string]*Rack{},
		macs:     make(map[string]owner, len(inv.Nodes)*2),
		ips:      make(map[netip.Addr]owner, len(inv.Nodes)*2),
		bmcs:     make(map[string]*Node, len(inv.Nodes)),
		bmcIPs:   make(map[netip.Addr]*Node, len(inv.Nodes)),
		pxeNets:  map[*Network]*Node{},
		reported: map[*Network]bool{},
		netAddrs: map[*Network]netAddrs{},
	}
	v.networks()
	v.credentials()
	v.profiles()
	if inv.site != nil {
		v.tls(inv.site.src, []string{"tls"}, &inv.site.TLS)
		if inv.site.Login != nil {
			v.login(inv.site.src, []string{"login"}, inv.site.Login)
		}
		v.defaults(inv.site.src, &inv.site.Defaults)
	}
	for _, r := range inv.Racks {
		if r != nil {
			v.rack(r)
		}
	}
	for _, n := range inv.Nodes {
		v.node(n)
	}
	v.cabling()
	v.pxeServers()
}

func (v *validator) add(p Pos, hint, format string, args ...any) {
	v.errs.add(p, hint, format, args...)
}

// ---- networks ----

func (v *validator) networks() {
	vlans := map[int]*Network{}
	var valid []*Network
	for _, n := range v.inv.Networks {
		if n == nil {
			continue
		}
		switch first := v.inv.networkByName[n.Name]; {
		case n.Name == "":
			v.add(n.Pos(), "add 'name: <network>' (e.g. provisioning, storage, bmc)", "network has no name")
		case first != n:
			v.add(n.PosOf("name"), "network names must be unique; rename or merge one of them",
				"duplicate network name %q: also at %s", n.Name, first.PosOf("name"))
		}
		label := n.Name
		if n.VLAN != 0 && (n.VLAN < MinVLAN || n.VLAN > MaxVLAN) {
			v.add(n.PosOf("vlan"), "802.1Q VLAN ids are 1-4094; leave vlan out for an untagged network",
				"VLAN %d of network %q is outside %d-%d", n.VLAN, label, MinVLAN, MaxVLAN)
		} else if n.VLAN != 0 {
			if first, dup := vlans[n.VLAN]; dup {
				v.add(n.PosOf("vlan"), "each network needs its own VLAN; check the switch plan",
					"VLAN %d of network %q is also used by network %q at %s", n.VLAN, label, first.Name, first.PosOf("vlan"))
			} else {
				vlans[n.VLAN] = n
			}
		}
		if n.MTU < MinMTU || n.MTU > MaxMTU {
			v.add(n.PosOf("mtu"), "use 1500 for standard Ethernet or 9000 for jumbo frames (storage)",
				"MTU %d of network %q is outside %d-%d", n.MTU, label, MinMTU, MaxMTU)
		}
		switch {
		case n.Role == "":
			v.add(n.Pos(), "add 'role: <role>', one of "+strings.Join(NetworkRoles, ", "), "network %q has no role", label)
		case !slices.Contains(NetworkRoles, n.Role):
			v.add(n.PosOf("role"), suggest(n.Role, NetworkRoles), "unknown role %q for network %q", n.Role, label)
		}
		if v.cidr(n) {
			valid = append(valid, n)
		}
	}
	// Overlapping networks make "which network is this address on" ambiguous.
	for i, a := range valid {
		for _, b := range valid[:i] {
			if a.Prefix.Overlaps(b.Prefix) {
				v.add(a.PosOf("cidr"), "give each network its own address range",
					"network %q (%s) overlaps network %q (%s at %s)", a.Name, a.Prefix, b.Name, b.Prefix, b.PosOf("cidr"))
			}
		}
	}
}

// cidr checks a network's prefix and the addresses that must lie in it; it reports
// whether the prefix is usable for checks of interface addresses.
func (v *validator) cidr(n *Network) bool {
	label := n.Name
	if n.CIDR == "" {
		v.add(n.Pos(), "add 'cidr: <network>/<length>', e.g. 10.10.0.0/22", "network %q has no cidr", label)
		return false
	}
	p, err := netip.ParsePrefix(n.CIDR)
	if err != nil {
		v.add(n.PosOf("cidr"), "write it as address/length, e.g. 10.10.0.0/22", "cidr %q of network %q is not a valid network", n.CIDR, label)
		n.Prefix = netip.Prefix{}
		return false
	}
	if p.Masked() != p {
		v.add(n.PosOf("cidr"), fmt.Sprintf("did you mean %s?", p.Masked()),
			"cidr %q of network %q has host bits set", n.CIDR, label)
	}
	if n.Gateway != "" {
		if a, ok := v.addr(n.Gateway, n.PosOf("gateway"), func() string { return "gateway of network " + quote(label) }); ok {
			v.inNetwork(n, a, n.PosOf("gateway"), func() string { return "gateway" })
		}
	}
	var server netip.Addr
	if n.Server != "" {
		if a, ok := v.addr(n.Server, n.PosOf("server"), func() string { return "server of network " + quote(label) }); ok && v.inNetwork(n, a, n.PosOf("server"), func() string { return "server address" }) {
			server = a
			if g, err := netip.ParseAddr(n.Gateway); err == nil && g == a {
				v.add(n.PosOf("server"), "the server is the provisioning host's own address on this network, not the router's",
					"server address %s of network %q is its gateway", a, label)
			}
		}
	}
	for i, d := range n.DNS {
		pos := n.src.posAt("dns", fmt.Sprint(i))
		if _, err := netip.ParseAddr(d); err != nil {
			v.add(pos, "write an IP address, e.g. 10.10.0.1", "DNS server %q of network %q is not an IP address", d, label)
		}
	}
	if d := n.DHCP; d != nil {
		switch {
		case d.Mode == "":
			v.add(n.src.posAt("dhcp"), "add 'mode:' one of "+strings.Join(DHCPModes, ", "), "DHCP of network %q has no mode", label)
		case !slices.Contains(DHCPModes, d.Mode):
			v.add(n.src.posAt("dhcp", "mode"), suggest(d.Mode, DHCPModes), "unknown DHCP mode %q for network %q", d.Mode, label)
		case d.Mode != "off" && n.Server == "":
			v.add(n.src.posAt("dhcp"), fmt.Sprintf("add 'server: <address of the provisioning host in %s>' to the network", p.Masked()),
				"network %q serves DHCP (mode %s) but has no server address", label, d.Mode)
			v.reported[n] = true
		}
		if d.Lease != "" {
			if l, err := time.ParseDuration(d.Lease); err != nil || l <= 0 {
				v.add(n.src.posAt("dhcp", "lease"), "write a duration such as 12h or 30m", "DHCP lease %q of network %q is not a positive duration", d.Lease, label)
			}
		}
		if d.Range != "" {
			v.dhcpRange(n, d.Range, server)
		}
	}
	return true
}

func (v *validator) dhcpRange(n *Network, r string, server netip.Addr) {
	pos := n.src.posAt("dhcp", "range")
	a, b, ok := strings.Cut(r, "-")
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		v.add(pos, "write it as first-last, e.g. 10.10.0.100-10.10.0.199", "DHCP range %q of network %q is not first-last", r, n.Name)
		return
	}
	switch {
	case !n.Prefix.Contains(first) || !n.Prefix.Contains(last):
		v.add(pos, fmt.Sprintf("both ends must lie in %s", n.Prefix), "DHCP range %s of network %q is outside %s", r, n.Name, n.Prefix)
	case last.Less(first):
		v.add(pos, "write the lower address first", "DHCP range %s of network %q ends before it starts", r, n.Name)
	case server.IsValid() && !server.Less(first) && !last.Less(server):
		v.add(pos, "move the range so it excludes the server address", "DHCP range %s of network %q contains the server address %s", r, n.Name, server)
	}
}

// addr parses an address, reporting a malformed one.
func (v *validator) addr(s string, pos Pos, what func() string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.add(pos, "write a plain IP address without a prefix length, e.g. 10.10.0.21", "%s: %q is not an IP address", what(), s)
		return a, false
	}
	return a.Unmap(), true
}

// inNetwork reports an address outside n or equal to its network or broadcast address.
func (v *validator) inNetwork(n *Network, a netip.Addr, pos Pos, what func() string) bool {
	p := n.Prefix
	if !p.IsValid() {
		return false
	}
	if !p.Contains(a) {
		v.add(pos, fmt.Sprintf("use an address inside %s, or put the interface on the network that holds %s", p, a),
			"%s %s is outside network %q (%s)", what(), a, n.Name, p)
		return false
	}
	if a.Is4() && p.Bits() <= 30 {
		if a == p.Addr() {
			v.add(pos, fmt.Sprintf("the first address of %s names the network itself; hosts start at %s", p, p.Addr().Next()),
				"%s %s is the network address of %q (%s)", what(), a, n.Name, p)
			return false
		}
		if b := broadcast(p); a == b {
			v.add(pos, fmt.Sprintf("the last address of %s is broadcast; hosts end at %s", p, b.Prev()),
				"%s %s is the broadcast address of %q (%s)", what(), a, n.Name, p)
			return false
		}
	}
	return true
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := ^uint32(0) >> p.Bits()
	x := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
}

// pxeServers reports, once per network, PXE-booting nodes on a network without a server
// address: their iPXE script URL needs it.
func (v *validator) pxeServers() {
	for _, n := range v.inv.Networks {
		ex, ok := v.pxeNets[n]
		if !ok || n.Server != "" || v.reported[n] {
			continue
		}
		v.add(n.Pos(), fmt.Sprintf("add 'server: <address of the provisioning host in %s>' to network %q", n.CIDR, n.Name),
			"network %q has PXE-booting nodes (e.g. %s) but no server address to boot from", n.Name, ex.Name)
	}
}

// ---- credentials, TLS, profiles ----

func (v *validator) credentials() {
	for _, c := range v.inv.Credentials {
		if c == nil {
			continue
		}
		switch first := v.inv.credByName[c.Name]; {
		case c.Name == "":
			v.add(c.Pos(), "add 'name: <credential>'; nodes refer to it with bmc.credentials", "credential has no name")
		case first != c:
			v.add(c.src.posAt("name"), "credential names must be unique", "duplicate credential %q: also at %s", c.Name, first.src.posAt("name"))
		}
	}
}

func (v *validator) tls(src source, path []string, t *TLS) {
	if t == nil {
		return
	}
	if t.Fingerprint != "" && !sha256Re.MatchString(t.Fingerprint) {
		v.add(src.posAt(append(path, "fingerprint")...), "use the SHA-256 of the certificate: 64 hex digits, colons allowed ('openssl x509 -noout -fingerprint -sha256')",
			"TLS fingerprint %q is not a SHA-256 digest", t.Fingerprint)
	}
	if t.Insecure && (t.Fingerprint != "" || t.CAFile != "") {
		v.add(src.posAt(append(path, "insecure")...), "drop 'insecure: true' to verify with the CA file or fingerprint",
			"TLS insecure is set together with ca_file or fingerprint")
	}
}

func (v *validator) profiles() {
	for _, p := range v.inv.Profiles {
		if p == nil {
			continue
		}
		switch first := v.inv.profileByName[p.Name]; {
		case p.Name == "":
			v.add(p.Pos(), "add 'name: <profile>'; nodes refer to it with profile:", "profile has no name")
		case first != p:
			v.add(p.src.posAt("name"), "profile names must be unique", "duplicate profile %q: also at %s", p.Name, first.src.posAt("name"))
		}
		v.boot(p.src, []string{"boot"}, &p.Boot)
		v.expect(p.src, []string{"expect"}, &p.Expect)
		if p.Image != nil {
			v.image(p.src, p.Image)
		}
		if p.Login != nil {
			v.login(p.src, []string{"login"}, p.Login)
		}
	}
}

var imageSHA256Re = regexp.MustCompile(`^[0-9a-f]{64}$`)

// image checks a profile's image: a file, a sha256 (no checksum, no deploy), a format the
// agent writes, and root device hints that can match a disk.
func (v *validator) image(src source, im *Image) {
	at := func(keys ...string) Pos { return src.posAt(append([]string{"image"}, keys...)...) }
	if im.File == "" {
		v.add(at(), "add 'file: images/NAME.raw.zst' as 'provision image import' prints it, or a URL", "image has no file")
	}
	switch {
	case im.SHA256 == "":
		v.add(at(), "add 'sha256:' of the raw image as 'provision image list' shows it", "image %s has no sha256: no checksum, no deploy", im.File)
	case !imageSHA256Re.MatchString(im.SHA256):
		v.add(at("sha256"), "write the 64 lowercase hex digits of the raw image's sha256", "image sha256 %q is not 64 hex digits", im.SHA256)
	}
	switch {
	case im.Format != "" && !slices.Contains(imagestore.Formats, im.Format):
		hint := suggest(im.Format, imagestore.Formats)
		if im.Format == "qcow2" {
			hint = "convert it on the server: 'provision image import FILE.qcow2' writes it raw"
		}
		v.add(at("format"), hint, "image format %q: the agent writes raw, zstd or gzip", im.Format)
	case im.Format == "" && im.File != "":
		if f, err := imagestore.FormatOf(im.File); err != nil {
			v.add(at("file"), "name the file .raw, .img, .zst or .gz, or set format:", "%v", err)
		} else if f == "qcow2" {
			v.add(at("file"), "convert it on the server: 'provision image import FILE.qcow2' writes it raw", "image %s is qcow2: the node never parses qcow2", im.File)
		}
	}
	if im.Size < 0 {
		v.add(at("size"), "the raw size in bytes, or leave it out", "image size %d is negative", im.Size)
	}
	h := im.RootDevice
	v.rootDevice(func(keys ...string) Pos { return at(append([]string{"root_device"}, keys...)...) }, h)
	if h.MaxSizeGiB > 0 && im.Size > h.MaxSizeGiB<<30 {
		v.add(at("root_device", "max_size_gib"), "raise max_size_gib or use a smaller image", "image of %d bytes does not fit a disk of max_size_gib %d", im.Size, h.MaxSizeGiB)
	}
}

// rootDevice checks root device hints (an image's, or an installer's) so they can match a
// disk; at names a key under root_device.
func (v *validator) rootDevice(at func(keys ...string) Pos, h expect.RootDeviceHints) {
	if h.MinSizeGiB < 0 || h.MaxSizeGiB < 0 {
		v.add(at(), "sizes are GiB, e.g. min_size_gib: 400", "root_device sizes cannot be negative")
	}
	if h.MaxSizeGiB > 0 && h.MinSizeGiB > h.MaxSizeGiB {
		v.add(at("max_size_gib"), "make max_size_gib at least min_size_gib", "root_device min_size_gib %d is above max_size_gib %d: no disk can match", h.MinSizeGiB, h.MaxSizeGiB)
	}
	for _, kv := range [][2]string{{"model", h.Model}, {"serial", h.Serial}, {"wwn", h.WWN}, {"by_path", h.ByPath}} {
		if strings.ContainsFunc(kv[1], func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			v.add(at(kv[0]), "write it on one line, as sysfs shows it", "root_device %s has control characters", kv[0])
		}
	}
	if p := strings.TrimPrefix(h.ByPath, "/dev/disk/by-path/"); strings.Contains(p, "/") {
		v.add(at("by_path"), "write the name under /dev/disk/by-path/, e.g. pci-0000:41:00.0-nvme-1", "root_device by_path %q is not a /dev/disk/by-path name", h.ByPath)
	}
}

func (v *validator) boot(src source, path []string, b *Boot) {
	if !b.RootDevice.IsZero() {
		at := func(keys ...string) Pos {
			return src.posAt(append(append(slices.Clone(path), "root_device"), keys...)...)
		}
		if b.Install == "" {
			v.add(at(), "root_device here picks the installer's disk (boot.install); an image's hints go under image.root_device",
				"boot.root_device without boot.install: no installer runs")
		}
		v.rootDevice(at, b.RootDevice)
	}
	if err := CheckCmdline(b.Cmdline); err != nil {
		v.add(src.posAt(append(path, "cmdline")...), "write kernel parameters only (key=value words); the boot script is iPXE and the console prints the line, so shell and iPXE operators are refused",
			"cmdline %v", err)
	}
	if b.UEFIBinary != "" && !slices.Contains(UEFIBinaries, b.UEFIBinary) {
		v.add(src.posAt(append(path, "uefi_binary")...), suggest(b.UEFIBinary, UEFIBinaries),
			"unknown uefi_binary %q", b.UEFIBinary)
	}
}

func (v *validator) expect(src source, path []string, e *Expect) {
	at := func(keys ...string) Pos { return src.posAt(append(slices.Clone(path), keys...)...) }
	if g := e.GPU; g != nil {
		if g.Count < 0 {
			v.add(at("gpu", "count"), "write the number of GPUs the node must have, e.g. 8", "GPU count %d is negative", g.Count)
		}
		if g.MinDriver != "" && !versionRe.MatchString(g.MinDriver) {
			v.add(at("gpu", "min_driver"), "write a driver version such as 550.54.15", "min_driver %q is not a version", g.MinDriver)
		}
		if g.CUDA != "" && !versionRe.MatchString(g.CUDA) {
			v.add(at("gpu", "cuda"), "write a CUDA version such as 12.4", "cuda %q is not a version", g.CUDA)
		}
	}
	for i, s := range e.Storage {
		idx := fmt.Sprint(i)
		if !strings.HasPrefix(s.Mount, "/") {
			v.add(at("storage", idx, "mount"), "write the mount point as an absolute path, e.g. /data", "storage mount %q is not an absolute path", s.Mount)
		}
		if s.MinReadMBps < 0 || s.MinWriteMBps < 0 {
			v.add(at("storage", idx), "minimum throughputs are MB/s and cannot be negative", "storage %s has a negative minimum throughput", s.Mount)
		}
		if s.TestSizeMiB < 0 || s.TestSeconds < 0 {
			v.add(at("storage", idx), "test_size_mib and test_seconds are positive, e.g. 4096 and 30; leave them out for the agent's defaults", "storage %s has a negative test size or time", s.Mount)
		}
		if s.Nconnect < 0 || s.Nconnect > 16 {
			v.add(at("storage", idx, "nconnect"), "the Linux NFS client allows nconnect 1-16", "nconnect %d of %s is outside 1-16", s.Nconnect, s.Mount)
		}
	}
	for i, name := range e.Networks {
		if v.inv.networkByName[name] == nil {
			v.add(at("networks", fmt.Sprint(i)), suggest(name, v.networkNames()), "expected network %q is not defined", name)
		}
	}
	for i, name := range e.Peers {
		if v.inv.nodeByName[name] == nil {
			v.add(at("peers", fmt.Sprint(i)), "peers are node names of this inventory", "peer %q is not a node of the inventory", name)
		}
	}
}

// defaults checks a site's or rack's defaults where they are written, once, so a bad
// default is one error and not one per node.
func (v *validator) defaults(src source, d *Defaults) {
	if d.Profile != "" && v.inv.profileByName[d.Profile] == nil {
		v.add(src.posAt("defaults", "profile"), suggest(d.Profile, v.profileNames()), "profile %q is not defined", d.Profile)
	}
	if b := d.BMC; b != nil {
		v.bmcFields(src, []string{"defaults", "bmc"}, b)
	}
}

// bmcFields checks the BMC values written at path of src.
func (v *validator) bmcFields(src source, path []string, b *BMC) {
	bs := src.sub(path...)
	at := func(k string) Pos { return bs.posAt(k) }
	// b holds effective values; check only those written here, inherited ones were
	// checked where they are written.
	set := func(k string) bool { return bs.has(k) }
	if set("protocol") && !slices.Contains(BMCProtocols, strings.ToLower(b.Protocol)) {
		v.add(at("protocol"), suggest(strings.ToLower(b.Protocol), BMCProtocols), "unknown BMC protocol %q", b.Protocol)
	}
	if set("port") && (b.Port < 1 || b.Port > 65535) {
		v.add(at("port"), "use a TCP/UDP port 1-65535, or leave it out for 443 (redfish) / 623 (ipmi)", "BMC port %d is out of range", b.Port)
	}
	if set("credentials") && v.inv.credByName[b.Credentials] == nil {
		v.add(at("credentials"), credHint(b.Credentials, v.credNames()), "credentials %q are not declared in the site's credentials", b.Credentials)
	}
	if set("address") && b.Address != "" {
		if _, err := netip.ParseAddr(b.Address); err != nil && !dnsNameRe.MatchString(b.Address) {
			v.add(at("address"), "write the BMC's IP address or host name, without scheme or port", "BMC address %q is neither an IP address nor a host name", b.Address)
		}
	}
	if set("tls") {
		v.tls(bs, []string{"tls"}, b.TLS)
	}
}

// ---- racks and nodes ----

func (v *validator) rack(r *Rack) {
	switch first, dup := v.racks[r.Name]; {
	case r.Name == "":
		v.add(r.Pos(), "add 'rack: <name>' at the top of the rack file", "rack has no name")
	case dup:
		v.add(r.PosOf("rack"), "rack names must be unique across rack files", "duplicate rack %q: also at %s", r.Name, first.PosOf("rack"))
	default:
		v.racks[r.Name] = r
	}
	unitsOK := r.Units >= 1 && r.Units <= 100
	if !unitsOK {
		v.add(r.PosOf("units"), "write the rack height in U, e.g. 42 or 48", "rack %q has %d units", r.Name, r.Units)
	}
	v.defaults(r.src, &r.Defaults)
	// Units taken, to find overlaps: one map per rack.
	taken := map[int]*Node{}
	for _, n := range r.Nodes {
		if n == nil {
			continue
		}
		v.placement(r, n, taken, unitsOK)
	}
}

func (v *validator) placement(r *Rack, n *Node, taken map[int]*Node, unitsOK bool) {
	if n.Height < 1 {
		v.add(n.PosOf("height"), "height is the node's size in U, e.g. 1, 2, 4 or 8", "node %q has height %d", n.Name, n.Height)
		return
	}
	if n.Unit < 0 {
		v.add(n.PosOf("unit"), "units count from 1 at the bottom of the rack", "node %q is at unit %d", n.Name, n.Unit)
		return
	}
	if n.Unit == 0 {
		return // not placed yet
	}
	top := n.Unit + n.Height - 1
	if unitsOK && top > r.Units {
		v.add(n.PosOf("unit"), fmt.Sprintf("rack %q is %dU tall; lower the unit or set the rack's units:", r.Name, r.Units),
			"node %q occupies %s, past the top of rack %q", n.Name, units(n), r.Name)
		return
	}
	for u := n.Unit; u <= top; u++ {
		if other, ok := taken[u]; ok {
			v.add(n.PosOf("unit"), "two servers cannot share a rack unit; fix the unit or height of one",
				"node %q (%s) overlaps node %q (%s at %s)", n.Name, units(n), other.Name, units(other), other.PosOf("unit"))
			return
		}
	}
	for u := n.Unit; u <= top; u++ {
		taken[u] = n
	}
}

func units(n *Node) string {
	if n.Height == 1 {
		return fmt.Sprintf("U%d", n.Unit)
	}
	return fmt.Sprintf("U%d-U%d", n.Unit, n.Unit+n.Height-1)
}

func (v *validator) node(n *Node) {
	switch first := v.inv.nodeByName[n.Name]; {
	case n.Name == "":
		v.add(n.Pos(), "add 'name: <hostname>'", "node has no name")
	case first != n:
		v.add(n.PosOf("name"), "node names are host names and must be unique across the site; rename one",
			"duplicate node name %q: also at %s", n.Name, first.PosOf("name"))
	case !hostnameRe.MatchString(n.Name):
		v.add(n.PosOf("name"), "a node name is a host name: letters, digits and '-', at most 63 characters",
			"node name %q is not a valid host name", n.Name)
	}
	// A value inherited from defaults was checked where it is written; check here only
	// what the node sets itself, and what no level set at all.
	switch {
	case n.Profile == "":
		v.add(n.Pos(), "set 'profile:' on the node, or 'defaults: {profile: ...}' in its rack or site file", "node %q has no profile", n.Name)
	case n.src.has("profile") && v.inv.profileByName[n.Profile] == nil:
		v.add(n.PosOf("profile"), suggest(n.Profile, v.profileNames()), "node %q: profile %q is not defined", n.Name, n.Profile)
	}
	if n.Overrides != nil {
		if n.Overrides.Boot != nil {
			v.boot(n.src, []string{"overrides", "boot"}, n.Overrides.Boot)
		}
		if n.Overrides.Expect != nil {
			v.expect(n.src, []string{"overrides", "expect"}, n.Overrides.Expect)
		}
	}
	v.bmc(n)
	v.interfaces(n)
}

func (v *validator) bmc(n *Node) {
	b := &n.BMC
	if n.src.has("bmc") {
		v.bmcFields(n.src, []string{"bmc"}, b)
	}
	bmcPos := n.src.posAt("bmc")
	switch {
	case b.Address == "":
		v.add(bmcPos, "add 'bmc: {address: <BMC IP>}' so racklift can power and boot the node", "node %q has no BMC address", n.Name)
	default:
		key := strings.ToLower(b.Address) + fmt.Sprintf(":%d", b.Port)
		if other, dup := v.bmcs[key]; dup {
			v.add(n.src.posAt("bmc", "address"), "each node has its own BMC; check the address (and port) against the BMC VLAN's leases",
				"BMC address %s port %d of node %q is also used by node %q at %s", b.Address, b.Port, n.Name, other.Name, other.src.posAt("bmc", "address"))
		} else if a, err := netip.ParseAddr(b.Address); err == nil && !a.Unmap().IsLoopback() {
			// A BMC and a host interface cannot share an address: one of them would not answer.
			if o, clash := v.ips[a.Unmap()]; clash {
				v.add(n.src.posAt("bmc", "address"), "a BMC has its own address, apart from the node's interfaces; check both against the address plan",
					"BMC address %s of node %q is also the address of %s at %s", b.Address, n.Name, o, o.ifc.PosOf("address"))
			} else {
				v.bmcs[key] = n
				v.bmcIPs[a.Unmap()] = n
			}
		} else {
			v.bmcs[key] = n
		}
	}
	if b.Credentials == "" {
		v.add(bmcPos, "add 'credentials: <name>' to the BMC (or to defaults.bmc) naming an entry of the site's credentials", "node %q has no BMC credentials reference", n.Name)
	}
}

func (v *validator) interfaces(n *Node) {
	if len(n.Interfaces) == 0 {
		v.add(n.Pos(), "add 'interfaces:' with at least the NIC that PXE boots (pxe: true)", "node %q has no interfaces", n.Name)
		return
	}
	var pxe []*Interface
	names := make(map[string]*Interface, len(n.Interfaces))
	for _, ifc := range n.Interfaces {
		if ifc == nil {
			continue
		}
		if ifc.PXE {
			pxe = append(pxe, ifc)
		}
		switch first, dup := names[ifc.Name]; {
		case ifc.Name == "":
			v.add(ifc.Pos(), "add 'name: <interface>' as the OS names it, e.g. eno1 or enp1s0f0", "an interface of node %q has no name", n.Name)
		case dup:
			v.add(ifc.PosOf("name"), "interface names are unique within a node", "node %q has two interfaces named %q (also at %s)", n.Name, ifc.Name, first.PosOf("name"))
		default:
			names[ifc.Name] = ifc
		}
		v.iface(n, ifc)
	}
	switch len(pxe) {
	case 0:
		v.add(n.src.posAt("interfaces"), "mark the interface that network-boots with 'pxe: true'", "node %q has no PXE interface", n.Name)
	case 1:
	default:
		v.add(pxe[1].PosOf("pxe"), "exactly one interface network-boots; keep 'pxe: true' on one only",
			"node %q has %d PXE interfaces (%s at %s and %s)", n.Name, len(pxe), pxe[0].Name, pxe[0].PosOf("pxe"), pxe[1].Name)
	}
}

func (v *validator) iface(n *Node, ifc *Interface) {
	o := owner{n, ifc}
	switch {
	case ifc.MAC == "":
		v.add(ifc.Pos(), "add 'mac: xx:xx:xx:xx:xx:xx' from the server's delivery sheet or BMC", "interface %s has no MAC address", o)
	case len(ifc.HW) != 6:
		v.add(ifc.PosOf("mac"), "write six hex pairs separated by colons, e.g. 3c:ec:ef:12:34:56", "malformed MAC %q on %s", ifc.MAC, o)
		ifc.HW = nil
	case ifc.HW[0]&1 == 1:
		v.add(ifc.PosOf("mac"), "a NIC's MAC has the multicast bit clear; check for a typo in the first octet", "MAC %s on %s is a multicast address", ifc.HW, o)
	default:
		if other, dup := v.macs[string(ifc.HW)]; dup {
			v.add(ifc.PosOf("mac"), "each NIC has its own MAC; copy it again from the delivery sheet or the BMC's inventory",
				"duplicate MAC %s on %s: also on %s at %s", ifc.HW, o, other, other.ifc.PosOf("mac"))
		} else {
			v.macs[string(ifc.HW)] = o
		}
	}
	var nw *Network
	switch {
	case ifc.Network == "":
		v.add(ifc.Pos(), "add 'network: <name>' naming one of the site's networks", "interface %s has no network", o)
	default:
		if nw = v.inv.networkByName[ifc.Network]; nw == nil {
			v.add(ifc.PosOf("network"), suggest(ifc.Network, v.networkNames()), "interface %s is on network %q, which is not defined", o, ifc.Network)
		}
	}
	if ifc.PXE && nw != nil && n.PXEInterface() == ifc {
		if _, seen := v.pxeNets[nw]; !seen {
			v.pxeNets[nw] = n
		}
	}
	if ifc.Address == "" {
		if ifc.PXE && nw != nil && nw.DHCP != nil && nw.DHCP.Mode == "reservation" {
			v.add(ifc.Pos(), fmt.Sprintf("add 'address: <ip in %s>' (the DHCP reservation hands it out)", nw.CIDR),
				"PXE interface %s has no address, but network %q gives out reservations", o, nw.Name)
		}
		return
	}
	pos := ifc.PosOf("address")
	what := func() string { return "address of " + o.String() }
	a, ok := v.addr(ifc.Address, pos, what)
	if !ok {
		ifc.Addr = netip.Addr{}
		return
	}
	ifc.Addr = a
	if nw == nil || !v.inNetwork(nw, a, pos, what) {
		return
	}
	if g := v.gateway(nw); g.IsValid() && g == a {
		v.add(pos, fmt.Sprintf("the gateway %s is the router's; give the node another address in %s", a, nw.Prefix),
			"address of %s is %s, the gateway of network %q", o, a, nw.Name)
		return
	}
	if s := v.server(nw); s.IsValid() && s == a {
		v.add(pos, "that is the provisioning host's own address on the network; give the node another",
			"address of %s is %s, the server address of network %q", o, a, nw.Name)
		return
	}
	if other, dup := v.ips[a]; dup {
		v.add(pos, "each interface needs its own address; pick a free one",
			"duplicate address %s on %s: also on %s at %s", a, o, other, other.ifc.PosOf("address"))
		return
	}
	if bmcOf, clash := v.bmcIPs[a]; clash {
		v.add(pos, "a BMC has its own address, apart from the node's interfaces; check both against the address plan",
			"address %s of %s is also the BMC address of node %q at %s", a, o, bmcOf.Name, bmcOf.src.posAt("bmc", "address"))
		return
	}
	v.ips[a] = o
}

// ---- helpers ----

// gateway and server are a network's parsed addresses, parsed once per network.
func (v *validator) gateway(n *Network) netip.Addr { return v.parsed(n).gw }
func (v *validator) server(n *Network) netip.Addr  { return v.parsed(n).srv }

type netAddrs struct{ gw, srv netip.Addr }

func (v *validator) parsed(n *Network) netAddrs {
	if a, ok := v.netAddrs[n]; ok {
		return a
	}
	var a netAddrs
	if g, err := netip.ParseAddr(n.Gateway); err == nil {
		a.gw = g.Unmap()
	}
	if s, err := netip.ParseAddr(n.Server); err == nil {
		a.srv = s.Unmap()
	}
	v.netAddrs[n] = a
	return a
}

func (v *validator) networkNames() []string {
	out := make([]string, 0, len(v.inv.Networks))
	for _, n := range v.inv.Networks {
		if n != nil && n.Name != "" {
			out = append(out, n.Name)
		}
	}
	return out
}

func (v *validator) profileNames() []string {
	out := make([]string, 0, len(v.inv.Profiles))
	for _, p := range v.inv.Profiles {
		if p != nil && p.Name != "" {
			out = append(out, p.Name)
		}
	}
	return out
}

func (v *validator) credNames() []string {
	out := make([]string, 0, len(v.inv.Credentials))
	for _, c := range v.inv.Credentials {
		if c != nil && c.Name != "" {
			out = append(out, c.Name)
		}
	}
	return out
}

func credHint(name string, known []string) string {
	h := fmt.Sprintf("declare it under 'credentials:' in site.yaml (name: %s, username: ...) and set %s", name, EnvName(name, "password"))
	if s := closest(name, known); s != "" {
		return fmt.Sprintf("did you mean %q? Otherwise %s", s, h)
	}
	return h
}

// suggest is a hint naming the closest known value, or listing them all.
func suggest(got string, known []string) string {
	if s := closest(got, known); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	if len(known) == 0 {
		return "none is defined"
	}
	return "use one of: " + strings.Join(known, ", ")
}

func closest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(got, k); d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	return best
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// CheckCmdline refuses what would turn a profile's kernel command line into more than
// kernel parameters: iPXE's operators ("||", "&&"), a command separator, a variable
// expansion, a backtick and control characters (a line break would add iPXE commands).
// The error names the offending part, never the whole line.
func CheckCmdline(s string) error {
	for i, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("holds a control character (%U) at byte %d", c, i)
		}
	}
	for _, bad := range []string{"||", "&&", ";", "$", "`"} {
		if i := strings.Index(s, bad); i >= 0 {
			return fmt.Errorf("holds %q at byte %d, which iPXE or a shell reads as an operator", bad, i)
		}
	}
	return nil
}
