// Package ui is serve's dashboard at /ui/: the site drawn as rack elevations, each node a
// box in its units coloured by its phase with the phase written on it; a node view with
// its phase history, last report (failed checks first, as `provision report` prints
// them), storage rates, network hops, GPUs, deploy, BMC and events; and a nodes ×
// networks matrix. It reads the inventory in force and serve's state; updates are pushed
// as server-sent events from the state's event log (the log the CLI's `events --follow`
// reads), so the page never polls. It is read-only, and answers only clients on this host
// or clients holding the control API's token (access.go). The page is plain HTML, CSS
// and JavaScript embedded in the binary: no Node.js toolchain.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/inventory"
	"github.com/racklift/racklift/pkg/state"
)

//go:embed assets
var assets embed.FS

// Prefix is where serve mounts the dashboard.
const Prefix = "/ui/"

// Store is what the dashboard reads of serve's state (state.Bolt satisfies it).
type Store interface {
	Get(name string) (state.Node, error)
	List() ([]state.Node, error)
	Events(q state.Query) ([]state.Event, error)
	LastSeq() (uint64, error)
	Retention() (state.Retention, error)
	Wait(ctx context.Context, after uint64) error
}

// Config wires the dashboard to serve.
type Config struct {
	// Inventory is the inventory in force (it changes on a reload).
	Inventory func() *inventory.Inventory
	Store     Store
	// Token is the control API's token (api.token in the state dir): a client not on
	// this host must present it, or the session cookie the login page gives for it.
	Token string
	Log   *slog.Logger
	// KeepAlive is how often an idle event stream sends a comment, so proxies and the
	// browser see it alive (default 15s).
	KeepAlive time.Duration
	// Now is the clock phase durations are measured with (default time.Now).
	Now func() time.Time
}

type handler struct {
	cfg  Config
	sums summaries
	view view
	mux  *http.ServeMux
}

// Handler serves the dashboard under Prefix.
func Handler(cfg Config) http.Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.KeepAlive <= 0 {
		cfg.KeepAlive = 15 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &handler{cfg: cfg, mux: http.NewServeMux()}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	files := http.StripPrefix(Prefix, http.FileServerFS(static))
	h.mux.HandleFunc("GET "+Prefix+"{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, static, "index.html")
	})
	for _, f := range []string{"app.js", "app.css"} {
		h.mux.Handle("GET "+Prefix+f, files)
	}
	h.mux.HandleFunc("GET "+Prefix+"api/site", h.site)
	h.mux.HandleFunc("GET "+Prefix+"api/networks", h.networks)
	h.mux.HandleFunc("GET "+Prefix+"api/nodes/{name}", h.node)
	h.mux.HandleFunc("GET "+Prefix+"api/events", h.events)
	return h.guard()
}

// inventory is the inventory in force, or an error a page can show.
func (h *handler) inventory() (*inventory.Inventory, error) {
	if h.cfg.Inventory == nil || h.cfg.Store == nil {
		return nil, errors.New("this serve runs no provisioning core: no state to show")
	}
	inv := h.cfg.Inventory()
	if inv == nil {
		return nil, errors.New("serve has no inventory loaded yet")
	}
	return inv, nil
}

// view is the dashboard's copy of every node's record, without the report and recent
// events (summarised once in sums): a page load reads the event log since the last one
// and re-reads only the nodes it names, instead of decoding 10,000 records. A full read
// every fullEvery catches a record changed without an event.
type view struct {
	mu   sync.Mutex
	m    map[string]state.Node
	seq  uint64 // the log's sequence number m reflects
	full time.Time
}

const (
	fullEvery = 30 * time.Second
	// catchUp is the most events a load catches up through; more, and it reads every record.
	catchUp = 4096
)

// keep is n as the view holds it, its report summarised.
func (h *handler) keep(n state.Node) state.Node {
	h.sums.of(n)
	n.Report, n.Recent, n.Token, n.Identity = nil, nil, nil, nil
	return n
}

// records is every node's record (without its report) and the last sequence number it
// reflects, so the live stream resumes without a gap (replaying an event already shown
// is harmless: an update carries the node's whole box).
func (h *handler) records() (map[string]state.Node, uint64, error) {
	v := &h.view
	v.mu.Lock()
	defer v.mu.Unlock()
	last, err := h.cfg.Store.LastSeq()
	if err != nil {
		return nil, 0, err
	}
	var evs []state.Event
	fresh := v.m != nil && last >= v.seq && h.cfg.Now().Sub(v.full) < fullEvery
	if fresh && last > v.seq {
		if evs, err = h.cfg.Store.Events(state.Query{After: v.seq, Limit: catchUp}); err != nil {
			return nil, 0, err
		}
		fresh = len(evs) > 0 && len(evs) < catchUp && evs[0].Seq == v.seq+1 // and none dropped by retention
	}
	if !fresh {
		ns, err := h.cfg.Store.List()
		if err != nil {
			return nil, 0, err
		}
		v.m = make(map[string]state.Node, len(ns))
		for _, n := range ns {
			v.m[n.Name] = h.keep(n)
		}
		v.seq, v.full = last, h.cfg.Now()
	} else {
		seen := map[string]bool{}
		for _, e := range evs {
			if seen[e.Node] {
				continue
			}
			seen[e.Node] = true
			n, err := h.cfg.Store.Get(e.Node)
			switch {
			case errors.Is(err, state.ErrNotFound):
				delete(v.m, e.Node)
			case err != nil:
				return nil, 0, err
			default:
				v.m[e.Node] = h.keep(n)
			}
		}
		if len(evs) > 0 {
			v.seq = evs[len(evs)-1].Seq
		}
	}
	out := make(map[string]state.Node, len(v.m))
	for k, n := range v.m {
		out[k] = n
	}
	return out, v.seq, nil
}

