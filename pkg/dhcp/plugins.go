package dhcp

import (
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// messageType makes DISCOVER an OFFER and REQUEST an ACK (or a NAK when the client asks
// for an address that is not its reservation); a REQUEST naming another server is that
// server's business.
func (h *Handler) messageType(req *Request, resp *dhcpv4.DHCPv4) bool {
	m := req.Msg
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case dhcpv4.MessageTypeRequest:
		if sid := m.ServerIdentifier(); sid != nil && !sid.Equal(net.IP(h.server(req).AsSlice())) {
			return false
		}
		want := m.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = m.ClientIPAddr
		}
		if !want.Equal(net.IP(req.Node.Reservation.IP.AsSlice())) {
			resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeNak))
			resp.UpdateOption(dhcpv4.OptMessage("address " + want.String() + " is not this node's reservation " + req.Node.Reservation.IP.String()))
			resp.UpdateOption(dhcpv4.OptServerIdentifier(net.IP(h.server(req).AsSlice())))
			return true
		}
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	case dhcpv4.MessageTypeInform:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	default: // RELEASE, DECLINE: nothing to answer (reservations are fixed)
		return false
	}
	return true
}

// proxyMessageType: proxyDHCP offers on 67 and acknowledges on 4011. A REQUEST on 67 is
// for the site's DHCP server; it is not answered.
func (h *Handler) proxyMessageType(req *Request, resp *dhcpv4.DHCPv4) bool {
	switch t := req.Msg.MessageType(); {
	case t == dhcpv4.MessageTypeDiscover && req.Port == PortDHCP:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeOffer))
	case (t == dhcpv4.MessageTypeRequest || t == dhcpv4.MessageTypeInform) && req.Port == PortPXE:
		resp.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeAck))
	default:
		return false
	}
	resp.YourIPAddr = net.IPv4zero // proxyDHCP never hands out addresses
	return true
}

func (h *Handler) serverID(req *Request, resp *dhcpv4.DHCPv4) bool {
	s := h.server(req)
	if !s.IsValid() {
		return false
	}
	resp.UpdateOption(dhcpv4.OptServerIdentifier(net.IP(s.AsSlice())))
	return true
}

// learn remembers the address a proxy-mode client asks the site's server for, so TFTP
// and HTTP events can name the node. It never drops.
func (h *Handler) learn(req *Request, _ *dhcpv4.DHCPv4) bool {
	if h.Learner == nil {
		return true
	}
	ip := req.Msg.RequestedIPAddress()
	if ip == nil || ip.IsUnspecified() {
		ip = req.Msg.ClientIPAddr
	}
	if a, ok := netip.AddrFromSlice(ip.To4()); ok && !a.IsUnspecified() {
		h.Learner.Learn(req.Msg.ClientHWAddr, a)
	}
	return true
}

// lease is the reservation: address, mask, router, DNS, domain, MTU, lease time, name.
func lease(req *Request, resp *dhcpv4.DHCPv4) bool {
	r := req.Node.Reservation
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return true
	}
	if !r.IP.IsValid() || !r.Prefix.IsValid() {
		return false // a plan without an address cannot be answered authoritatively
	}
	if req.Msg.MessageType() != dhcpv4.MessageTypeInform {
		resp.YourIPAddr = net.IP(r.IP.AsSlice())
		secs := r.LeaseSeconds
		if secs <= 0 {
			secs = 12 * 3600
		}
		resp.UpdateOption(dhcpv4.OptIPAddressLeaseTime(time.Duration(secs) * time.Second))
	}
	resp.UpdateOption(dhcpv4.OptSubnetMask(net.CIDRMask(r.Prefix.Bits(), 32)))
	if r.Gateway.IsValid() {
		resp.UpdateOption(dhcpv4.OptRouter(net.IP(r.Gateway.AsSlice())))
	}
	if len(r.DNS) > 0 {
		var ips []net.IP
		for _, d := range r.DNS {
			ips = append(ips, net.IP(d.AsSlice()))
		}
		resp.UpdateOption(dhcpv4.OptDNS(ips...))
	}
	if r.Domain != "" {
		resp.UpdateOption(dhcpv4.OptDomainName(r.Domain))
	}
	if r.MTU > 0 && r.MTU != 1500 {
		resp.UpdateOption(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU, Value: u16(uint16(r.MTU))})
	}
	if r.Hostname != "" {
		resp.UpdateOption(dhcpv4.OptHostName(r.Hostname))
	}
	return true
}

type u16 uint16

func (v u16) ToBytes() []byte { return []byte{byte(v >> 8), byte(v)} }
func (v u16) String() string  { return net.IP{0, 0, byte(v >> 8), byte(v)}.String() }

// pxeOnly: proxyDHCP answers PXE, HTTP boot and iPXE clients only; an OS asking for an
// address is the site server's.
func pxeOnly(req *Request, _ *dhcpv4.DHCPv4) bool {
	c := req.Client
	return c.PXE || c.HTTPClient || c.IPXE
}

// bootFile picks the boot file by firmware: iPXE gets its HTTP script, UEFI HTTP boot the
// iPXE binary's URL, PXE ROMs the TFTP file for their architecture. OS clients get none.
func bootFile(req *Request, resp *dhcpv4.DHCPv4) bool {
	if resp.MessageType() == dhcpv4.MessageTypeNak {
		return true
	}
	b := req.Node.Boot
	var file string
	switch req.Client.Firmware() {
	case "ipxe":
		file = b.ScriptURL
	case "uefi-http":
		file = b.HTTPBootURL
		resp.UpdateOption(dhcpv4.OptClassIdentifier("HTTPClient")) // UEFI requires it echoed
	case "bios":
		file = b.BIOSFile
	case "uefi-x64":
		file = b.UEFIFile
	case "uefi-arm64":
		file = b.ARM64File
	}
	if file == "" {
		return true
	}
	resp.BootFileName = file
	if s := req.Node.Reservation.Server; s.IsValid() {
		resp.ServerIPAddr = net.IP(s.AsSlice())
	} else if sid := resp.ServerIdentifier(); sid != nil {
		resp.ServerIPAddr = sid
	}
	resp.UpdateOption(dhcpv4.OptBootFileName(file))
	if sid := resp.ServerIPAddr; sid != nil && !sid.IsUnspecified() {
		resp.UpdateOption(dhcpv4.OptTFTPServerName(sid.String()))
	}
	return true
}

// pxeVendorOptions marks a proxy answer as PXE (option 60 PXEClient) and, in option 43,
// tells the ROM to download the boot file named here without boot-server discovery
// (PXE_DISCOVERY_CONTROL = 8).
func pxeVendorOptions(req *Request, resp *dhcpv4.DHCPv4) bool {
	if req.Client.Firmware() == "uefi-http" {
		return true // option 60 HTTPClient already set
	}
	resp.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient"))
	if req.Client.PXE && !req.Client.IPXE {
		resp.UpdateOption(dhcpv4.OptGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	}
	return true
}
