package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
	"github.com/racklift/racklift/pkg/expect"
)

// ExpectationsCache is the file in the spool keeping the expectations the server gave
// last (not *.json: that is a report).
const ExpectationsCache = "expectations.cache"

// expectations come from ExpectFile, else the server, else the copy the server gave
// last time; with none, the report still carries the hardware inventory. A one-shot
// agent (the ramdisk's) with nothing cached keeps asking the server, backing off, for up
// to DeliverTimeout: its checks and the deploy mean nothing without them, and a serve
// restarting just as the node boots must not make it report an empty pass (found by the
// deploy end-to-end test: a node whose agent started while serve was SIGKILLed reported
// zero checks and never deployed).
func (d *Daemon) expectations(ctx context.Context) *expect.Expectations {
	if d.ExpectFile != "" {
		e, err := expect.Load(d.ExpectFile)
		if err == nil {
			e.Node = d.Node
			return e
		}
		d.Log.Error("cannot read expectations", "error", err.Error())
		return &expect.Expectations{Node: d.Node}
	}
	if d.Client == nil {
		return &expect.Expectations{Node: d.Node}
	}
	cache := filepath.Join(d.Spool.Dir, ExpectationsCache)
	e, err := d.fetchExpectations(ctx)
	if err != nil && d.Once && d.DeliverTimeout > 0 {
		if _, cerr := os.Stat(cache); cerr != nil {
			e, err = d.retryExpectations(ctx, err)
		}
	}
	if err == nil {
		if b, jerr := json.MarshalIndent(e, "", "  "); jerr == nil {
			os.MkdirAll(d.Spool.Dir, 0o700)
			atomicfile.WriteFile(cache, b, 0o600)
		}
		e.Node = d.Node
		return e
	}
	if cached, cerr := expect.Load(cache); cerr == nil {
		d.Log.Warn("server unreachable, using the expectations it gave last time", "error", err.Error(), "cache", cache)
		cached.Node = d.Node
		return cached
	}
	d.Log.Warn("no expectations (server unreachable, none cached): reporting hardware only", "error", err.Error())
	return &expect.Expectations{Node: d.Node}
}

func (d *Daemon) fetchExpectations(ctx context.Context) (*expect.Expectations, error) {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return d.Client.Expectations(fctx, d.Node)
}

// retryExpectations asks again, 1 s then doubling to 10 s between tries, until the
// server answers or DeliverTimeout has passed since the first failure (err).
func (d *Daemon) retryExpectations(ctx context.Context, err error) (*expect.Expectations, error) {
	deadline := time.Now().Add(d.DeliverTimeout)
	wait := time.Second
	for time.Now().Before(deadline) {
		d.Log.Warn("no expectations yet (server unreachable, none cached): asking again", "retry_in", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		var e *expect.Expectations
		if e, err = d.fetchExpectations(ctx); err == nil {
			return e, nil
		}
		wait = min(2*wait, 10*time.Second)
	}
	return nil, err
}
