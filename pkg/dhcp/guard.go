package dhcp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/events"
)

// spoofed says why a request must go unanswered because of where its answer would go, ""
// when it may be answered, with the key its log line is rate-limited by. An answer
// follows giaddr (to a relay) and ciaddr (to a client that has an address): a forged one
// turns serve into a reflector and each answer into a stored event. So giaddr is
// honoured only from a relay on the node's own network (arrival has already checked that
// a network names it), and ciaddr only when it is the node's reserved address.
func (h *Handler) spoofed(req *Request) (why, key string) {
	m := req.Msg
	if gi := addr4(m.GatewayIPAddr); gi.IsValid() {
		if p := req.Node.Reservation.Prefix; p.IsValid() && !p.Contains(gi) {
			return fmt.Sprintf("giaddr %s (a relay) is not on node %s's network %s", gi, req.Node.Node, p), "giaddr-network"
		}
	}
	// On 4011 the answer goes back to the sender, whatever ciaddr says.
	if ci := addr4(m.ClientIPAddr); ci.IsValid() && req.Port != PortPXE && ci != req.Node.Reservation.IP {
		return fmt.Sprintf("ciaddr %s is not node %s's reserved address", ci, req.Node.Node), "ciaddr"
	}
	return "", ""
}

// addr4 is ip as an address, invalid when nil or 0.0.0.0.
func addr4(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip.To4())
	if !ok || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a
}

// rateLog writes at most one line per key every logEvery, saying how many were
// suppressed in between: a flood of forged packets must not become a flood of log lines.
// Keys are reasons (or a reason and a node name), never packet values, so a flood of
// random giaddrs cannot grow the map.
type rateLog struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

const logEvery = 10 * time.Second

func (r *rateLog) warn(log *slog.Logger, reason, msg string, args ...any) {
	if log == nil {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if r.last == nil {
		r.last, r.held = map[string]time.Time{}, map[string]int{}
	}
	if now.Sub(r.last[reason]) < logEvery {
		r.held[reason]++
		r.mu.Unlock()
		return
	}
	r.last[reason] = now
	n := r.held[reason]
	delete(r.held, reason)
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	log.Warn(msg, args...)
}

// coalescer drops an event that repeats the previous one of the same MAC (same kind,
// address, detail and error) within coalesceEvery: a client retrying DISCOVER every
// second must not become an event, an fsynced write in serve's log, per packet.
type coalescer struct {
	mu   sync.Mutex
	last map[string]seen // by MAC
}

type seen struct {
	key string
	at  time.Time
}

const (
	coalesceEvery = 10 * time.Second
	coalesceMax   = 4096 // MACs remembered; a flood of random MACs resets the memory
)

func (c *coalescer) repeat(e events.Event, now time.Time) bool {
	key := string(e.Kind) + "|" + e.IP + "|" + e.Detail + "|" + e.Err
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil || len(c.last) >= coalesceMax {
		c.last = map[string]seen{}
	}
	prev, ok := c.last[e.MAC]
	if ok && prev.key == key && now.Sub(prev.at) < coalesceEvery {
		return true
	}
	c.last[e.MAC] = seen{key, now}
	return false
}
