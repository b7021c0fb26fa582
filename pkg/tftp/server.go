// Package tftp serves the iPXE binaries read-only from one directory (pxe/) over TFTP.
// Writes, '..', absolute names and symlinks leading out of the root are refused with a
// TFTP error; blksize, tsize and windowsize (RFC 2348, 2349, 7440) are negotiated;
// every transfer becomes an event. All transfers from one address share one socket
// served in batches (see port.go), which is what keeps a boot storm cheap.
package tftp

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/pin/tftp/v3/netascii"
	"golang.org/x/net/ipv4"

	"github.com/racklift/racklift/pkg/events"
)

// netasciiReader converts to netascii (CR LF line ends) with pin/tftp's converter.
var netasciiReader = netascii.ToReader

// Nodes names the node behind a client address, for events; ok is false when unknown.
type Nodes interface {
	NodeByIP(ip netip.Addr) (node, mac string, ok bool)
}

// ErrWrite is sent to clients that try to upload.
var ErrWrite = errors.New("write requests are refused: this TFTP server is read-only")

// ErrNotFound is sent for a name with no file behind it.
var ErrNotFound = errors.New("file not found")

// Config is a TFTP server's setup.
type Config struct {
	Root    string         // directory served, e.g. pxe/
	Events  *events.Stream // may be nil
	Nodes   Nodes          // may be nil
	Timeout time.Duration  // retransmit timeout, default 2 s
	Retries int            // retransmissions of a block before giving up, default 5
	// MaxBlockSize caps the negotiated blksize. Default 1468 (fills a 1500-byte
	// Ethernet frame).
	MaxBlockSize int
	// Window caps the windowsize granted to clients that ask for one (RFC 7440, as
	// EDK2 UEFI firmware does); 0 means DefaultWindow, 1 answers every client in
	// lock-step. Clients that do not ask always get lock-step (RFC 1350).
	Window uint
	// MaxTransfers caps the transfers in flight in all (default DefaultMaxTransfers) and
	// MaxPerClient those from one client address (default DefaultMaxPerClient); a request
	// past either is answered with a TFTP error and a tftp.refused event.
	MaxTransfers int
	MaxPerClient int
}

// Transfer caps by default: far above a boot storm's needs (a node fetches one file at a
// time), low enough that a flood of requests cannot hold unbounded memory or goroutines.
const (
	DefaultMaxTransfers = 1000
	DefaultMaxPerClient = 8
)

// ErrBusy is sent for a request past the transfer caps.
var ErrBusy = errors.New("too many transfers in flight: try again later")

// DefaultWindow is the largest windowsize granted by default: EDK2 asks for 4.
const DefaultWindow = 16

// maxWindow bounds Window: beyond it a window outgrows socket buffers for little gain.
const maxWindow = 64

// Server is a read-only TFTP server.
type Server struct {
	cfg     Config
	root    *os.Root
	cache   cache
	timeout time.Duration
	retries int
	blksize int
	window  int

	mu     sync.Mutex
	conn   net.PacketConn
	ports  map[netip.Addr]*port
	closed bool

	slots sync.Mutex
	total int                // transfers admitted and not yet ended
	per   map[netip.Addr]int // the same, by client address
}

// New opens the root directory and prepares the server.
func New(cfg Config) (*Server, error) {
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("tftp root %s: %w (run `make pxe` to fill pxe/ with the iPXE binaries)", cfg.Root, err)
	}
	cfg.MaxTransfers = orDefault(cfg.MaxTransfers, DefaultMaxTransfers)
	cfg.MaxPerClient = orDefault(cfg.MaxPerClient, DefaultMaxPerClient)
	s := &Server{cfg: cfg, root: root, ports: map[netip.Addr]*port{}, per: map[netip.Addr]int{},
		timeout: orDefault(cfg.Timeout, 2*time.Second),
		retries: orDefault(cfg.Retries, 5),
		blksize: min(orDefault(cfg.MaxBlockSize, 1468), 65464),
		window:  int(min(orDefault(cfg.Window, DefaultWindow), maxWindow)),
	}
	return s, nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ListenAndServe binds addr (host:port) and serves.
func (s *Server) ListenAndServe(addr string) error {
	c, err := Listen(addr)
	if err != nil {
		return err
	}
	return s.Serve(c)
}