// request is what the site and networks views both read: the inventory in force, the
// nodes the filter selects and the records with the event number they are current at.
// It answers the request itself on an error (ok false).
type request struct {
	inv      *inventory.Inventory
	selector string
	sel      map[string]bool
	records  map[string]state.Node
	last     uint64
}

func (h *handler) read(w http.ResponseWriter, r *http.Request) (v request, ok bool) {
	var err error
	if v.inv, err = h.inventory(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return v, false
	}
	v.selector = r.URL.Query().Get("select")
	if v.sel, err = selection(v.inv, v.selector); err != nil {
		writeError(w, http.StatusBadRequest, "filter "+strconv.Quote(v.selector)+": "+err.Error())
		return v, false
	}
	if v.records, v.last, err = h.records(); err != nil {
		writeError(w, http.StatusInternalServerError, "reading the state: "+err.Error())
		return v, false
	}
	return v, true
}

func (h *handler) site(w http.ResponseWriter, r *http.Request) {
	v, ok := h.read(w, r)
	if !ok {
		return
	}
	h.sums.forget(func(name string) bool { return v.inv.Node(name) != nil })
	site := buildSite(v.inv, v.records, &h.sums, v.sel)
	site.LastSeq, site.Selector = v.last, v.selector
	writeJSON(w, site)
}

func (h *handler) networks(w http.ResponseWriter, r *http.Request) {
	v, ok := h.read(w, r)
	if !ok {
		return
	}
	nets := buildNetworks(v.inv, v.records, &h.sums, v.sel)
	nets.LastSeq, nets.Selector = v.last, v.selector
	writeJSON(w, nets)
}

func (h *handler) node(w http.ResponseWriter, r *http.Request) {
	inv, err := h.inventory()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	name := r.PathValue("name")
	nd := inv.Node(name)
	if nd == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("node %s is not in the inventory in force", text(name)))
		return
	}
	last, err := h.cfg.Store.LastSeq()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the state: "+err.Error())
		return
	}
	n, err := h.cfg.Store.Get(name)
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("reading node %s: %v", name, err))
		return
	}
	evs, err := h.cfg.Store.Events(state.Query{Node: name})
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("reading node %s's events: %v", name, err))
		return
	}
	writeJSON(w, buildNode(inv, nd, n, h.sums.of(n), evs, last, h.cfg.Now()))
}

// streamBatch bounds how many events one read of the log sends before flushing.
const streamBatch = 512

// events streams the state's event log as server-sent events ("update", with the node's
// box after each), from ?after=SEQ or the browser's Last-Event-ID when it reconnects
// (after serve restarted, say), else from now. When events the client missed are gone
// from the log (retention) or the log is not the one it followed (a new state), it gets
// "reset" and reloads its view.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	if _, err := h.inventory(); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	last, err := h.cfg.Store.LastSeq()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the state: "+err.Error())
		return
	}
	after, resume := last, r.Header.Get("Last-Event-ID")
	if resume == "" {
		resume = r.URL.Query().Get("after")
	}
	if resume != "" {
		if after, err = strconv.ParseUint(resume, 10, 64); err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after=%q: want an event sequence number", resume))
			return
		}
	}
	ret, err := h.cfg.Store.Retention()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "reading the state: "+err.Error())
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // a reverse proxy must not hold events back
	w.WriteHeader(http.StatusOK)
	// The browser reconnects after a second when the stream breaks (serve restarting).
	fmt.Fprint(w, "retry: 1000\n\n")
	if after > last || ret.DroppedThrough > after {
		fmt.Fprintf(w, "event: reset\ndata: {\"last_seq\":%d}\n\n", last)
		after = last
	}
	if rc.Flush() != nil {
		return
	}
	ctx := r.Context()
	for ctx.Err() == nil {
		evs, err := h.cfg.Store.Events(state.Query{After: after, Limit: streamBatch})
		if err != nil {
			h.cfg.Log.Error("dashboard event stream: reading the log", "after", after, "err", err)
			return
		}
		if len(evs) == 0 {
			wctx, cancel := context.WithTimeout(ctx, h.cfg.KeepAlive)
			err := h.cfg.Store.Wait(wctx, after)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil { // idle: a comment keeps the connection and finds a gone client
				if _, err := fmt.Fprint(w, ": idle\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			}
			continue
		}
		if err := h.send(w, evs); err != nil || rc.Flush() != nil {
			return
		}
		after = evs[len(evs)-1].Seq
	}
}

// send writes one batch of events, reading each node's record once.
func (h *handler) send(w http.ResponseWriter, evs []state.Event) error {
	inv := h.cfg.Inventory()
	boxes := map[string]*Box{}
	for _, e := range evs {
		if _, done := boxes[e.Node]; done {
			continue
		}
		var b *Box
		if nd := inv.Node(e.Node); nd != nil {
			n, err := h.cfg.Store.Get(e.Node)
			if err != nil && !errors.Is(err, state.ErrNotFound) {
				return err
			}
			bx := box(nd, n, h.sums.of(n))
			b = &bx
		}
		boxes[e.Node] = b
	}
	for _, e := range evs {
		data, err := json.Marshal(Update{Event: e, Box: boxes[e.Node]})
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "id: %d\nevent: update\ndata: %s\n\n", e.Seq, data); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(api.Error{Error: msg}) // the control API's error body
}
