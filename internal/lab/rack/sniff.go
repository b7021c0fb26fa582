package rack

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Sniffer is an attacker on the provisioning network: it reads every frame in the rack's
// namespace (AF_PACKET, all interfaces) and keeps what looks like a bootstrap secret on
// a kernel command line, by the MAC the frame was sent to. The boot scripts go over plain
// HTTP, so anyone on the segment sees them; tests use it to replay what was seen.
type Sniffer struct {
	fd     int
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	seen map[string][]string // destination MAC → secrets, in the order seen
}

// sniffedSecret is a bootstrap as a boot script carries it (base64url, 32 bytes).
var sniffedSecret = regexp.MustCompile(`racklift\.bootstrap=([A-Za-z0-9_-]{16,64})`)

// Sniff starts reading every frame in the rack's namespace until Close.
func (r *Rack) Sniff() (*Sniffer, error) {
	var fd int
	err := r.ns.Do(func() error {
		var err error
		// ETH_P_ALL in network byte order.
		fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sniffer: AF_PACKET socket in the rack's namespace: %w", err)
	}
	// A read timeout lets the loop see Close without racing a close of the descriptor.
	tv := syscall.NsecToTimeval(int64(200 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("sniffer: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sniffer{fd: fd, cancel: cancel, done: make(chan struct{}), seen: map[string][]string{}}
	go s.loop(ctx)
	return s, nil
}

func (s *Sniffer) loop(ctx context.Context) {
	defer close(s.done)
	buf := make([]byte, 65536)
	for ctx.Err() == nil {
		n, _, err := syscall.Recvfrom(s.fd, buf, 0)
		if err != nil || n < 14 {
			continue
		}
		frame := buf[:n]
		if !bytes.Contains(frame, []byte("racklift.bootstrap=")) {
			continue
		}
		dst := net.HardwareAddr(frame[0:6]).String()
		for _, m := range sniffedSecret.FindAllSubmatch(frame, -1) {
			s.add(dst, string(m[1]))
		}
	}
}

func (s *Sniffer) add(mac, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, have := range s.seen[mac] {
		if have == secret {
			return
		}
	}
	s.seen[mac] = append(s.seen[mac], secret)
}

// Secrets are the bootstrap secrets seen on their way to mac, oldest first.
func (s *Sniffer) Secrets(mac string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen[strings.ToLower(mac)]...)
}

// Close stops the sniffer.
func (s *Sniffer) Close() error {
	s.cancel()
	<-s.done
	return syscall.Close(s.fd)
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}