// Serve answers requests arriving on conn (an IPv4 UDP socket, see Listen) until
// Shutdown. Each transfer is answered from the address the request came to.
func (s *Server) Serve(conn net.PacketConn) error {
	uc, ok := conn.(*net.UDPConn)
	if !ok {
		return fmt.Errorf("tftp: serve needs a UDP socket, got %T", conn)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		conn.Close()
		return net.ErrClosed
	}
	s.conn = conn
	s.mu.Unlock()
	local := netip.IPv4Unspecified()
	if a, ok := uc.LocalAddr().(*net.UDPAddr); ok {
		local = a.AddrPort().Addr().Unmap()
	}
	pc := ipv4.NewPacketConn(uc)
	hasDst := pc.SetControlMessage(ipv4.FlagDst, true) == nil
	buf := make([]byte, 1500)
	for {
		n, cm, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			continue
		}
		ua, ok := from.(*net.UDPAddr)
		if !ok {
			continue
		}
		dst := local
		if hasDst && cm != nil {
			if a, ok := netip.AddrFromSlice(cm.Dst); ok {
				dst = a.Unmap()
			}
		}
		s.request(replyAddr(dst, local, net.InterfaceAddrs), local, ua.AddrPort(), buf[:n])
	}
}

// request answers one datagram that came to port 69.
func (s *Server) request(dst, bound netip.Addr, peer netip.AddrPort, b []byte) {
	p, err := s.port(dst)
	if err != nil && dst != bound { // an address on no interface here
		p, err = s.port(bound)
	}
	if err != nil {
		return
	}
	req, err := parseRequest(b)
	if err != nil {
		return // not a request: nothing to answer
	}
	refuse := func(code uint16, err error) {
		s.publish(events.TFTPRefused, peer.Addr(), req.filename, 0, 0, err)
		p.conn.WriteToUDPAddrPort(appendError(nil, code, err.Error()), peer)
	}
	switch {
	case req.op == opWRQ:
		refuse(errAccess, ErrWrite)
		return
	case req.op != opRRQ:
		return
	case req.mode != "octet" && req.mode != "netascii":
		refuse(errIllegal, fmt.Errorf("%s: transfer mode %q is not supported (octet or netascii)", req.filename, req.mode))
		return
	}
	release, err := s.admit(peer.Addr())
	if err != nil {
		refuse(errUndefined, err)
		return
	}
	// Opening, reading and converting the file happen off the request loop, so a slow
	// disk or a netascii conversion never delays another client's request.
	go s.open(p, peer, req, release, refuse)
}

// admit takes a transfer slot for client, or says why not; release gives it back.
func (s *Server) admit(client netip.Addr) (release func(), err error) {
	s.slots.Lock()
	defer s.slots.Unlock()
	if s.total >= s.cfg.MaxTransfers {
		return nil, fmt.Errorf("%w (%d in all, --tftp-max)", ErrBusy, s.cfg.MaxTransfers)
	}
	if s.per[client] >= s.cfg.MaxPerClient {
		return nil, fmt.Errorf("%w (%d from %s, --tftp-max-per-client)", ErrBusy, s.cfg.MaxPerClient, client)
	}
	s.total++
	s.per[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.slots.Lock()
			defer s.slots.Unlock()
			s.total--
			if s.per[client]--; s.per[client] <= 0 {
				delete(s.per, client)
			}
		})
	}, nil
}

// open prepares and starts one admitted transfer.
func (s *Server) open(p *port, peer netip.AddrPort, req request, release func(), refuse func(uint16, error)) {
	src, size, closer, err := s.source(req.filename, req.mode == "netascii")
	if err != nil {
		release()
		code := uint16(errAccess)
		if errors.Is(err, ErrNotFound) {
			code = errNotFound
		}
		refuse(code, err)
		return
	}
	blksize, window, oack := 512, 1, []option(nil)
	for _, o := range req.opts {
		switch o.name {
		case "blksize":
			if n, ok := req.intOption("blksize", 8, 65464); ok {
				blksize = min(n, s.blksize)
				oack = append(oack, option{o.name, strconv.Itoa(blksize)})
			}
		case "tsize":
			oack = append(oack, option{o.name, strconv.FormatInt(size, 10)})
		case "windowsize":
			if n, ok := req.intOption("windowsize", 1, 65535); ok && s.window > 1 {
				window = min(n, s.window)
				oack = append(oack, option{o.name, strconv.Itoa(window)})
			}
		}
	}
	var oackPkt []byte
	if len(oack) > 0 {
		oackPkt = appendOACK(nil, oack)
	}
	t := newTransfer(peer, req.filename, src, size, blksize, window, oackPkt)
	t.closer, t.release = closer, release
	p.start(t)
}

