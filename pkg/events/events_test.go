package events

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestPublishOrdersAndFilters(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := New(nil, reg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := s.Subscribe(ctx, 8)

	s.Publish(Event{Kind: DHCPOffer, Node: "a"})
	s.Publish(Event{Kind: DHCPAck, Node: "b"})
	s.Publish(Event{Kind: TFTPTransfer, Node: "a", Bytes: 100})
	s.Publish(Event{Kind: TFTPRefused, Err: "escape"})

	got := s.Recent("a")
	if len(got) != 2 || got[0].Kind != DHCPOffer || got[1].Kind != TFTPTransfer || got[0].Seq >= got[1].Seq {
		t.Fatalf("Recent(a) = %+v, want offer then transfer", got)
	}
	for i, want := range []Kind{DHCPOffer, DHCPAck, TFTPTransfer, TFTPRefused} {
		select {
		case e := <-sub:
			if e.Kind != want {
				t.Fatalf("event %d = %s, want %s", i, e.Kind, want)
			}
		case <-time.After(time.Second):
			t.Fatalf("subscriber got no event %d", i)
		}
	}
	if v := value(s.total.WithLabelValues(string(TFTPRefused), "error")); v != 1 {
		t.Errorf("refused error count = %v, want 1", v)
	}
	if v := value(s.bytes.WithLabelValues(string(TFTPTransfer))); v != 100 {
		t.Errorf("tftp bytes = %v, want 100", v)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	t.Parallel()
	s := New(nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	sub := s.Subscribe(ctx, 1)
	for range 10 {
		s.Publish(Event{Kind: HTTPScript})
	}
	if v := value(s.dropped); v != 9 {
		t.Errorf("dropped = %v, want 9", v)
	}
	cancel()
	for range sub {
	}
	if len(s.Recent("")) != 10 {
		t.Errorf("recent = %d, want 10", len(s.Recent("")))
	}
}

func TestNilStreamIsSafe(t *testing.T) {
	var s *Stream
	s.Publish(Event{Kind: HTTPScript})
	if s.Recent("") != nil {
		t.Fatal("nil stream returned events")
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
