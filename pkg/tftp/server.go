// Package tftp serves the iPXE binaries read-only from one directory (pxe/) over TFTP,
// on pin/tftp. Writes, '..', absolute names and symlinks leading out of the root are
// refused with a TFTP error; blksize and tsize are negotiated; every transfer becomes
// an event.
package tftp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/pin/tftp/v3"

	"github.com/racklift/racklift/pkg/events"
)

// Nodes names the node behind a client address, for events; ok is false when unknown.
type Nodes interface {
	NodeByIP(ip netip.Addr) (node, mac string, ok bool)
}

// ErrWrite is sent to clients that try to upload.
var ErrWrite = errors.New("write requests are refused: this TFTP server is read-only")

// Config is a TFTP server's setup.
type Config struct {
	Root    string         // directory served, e.g. pxe/
	Events  *events.Stream // may be nil
	Nodes   Nodes          // may be nil
	Timeout time.Duration  // per-packet retransmit timeout, default 2 s
	Retries int            // default 5
	// MaxBlockSize caps the negotiated blksize. Default 1468 (fills a 1500-byte
	// Ethernet frame).
	MaxBlockSize int
	// Window sends this many blocks before waiting for their ACKs (pin/tftp's
	// "anticipate"); 0 or 1: lock-step as RFC 1350.
	Window uint
	// SinglePort answers every transfer from port 69 (for NAT or firewalls); slower.
	SinglePort bool
}

// Server is a read-only TFTP server.
type Server struct {
	cfg   Config
	root  *os.Root
	srv   *tftp.Server
	cache cache
}

// New opens the root directory and prepares the server.
func New(cfg Config) (*Server, error) {
	root, err := os.OpenRoot(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("tftp root %s: %w (run `make pxe` to fill pxe/ with the iPXE binaries)", cfg.Root, err)
	}
	s := &Server{cfg: cfg, root: root}
	s.srv = tftp.NewServer(s.read, s.write)
	s.srv.SetTimeout(orDefault(cfg.Timeout, 2*time.Second))
	s.srv.SetRetries(orDefault(cfg.Retries, 5))
	// pin/tftp's MTU-based clamp answered every blksize request with 512 here (the
	// interface lookup falls back to 512), tripling the packets of a boot; cap blksize
	// at MaxBlockSize instead, which the client's own MTU bounds anyway.
	s.srv.SetBlockSizeNegotiation(false)
	s.srv.SetBlockSize(orDefault(cfg.MaxBlockSize, 1468))
	if cfg.Window > 1 {
		s.srv.SetAnticipate(cfg.Window)
	}
	if cfg.SinglePort {
		s.srv.EnableSinglePort()
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

// Serve answers requests arriving on conn until Shutdown.
func (s *Server) Serve(conn net.PacketConn) error { return s.srv.Serve(conn) }

// ListenAndServe binds addr (host:port) and serves.
func (s *Server) ListenAndServe(addr string) error { return s.srv.ListenAndServe(addr) }

// Shutdown stops accepting requests and waits for transfers in flight.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.root.Close()
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
			return nil, fmt.Errorf("%s: file not found", name)
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

func (s *Server) read(name string, rf io.ReaderFrom) error {
	peer := rf.(tftp.OutgoingTransfer).RemoteAddr()
	f, err := s.Open(name)
	if err != nil {
		s.publish(events.TFTPRefused, peer.IP, name, 0, 0, err)
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		s.publish(events.TFTPRefused, peer.IP, name, 0, 0, err)
		return err
	}
	rf.(tftp.OutgoingTransfer).SetSize(fi.Size()) // answers tsize
	// In a boot storm hundreds of clients fetch the same few files: serve them from
	// memory instead of a read(2) per block.
	r := s.cache.reader(name, f, fi)
	f.Close()
	if r == nil {
		if f, err = s.Open(name); err != nil {
			s.publish(events.TFTPRefused, peer.IP, name, 0, 0, err)
			return err
		}
		defer f.Close()
		r = bufio.NewReaderSize(f, 64<<10)
	}
	start := time.Now()
	n, err := rf.ReadFrom(r)
	s.publish(events.TFTPTransfer, peer.IP, name, n, time.Since(start), err)
	return err
}

func (s *Server) write(name string, wt io.WriterTo) error {
	var ip net.IP
	if it, ok := wt.(tftp.IncomingTransfer); ok {
		a := it.RemoteAddr()
		ip = a.IP
	}
	s.publish(events.TFTPRefused, ip, name, 0, 0, ErrWrite)
	return ErrWrite
}

func (s *Server) publish(kind events.Kind, ip net.IP, file string, n int64, d time.Duration, err error) {
	if s.cfg.Events == nil {
		return
	}
	e := events.Event{Kind: kind, Detail: file, Bytes: n, Duration: d}
	if a, ok := netip.AddrFromSlice(ip); ok {
		a = a.Unmap()
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
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, requestBuffer)
			})
			if serr != nil {
				uc.SetReadBuffer(requestBuffer)
			}
		}
	}
	return c, nil
}
