package rack

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/racklift/racklift/internal/lab/netns"
)

// DHCPWatch records the DHCP client messages guests broadcast on br-prov, captured on
// the bridge like tcpdump would, to show a guest's firmware really asked for an address.
type DHCPWatch struct {
	sn      *netns.Sniffer
	mu      sync.Mutex
	seen    []*dhcpv4.DHCPv4
	changed chan struct{}
	done    chan struct{}
}

// WatchDHCP starts capturing on br-prov. Close stops it.
func (r *Rack) WatchDHCP() (*DHCPWatch, error) {
	sn, err := r.ns.Sniff(ProvisioningBridge)
	if err != nil {
		return nil, err
	}
	w := &DHCPWatch{sn: sn, changed: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w, nil
}

func (w *DHCPWatch) run() {
	defer close(w.done)
	buf := make([]byte, 65536)
	for {
		n, err := w.sn.Read(buf)
		if err != nil {
			return
		}
		m := dhcpClientMessage(buf[:n])
		if m == nil {
			continue
		}
		w.mu.Lock()
		w.seen = append(w.seen, m)
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

// dhcpClientMessage parses an Ethernet frame carrying IPv4 UDP to port 67.
func dhcpClientMessage(f []byte) *dhcpv4.DHCPv4 {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:14]) != 0x0800 {
		return nil
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != 17 || len(ip) < ihl+8 {
		return nil
	}
	udp := ip[ihl:]
	if binary.BigEndian.Uint16(udp[2:4]) != 67 {
		return nil
	}
	m, err := dhcpv4.FromBytes(udp[8:])
	if err != nil || m.OpCode != dhcpv4.OpcodeBootRequest {
		return nil
	}
	return m
}

// Wait returns the first DHCP client message from mac (e.g. the iPXE ROM's DISCOVER).
func (w *DHCPWatch) Wait(ctx context.Context, mac string) (*dhcpv4.DHCPv4, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil, err
	}
	for {
		w.mu.Lock()
		for _, m := range w.seen {
			if strings.EqualFold(m.ClientHWAddr.String(), hw.String()) {
				w.mu.Unlock()
				return m, nil
			}
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-w.done:
			return nil, fmt.Errorf("DHCP capture on %s ended before a message from %s", ProvisioningBridge, mac)
		case <-ctx.Done():
			return nil, fmt.Errorf("no DHCP message from %s on %s: %w", mac, ProvisioningBridge, ctx.Err())
		}
	}
}

// Seen lists every DHCP client message captured so far.
func (w *DHCPWatch) Seen() []*dhcpv4.DHCPv4 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*dhcpv4.DHCPv4(nil), w.seen...)
}

// Close stops the capture.
func (w *DHCPWatch) Close() error {
	err := w.sn.Close()
	<-w.done
	return err
}
