package dhcp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
)

// Server listens for DHCP on one interface (or one address) and port.
type Server struct {
	srv  *server4.Server
	port int
	h    *Handler
	log  *slog.Logger
	ifc  string
}

// Listen binds port on iface only (SO_BINDTODEVICE), or on ip:port when iface is ""
// (relayed DHCP reaching an address). Call Serve to answer.
func Listen(iface string, ip net.IP, port int, h *Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{port: port, h: h, log: log, ifc: iface}
	addr := &net.UDPAddr{IP: ip, Port: port}
	if iface != "" {
		addr.IP = net.IPv4zero // broadcasts arrive at 0.0.0.0; the device binding keeps us on iface
	}
	srv, err := server4.NewServer(iface, addr, s.handle)
	if err != nil {
		where := iface
		if where == "" {
			where = addr.String()
		}
		return nil, fmt.Errorf("dhcp: listen on %s port %d: %w (is another DHCP server, e.g. dnsmasq, running there?)", where, port, err)
	}
	s.srv = srv
	return s, nil
}

// Serve answers until Close.
func (s *Server) Serve() error {
	err := s.srv.Serve()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

func (s *Server) handle(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	resp := s.h.Reply(&Request{Msg: m, Port: s.port, Interface: s.ifc})
	if resp == nil {
		return
	}
	dst := Destination(m, resp, peer, s.port)
	if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
		s.log.Warn("dhcp: reply not sent", "mac", m.ClientHWAddr.String(), "to", dst.String(), "interface", s.ifc, "error", err)
	}
}

// Destination is where a reply goes (RFC 2131 4.1): to the relay, to a client that
// already has an address, to the asker on the PXE port, otherwise broadcast (a client
// without an address cannot receive unicast before ARP works).
func Destination(req, resp *dhcpv4.DHCPv4, peer net.Addr, port int) net.Addr {
	switch {
	case !req.GatewayIPAddr.IsUnspecified() && req.GatewayIPAddr != nil:
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: dhcpv4.ServerPort}
	case port == PortPXE:
		return peer
	case resp.MessageType() == dhcpv4.MessageTypeNak:
		return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
	case req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified():
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: dhcpv4.ClientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
}
