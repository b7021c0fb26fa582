package netns

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Sniffer is a raw packet socket on one link of the namespace: it reads every frame the
// link sees (on a bridge: broadcasts and frames to the host), like tcpdump would.
type Sniffer struct {
	fd   int
	mu   sync.Mutex
	done bool
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Sniff opens a raw socket bound to link name inside the namespace.
func (ns *NS) Sniff(name string) (*Sniffer, error) {
	l, err := ns.Link(name)
	if err != nil {
		return nil, err
	}
	fd := -1
	err = ns.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Attrs().Index})
	})
	if err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("packet socket on %s in %s: %w", name, ns.Name, err)
	}
	// A receive timeout lets Read notice Close.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Sniffer{fd: fd}, nil
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("sniffer closed")

// Read reads one Ethernet frame into buf, waiting until one comes or Close.
func (s *Sniffer) Read(buf []byte) (int, error) {
	for {
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		if done {
			return 0, ErrClosed
		}
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		return n, err
	}
}

// Close stops Read (within its 200 ms receive timeout) and closes the socket.
func (s *Sniffer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return nil
	}
	s.done = true
	// Not closed under a blocked Read (its number could be reused meanwhile): Read
	// gives up within its receive timeout, then the descriptor goes.
	go func(fd int) { time.Sleep(time.Second); unix.Close(fd) }(s.fd)
	return nil
}