// source opens name for a transfer: from the cache when it fits, else the file
// itself (closer is then the file). Netascii is converted once and cached.
func (s *Server) source(name string, netascii bool) (src io.ReaderAt, size int64, closer io.Closer, err error) {
	f, err := s.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, fmt.Errorf("%s: %w", name, err)
	}
	// In a boot storm hundreds of clients fetch the same few files: serve them from
	// memory instead of a read(2) per block.
	if netascii {
		// Converted once per file version and kept with the cache: a thousand netascii
		// requests share one copy instead of converting the file a thousand times.
		r, err := s.cache.netascii(name, f, fi)
		f.Close()
		if err != nil {
			return nil, 0, nil, err
		}
		return r, r.Size(), nil, nil
	}
	r := s.cache.reader(name, f, fi)
	if r != nil {
		f.Close()
		return r, r.Size(), nil, nil
	}
	return f, fi.Size(), f, nil
}

// Shutdown stops accepting requests, lets transfers in flight finish (as long as
// their retries last) and closes the transfer sockets.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.closed = true
	if s.conn != nil {
		s.conn.Close()
	}
	ports := s.ports
	s.mu.Unlock()
	deadline := time.Now().Add(s.timeout * time.Duration(s.retries+1))
	for _, p := range ports {
		for time.Now().Before(deadline) {
			p.mu.Lock()
			n := len(p.xfers)
			p.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.conn.Close()
		<-p.done
		p.mu.Lock()
		for _, t := range p.xfers {
			p.finish(t, errors.New("server shut down"))
		}
		p.mu.Unlock()
		p.publish()
	}
	s.root.Close()
}

// port is the transfer socket for the local address, opened on first use.
func (s *Server) port(local netip.Addr) (*port, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.ports[local]; p != nil {
		return p, nil
	}
	if s.closed {
		return nil, net.ErrClosed
	}
	p, err := newPort(s, local)
	if err != nil {
		return nil, err
	}
	s.ports[local] = p
	return p, nil
}

// Open resolves name inside the root, refusing escapes, directories and anything not
// a regular file. The caller closes the file.
func (s *Server) Open(name string) (*os.File, error) {
	rel, err := Resolve(name)
	if err != nil {
		return nil, err
	}
	f, err := s.root.Open(rel) // os.Root refuses symlinks that lead out of the root
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, nil
}

func (s *Server) publish(kind events.Kind, ip netip.Addr, file string, n int64, d time.Duration, err error) {
	if s.cfg.Events == nil {
		return
	}
	e := events.Event{Kind: kind, Detail: file, Bytes: n, Duration: d}
	if a := ip.Unmap(); a.IsValid() {
		e.IP = a.String()
		if s.cfg.Nodes != nil {
			e.Node, e.MAC, _ = s.cfg.Nodes.NodeByIP(a)
		}
	}
	if err != nil {
		e.Err = err.Error()
	}
	s.cfg.Events.Publish(e)
}

// requestBuffer is the receive buffer of the port-69 socket: a boot storm sends hundreds
// of read requests at once, and the kernel's default (about 208 KiB) drops most of them,
// costing each dropped client a retransmission timeout.
const requestBuffer = 8 << 20

// Listen opens the TFTP request socket on addr (host:port) with a receive buffer large
// enough for a boot storm (SO_RCVBUFFORCE as root, else as large as the kernel allows).
func Listen(addr string) (net.PacketConn, error) {
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		return nil, err
	}
	if uc, ok := c.(*net.UDPConn); ok {
		if rc, err := uc.SyscallConn(); err == nil {
			var serr error
			rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soRcvBufForce, requestBuffer)
			})
			if serr != nil {
				uc.SetReadBuffer(requestBuffer)
			}
		}
	}
	return c, nil
}
