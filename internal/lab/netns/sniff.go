package netns

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sniffer is a raw packet socket on one link of the namespace: it reads every frame the
// link sees (on a bridge: broadcasts and frames to the host), like tcpdump would.
type Sniffer struct {
	fd       int
	mu       sync.Mutex
	done     bool
	raw, oob []byte // Read's buffers: one reader at a time
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
	// A receive timeout lets Read notice Close; auxdata carries the VLAN tag the kernel
	// takes off received frames, for Read to put back.
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Sniffer{fd: fd, raw: make([]byte, 1<<16), oob: make([]byte, 256)}, nil
}

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("sniffer closed")

// Read reads one Ethernet frame into buf as it was on the wire, waiting until one comes
// or Close: an 802.1Q tag the kernel moved into the packet's metadata is put back.
// One goroutine reads at a time.
func (s *Sniffer) Read(buf []byte) (int, error) {
	for {
		s.mu.Lock()
		done := s.done
		s.mu.Unlock()
		if done {
			return 0, ErrClosed
		}
		n, oobn, _, _, err := unix.Recvmsg(s.fd, s.raw, s.oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		frame := s.raw[:n]
		if tci, tpid, ok := vlanOf(s.oob[:oobn]); ok && n >= 12 {
			if len(buf) < n+4 {
				return 0, fmt.Errorf("sniffer: a %d-byte frame does not fit a %d-byte buffer", n+4, len(buf))
			}
			copy(buf, frame[:12])
			binary.BigEndian.PutUint16(buf[12:], tpid)
			binary.BigEndian.PutUint16(buf[14:], tci)
			copy(buf[16:], frame[12:])
			return n + 4, nil
		}
		return copy(buf, frame), nil
	}
}

// vlanOf reads the VLAN tag from a packet's PACKET_AUXDATA control message.
func vlanOf(oob []byte) (tci, tpid uint16, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	for _, m := range msgs {
		if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
			continue
		}
		aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
		if aux.Status&unix.TP_STATUS_VLAN_VALID == 0 {
			return 0, 0, false
		}
		tpid = aux.Vlan_tpid
		if aux.Status&unix.TP_STATUS_VLAN_TPID_VALID == 0 || tpid == 0 {
			tpid = 0x8100
		}
		return aux.Vlan_tci, tpid, true
	}
	return 0, 0, false
}

// Write sends one Ethernet frame, as given (tags included), out of the link.
func (s *Sniffer) Write(frame []byte) error {
	_, err := unix.Write(s.fd, frame)
	return err
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
