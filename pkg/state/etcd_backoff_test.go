package state

import (
	"sync"
	"testing"
	"time"
)

// TestEtcdLostBatchBacksOff: a batch that lost its race with another instance pauses,
// for a random time of at most its try's duration, before it reads again; a batch that
// commits at once does not pause.
func TestEtcdLostBatchBacksOff(t *testing.T) {
	t.Parallel()
	prefix := etcdBackend.fresh(t)
	a, _ := openRecorded(t, prefix, Options{})
	b, _ := openRecorded(t, prefix, Options{})
	var mu sync.Mutex
	var pauses []time.Duration
	a.backoff = func(try time.Duration) {
		mu.Lock()
		pauses = append(pauses, try)
		mu.Unlock()
	}
	if _, err := a.Update("x", count); err != nil {
		t.Fatal(err)
	}
	if len(pauses) != 0 {
		t.Fatalf("a batch that committed at once paused %v", pauses)
	}
	runs := 0
	start := time.Now()
	_, err := a.Update("x", func(n *Node) ([]Event, error) {
		if runs++; runs == 1 { // b advances the log between a's read and its write
			if _, err := b.Update("y", count); err != nil {
				t.Error(err)
			}
		}
		return count(n)
	})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 2 || len(pauses) != 1 {
		t.Fatalf("fn ran %d times, %d pauses: want the lost try paused once, then committed", runs, len(pauses))
	}
	if pauses[0] <= 0 || pauses[0] > took {
		t.Errorf("paused up to %v: want up to the lost try's duration (the Update took %v)", pauses[0], took)
	}
}
