package bmc

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// progressLine redraws "power cycle: 3/10 BMCs done, 1 failed, 2.5s" on w (a terminal)
// on every result and on a tick, so time moves while BMCs are slow. stop ends the
// redrawing and clears the line.
func progressLine(w io.Writer, action string, total int, start time.Time) (p Progress, stop func()) {
	var done, failed atomic.Int64
	var mu sync.Mutex
	draw := func() {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "\r%s: %d/%d BMCs done, %d failed, %.1fs ", action, done.Load(), total, failed.Load(), time.Since(start).Seconds())
	}
	p = func(d, _, f int) { done.Store(int64(d)); failed.Store(int64(f)); draw() }
	tick := time.NewTicker(250 * time.Millisecond)
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-tick.C:
				draw()
			case <-quit:
				return
			}
		}
	}()
	return p, func() {
		tick.Stop()
		close(quit)
		<-finished
		mu.Lock()
		fmt.Fprint(w, "\r\033[K")
		mu.Unlock()
	}
}
