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
// last time; with none, the report still carries the hardware inventory.
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
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	e, err := d.Client.Expectations(fctx, d.Node)
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
