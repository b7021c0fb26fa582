// Package events turns every DHCP answer, TFTP transfer and HTTP fetch into a per-node
// event: one structured log line, a Prometheus counter, and an entry in an in-memory
// stream that later orchestration subscribes to.
package events

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/racklift/racklift/pkg/sanitize"
)

// Kind names what happened.
type Kind string

// The kinds serve produces, in the order a node normally goes through them.
const (
	DHCPOffer    Kind = "dhcp.offer"
	DHCPAck      Kind = "dhcp.ack"
	DHCPNak      Kind = "dhcp.nak"
	Discovered   Kind = "dhcp.discovered" // a MAC not in the inventory asked; not answered
	TFTPTransfer Kind = "tftp.transfer"
	TFTPRefused  Kind = "tftp.refused"
	HTTPScript   Kind = "http.script"
	HTTPArtifact Kind = "http.artifact"
	// HTTPArtifactStart is a node starting to download a file from the artifacts (the
	// transfer's own event comes when it ends): a multi-GiB image takes minutes.
	HTTPArtifactStart Kind = "http.artifact.start"
	HTTPInstall       Kind = "http.install"
	HTTPCallback      Kind = "http.callback"
	Reload            Kind = "inventory.reload"
)

// Event is one thing that happened to one node (Node is empty when the client is unknown).
type Event struct {
	Seq      uint64        `json:"seq"`
	Time     time.Time     `json:"time"`
	Kind     Kind          `json:"kind"`
	Node     string        `json:"node,omitempty"`
	MAC      string        `json:"mac,omitempty"`
	IP       string        `json:"ip,omitempty"`
	Detail   string        `json:"detail,omitempty"` // file, URL path, boot file or stage
	Bytes    int64         `json:"bytes,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Err      string        `json:"error,omitempty"`
}

// keep is how many recent events the stream holds for late readers.
const keep = 4096

// Stream fans events out to the log, the metrics and subscribers. A nil *Stream drops
// everything, so packages can be used without one.
type Stream struct {
	log *slog.Logger

	mu     sync.Mutex
	seq    uint64
	recent []Event // a ring of keep events once full; next is the oldest's index
	next   int
	subs   map[chan Event]struct{}

	total    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	dropped  prometheus.Counter
}

// New makes a stream logging to log and registering its metrics with reg (nil: none).
func New(log *slog.Logger, reg prometheus.Registerer) *Stream {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stream{
		log:  log,
		subs: map[chan Event]struct{}{},
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racklift_boot_events_total",
			Help: "Boot service events by kind and outcome (ok or error).",
		}, []string{"kind", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "racklift_boot_bytes_total",
			Help: "Bytes sent to booting nodes, by kind (tftp.transfer, http.artifact, ...).",
		}, []string{"kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "racklift_boot_transfer_seconds",
			Help:    "Duration of TFTP transfers and HTTP fetches.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}, []string{"kind"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "racklift_boot_events_dropped_total",
			Help: "Events a slow subscriber did not take in time.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.total, s.bytes, s.duration, s.dropped)
	}
	return s
}

// Publish records e, stamping its time and sequence number.
func (s *Stream) Publish(e Event) {
	if s == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	// Details and errors carry text from the network (paths, stages, client errors): they
	// are capped here, once, before the log, the ring and the subscribers see them.
	e.Detail = sanitize.Cap(e.Detail, sanitize.Detail)
	e.Err = sanitize.Cap(e.Err, sanitize.Detail)
	e.MAC = sanitize.Cap(e.MAC, 64)
	outcome := "ok"
	if e.Err != "" {
		outcome = "error"
	}
	s.total.WithLabelValues(string(e.Kind), outcome).Inc()
	if e.Bytes > 0 {
		s.bytes.WithLabelValues(string(e.Kind)).Add(float64(e.Bytes))
	}
	if e.Duration > 0 {
		s.duration.WithLabelValues(string(e.Kind)).Observe(e.Duration.Seconds())
	}

	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	if len(s.recent) < keep {
		s.recent = append(s.recent, e)
	} else { // full: overwrite the oldest in place rather than shifting keep entries
		s.recent[s.next] = e
		s.next = (s.next + 1) % keep
	}
	for ch := range s.subs {
		select {
		case ch <- e:
		default:
			s.dropped.Inc()
		}
	}
	s.mu.Unlock()

	attrs := []any{"event", string(e.Kind), "seq", e.Seq}
	for _, kv := range []struct{ k, v string }{{"node", e.Node}, {"mac", e.MAC}, {"ip", e.IP}, {"detail", e.Detail}} {
		if kv.v != "" {
			attrs = append(attrs, kv.k, kv.v)
		}
	}
	if e.Bytes > 0 {
		attrs = append(attrs, "bytes", e.Bytes)
	}
	if e.Duration > 0 {
		attrs = append(attrs, "duration", e.Duration.Round(time.Microsecond).String())
	}
	if e.Err != "" {
		attrs = append(attrs, "error", e.Err)
		s.log.Warn("boot event", attrs...)
		return
	}
	s.log.Info("boot event", attrs...)
}

// Subscribe returns a channel of events published from now on, closed when ctx ends.
// A subscriber that falls more than buf events behind loses events (counted in
// racklift_boot_events_dropped_total) rather than slowing DHCP or TFTP down.
func (s *Stream) Subscribe(ctx context.Context, buf int) <-chan Event {
	ch := make(chan Event, max(buf, 1))
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.subs, ch)
		close(ch)
		s.mu.Unlock()
	}()
	return ch
}

// Recent returns the events still held, oldest first; node "" means every node.
func (s *Stream) Recent(node string) []Event {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Event
	for i := range s.recent {
		e := s.recent[(s.next+i)%len(s.recent)]
		if node == "" || e.Node == node {
			out = append(out, e)
		}
	}
	return out
}
