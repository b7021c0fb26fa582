package state

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// recordSize fills node's window of recent events with n small updates, as a boot does,
// and returns the size of its record (as JSON): what every save of the node reads,
// decodes and writes again, so a save's cost follows it.
func recordSize(t *testing.T, s Store, node string, n int) int {
	t.Helper()
	for range n {
		if _, err := s.Update(node, func(n *Node) ([]Event, error) {
			return []Event{{Kind: "dhcp.ack"}}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Get(node)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// The attack of issue 14 item 1: 100 callbacks whose stage is 1 MB of text. The log and
// the node's record keep only MaxDetail bytes of each, so state.db stays small and a
// later save of the node costs what it did before: its record, which each save reads
// and writes whole, stays within the capped details' worth of its size before. (This
// compared save times, which a loaded machine's disk made fail 2 runs in 20 under make
// flake; unbounded, the record grows to 33 MB.)
func TestHugeDetailsStayBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		dir := b.fresh(t)
		s := b.openB(t, dir)
		defer s.Close()
		before := recordSize(t, s, "gpu-01", 15)
		huge := strings.Repeat("A", 1<<20)
		for i := range 100 {
			if _, err := s.Update("gpu-01", func(n *Node) ([]Event, error) {
				n.Reason = huge
				return []Event{{Kind: "http.callback", Detail: huge}}, nil
			}); err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
		}
		after := recordSize(t, s, "gpu-01", 15)

		var size int64
		if b.name == "bolt" {
			fi, err := os.Stat(filepath.Join(dir, FileName))
			if err != nil {
				t.Fatal(err)
			}
			size = fi.Size()
		} else {
			size = etcdPrefixBytes(t, dir)
		}
		if size > 4<<20 {
			t.Errorf("the %s state holds %d bytes after 100 events of 1 MB: details are not capped", b.name, size)
		}
		n, err := s.Get("gpu-01")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range n.Recent {
			if len(e.Detail) > MaxDetail {
				t.Fatalf("a recent event keeps %d bytes of detail, over MaxDetail %d", len(e.Detail), MaxDetail)
			}
		}
		if len(n.Reason) > MaxReason {
			t.Errorf("the reason keeps %d bytes, over MaxReason %d", len(n.Reason), MaxReason)
		}
		evs, err := s.Events(Query{Node: "gpu-01"})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if len(e.Detail) > MaxDetail {
				t.Fatalf("event %d keeps %d bytes of detail", e.Seq, len(e.Detail))
			}
		}
		// The recent-events window holds capped details (and each event's kind, time and
		// sequence: 256 bytes of JSON allowed), and the reason is capped.
		if limit := before + RecentEvents*(MaxDetail+256) + MaxReason; after > limit {
			t.Errorf("the node's record is %d bytes after the attack, %d before: over %d, the capped details' worth", after, before, limit)
		}
		t.Logf("%s state %d bytes; the node's record %d bytes before, %d after", b.name, size, before, after)
	})
}

// An agent's report is kept once (the latest), and one past MaxReport is refused with the
// node named, so failing reports cannot grow the record.
func TestReportBounded(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		reason := strings.Repeat("check failed ", 160_000) // 2 MB
		for range 8 {
			if _, err := s.Update("gpu-01", func(n *Node) ([]Event, error) {
				n.Report = []byte(`{"results":[]}`)
				n.Reason = reason
				return []Event{{Kind: "report.fail", Detail: reason}}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.Get("gpu-01")
		if err != nil {
			t.Fatal(err)
		}
		if size := len(n.Report) + len(n.Reason) + len(n.Recent)*(MaxDetail+200); size > 64<<10 {
			t.Errorf("record holds about %d bytes after 8 failing 2 MB reports", size)
		}
		_, err = s.Update("gpu-01", func(n *Node) ([]Event, error) {
			n.Report = make([]byte, MaxReport+1)
			return nil, nil
		})
		if err == nil || !strings.Contains(err.Error(), "gpu-01") || !strings.Contains(err.Error(), "limit") {
			t.Errorf("a report over MaxReport: err = %v, want a refusal naming the node and the limit", err)
		}
	})
}

func TestRetention(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, tc := range []struct {
			name        string
			maxEvents   int
			maxAge      time.Duration
			write       int
			step        time.Duration // clock advance per write
			wantKept    int
			wantDropped uint64
			newNodes    bool // each write to a node not seen before
		}{
			{name: "count", maxEvents: 10, maxAge: time.Hour, write: 25, wantKept: 10, wantDropped: 15},
			{name: "count, new nodes", maxEvents: 10, maxAge: time.Hour, write: 25, wantKept: 10, wantDropped: 15, newNodes: true},
			{name: "age", maxEvents: 1000, maxAge: 10 * time.Minute, write: 30, step: time.Minute, wantKept: 11, wantDropped: 19},
			{name: "within both", maxEvents: 100, maxAge: time.Hour, write: 20, step: time.Second, wantKept: 20, wantDropped: 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				at := now
				s, err := b.open(t, b.fresh(t), Options{MaxEvents: tc.maxEvents, MaxEventAge: tc.maxAge, Now: func() time.Time { return at }})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				for i := range tc.write {
					node := []string{"a", "b"}[i%2]
					if tc.newNodes {
						node = fmt.Sprintf("n%02d", i)
					}
					if _, err := s.Update(node, func(n *Node) ([]Event, error) { return []Event{{Kind: "tick"}}, nil }); err != nil {
						t.Fatal(err)
					}
					at = at.Add(tc.step)
				}
				evs, err := s.Events(Query{})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != tc.wantKept {
					t.Errorf("log keeps %d events, want %d", len(evs), tc.wantKept)
				}
				if len(evs) > 0 && evs[len(evs)-1].Seq != uint64(tc.write) {
					t.Errorf("newest kept is %d, want %d", evs[len(evs)-1].Seq, tc.write)
				}
				r, err := s.Retention()
				if err != nil {
					t.Fatal(err)
				}
				if r.DroppedThrough != tc.wantDropped {
					t.Errorf("DroppedThrough = %d, want %d", r.DroppedThrough, tc.wantDropped)
				}
				// The per-node index loses the dropped events too.
				for _, node := range []string{"a", "b"} {
					nevs, err := s.Events(Query{Node: node})
					if err != nil {
						t.Fatalf("node %s: %v", node, err)
					}
					for _, e := range nevs {
						if e.Seq <= tc.wantDropped {
							t.Errorf("node %s still lists dropped event %d", node, e.Seq)
						}
					}
				}
			})
		}
	})
}
