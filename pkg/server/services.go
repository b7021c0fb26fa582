package server

import (
	"context"
	"fmt"
)

// services runs serve's long-lived parts (TFTP, HTTP, DHCP, the provisioning core) and
// hands Run the first error one of them returns while serve is not stopping: a part
// that fails takes serve down instead of leaving it half up.
type services struct {
	ctx  context.Context
	errc chan error
}

func newServices(ctx context.Context) *services {
	return &services{ctx: ctx, errc: make(chan error, 1)}
}

// start runs f in its own goroutine and reports its error under name.
func (sv *services) start(name string, f func() error) {
	go func() { sv.report(name, f()) }()
}

// report records err as name's failure, unless serve is stopping (then every part
// returns an error by design) or a failure is already recorded.
func (sv *services) report(name string, err error) {
	if err == nil || sv.ctx.Err() != nil {
		return
	}
	select {
	case sv.errc <- fmt.Errorf("%s: %w", name, err):
	default:
	}
}

// failed delivers the first recorded failure.
func (sv *services) failed() <-chan error { return sv.errc }
