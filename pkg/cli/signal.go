package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// SignalContext is a context that ends when one of sigs arrives (SIGINT and SIGTERM when
// none are given). before, if not nil, runs first, before the context ends: the agent
// removes its storage test files there, ahead of the checks unwinding. caught says which
// signal arrived, nil while none has; stop releases the signals and ends the context.
func SignalContext(parent context.Context, before func(), sigs ...os.Signal) (ctx context.Context, caught func() os.Signal, stop func()) {
	if len(sigs) == 0 {
		sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM}
	}
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	var mu sync.Mutex
	var got os.Signal
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			mu.Lock()
			got = s
			mu.Unlock()
			if before != nil {
				before()
			}
			cancel()
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() os.Signal {
			mu.Lock()
			defer mu.Unlock()
			return got
		}, func() {
			once.Do(func() {
				signal.Stop(ch)
				close(done)
				cancel()
			})
		}
}
