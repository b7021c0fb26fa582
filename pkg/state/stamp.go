package state

import (
	"time"

	"github.com/racklift/racklift/pkg/sanitize"
)

// stamp is an event as every store logs it: its sequence number and node, its detail
// capped, the time (now when unset) and the node's phase when it names none.
func stamp(e Event, seq uint64, node, phase string, now func() time.Time) Event {
	e.Seq, e.Node = seq, node
	e.Detail = sanitize.Cap(e.Detail, MaxDetail)
	if e.Time.IsZero() {
		e.Time = now()
	}
	if e.Phase == "" {
		e.Phase = phase
	}
	return e
}

// keepRecent adds logged to the node's recent events, keeping the newest RecentEvents.
func keepRecent(n *Node, logged []Event) {
	n.Recent = append(n.Recent, logged...)
	if over := len(n.Recent) - RecentEvents; over > 0 {
		n.Recent = append([]Event(nil), n.Recent[over:]...)
	}
}
