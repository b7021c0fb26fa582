package state

import (
	"fmt"
	"testing"
)

// TestRecentKeepsTheNewest: a node record keeps its last RecentEvents events, oldest
// first, also when one update logs several. Regression (issue 20): trimming from the
// wrong end kept the oldest, so status showed a node's first events forever.
func TestRecentKeepsTheNewest(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, b backend) {
		s := b.openB(t, b.fresh(t))
		defer s.Close()
		total := 0
		for i := range RecentEvents + 7 {
			k := 1 + i%3 // 1, 2 or 3 events per update
			if _, err := s.Update("n", func(n *Node) ([]Event, error) {
				var evs []Event
				for range k {
					total++
					evs = append(evs, Event{Kind: fmt.Sprintf("e%d", total)})
				}
				return evs, nil
			}); err != nil {
				t.Fatal(err)
			}
			n, err := s.Get("n")
			if err != nil {
				t.Fatal(err)
			}
			if want := min(total, RecentEvents); len(n.Recent) != want {
				t.Fatalf("after %d events: %d recent, want %d", total, len(n.Recent), want)
			}
		}
		n, err := s.Get("n")
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Recent) != RecentEvents {
			t.Fatalf("%d recent events, want %d", len(n.Recent), RecentEvents)
		}
		for i, e := range n.Recent {
			want := total - RecentEvents + 1 + i
			if e.Kind != fmt.Sprintf("e%d", want) || e.Seq != uint64(want) {
				t.Fatalf("recent[%d] = %s seq %d; want e%d seq %d (the newest %d, oldest first)", i, e.Kind, e.Seq, want, want, RecentEvents)
			}
		}
	})
}
