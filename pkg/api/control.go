package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/racklift/racklift/pkg/state"
)

// Files in the state dir that the CLI finds serve by.
const (
	SocketFile = "api.sock"  // the control API's unix socket
	TokenFile  = "api.token" // its bearer token, 0600
)

// SocketPath and TokenPath in stateDir.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, SocketFile) }
func TokenPath(stateDir string) string  { return filepath.Join(stateDir, TokenFile) }

// UpFunc starts nodes (provisioner.Core.Up: resolve selectors, lifecycle.Machine.Up).
type UpFunc func(ctx context.Context, req UpRequest) (UpResponse, error)

// RevokeFunc revokes a node's credentials (provisioner.Core.Revoke).
type RevokeFunc func(ctx context.Context, node string) error

// ControlConfig wires the control endpoints.
type ControlConfig struct {
	Store  state.Store
	Token  string     // required bearer token
	Up     UpFunc     // nil: 501
	Revoke RevokeFunc // nil: 501
}

// Control paths.
const (
	PathNodes      = "/api/v1/nodes"
	PathNode       = "/api/v1/nodes/{name}"
	PathNodeEvents = "/api/v1/nodes/{name}/events"
	PathEvents     = "/api/v1/events"
	PathRetention  = "/api/v1/events/retention"
	PathBackup     = "/api/v1/state/backup"
	PathCheck      = "/api/v1/state/check"
	PathUp         = "/api/v1/up"
	PathRevoke     = "/api/v1/nodes/{name}/revoke"
	PathHealth     = "/api/v1/health"
)

// MaxWait bounds a long poll.
const MaxWait = 60 * time.Second

// ControlHandler serves the CLI's endpoints. Event reads take after=SEQ (resume point),
// limit=N and wait=DURATION (long poll until an event after SEQ exists).
func ControlHandler(cfg ControlConfig) http.Handler {
	c := &control{cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathNodes, c.nodes)
	mux.HandleFunc("GET "+PathNode, c.node)
	mux.HandleFunc("GET "+PathNodeEvents, c.events)
	mux.HandleFunc("GET "+PathEvents, c.events)
	mux.HandleFunc("GET "+PathRetention, c.retention)
	mux.HandleFunc("GET "+PathBackup, c.backup)
	mux.HandleFunc("GET "+PathCheck, c.check)
	mux.HandleFunc("POST "+PathUp, c.up)
	mux.HandleFunc("POST "+PathRevoke, c.revoke)
	mux.HandleFunc("GET "+PathHealth, c.health)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !TokenOK(bearer(r), cfg.Token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="racklift control"`)
			writeError(w, http.StatusUnauthorized, "control API: missing or wrong token: the CLI reads it from "+TokenFile+" in serve's --state-dir")
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// TokenOK is the control API's one access rule: the presented token is serve's control
// token (api.token in the state dir), compared in constant time; no token configured
// admits nobody. The dashboard (pkg/ui) applies the same rule to clients that are not
// on this host.
func TokenOK(presented, token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(presented), []byte(token)) == 1
}

// Bearer is the token of an Authorization: Bearer header ("" when none).
func Bearer(r *http.Request) string { return bearer(r) }

type control struct{ cfg ControlConfig }

func (c *control) nodes(w http.ResponseWriter, r *http.Request) {
	ns, err := c.cfg.Store.List()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := make([]NodeStatus, 0, len(ns))
	for _, n := range ns {
		out = append(out, StatusOf(n))
	}
	writeJSON(w, http.StatusOK, out)
}

func (c *control) node(w http.ResponseWriter, r *http.Request) {
	n, err := c.cfg.Store.Get(r.PathValue("name"))
	if errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("node %s: serve has no state for it (not in the inventory, or never seen)", r.PathValue("name")))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, DetailOf(n))
}

func (c *control) events(w http.ResponseWriter, r *http.Request) {
	q, wait, err := eventQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	evs, err := c.cfg.Store.Events(q)
	if err == nil && len(evs) == 0 && wait > 0 {
		ctx, cancel := context.WithTimeout(r.Context(), wait)
		defer cancel()
		// Wait wakes on any node's event; loop until one of ours or the deadline.
		for err == nil && len(evs) == 0 && ctx.Err() == nil {
			last, _ := lastSeq(c.cfg.Store, q.After)
			if c.cfg.Store.Wait(ctx, last) != nil {
				break
			}
			evs, err = c.cfg.Store.Events(q)
		}
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if evs == nil {
		evs = []state.Event{}
	}
	writeJSON(w, http.StatusOK, evs)
}

func (c *control) retention(w http.ResponseWriter, _ *http.Request) {
	r, err := c.cfg.Store.Retention()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, r)
}

func (c *control) backup(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer // whole before the status line, so a failed snapshot is a 500
	if _, err := c.cfg.Store.WriteBackup(&buf); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(buf.Bytes())
}

func (c *control) check(w http.ResponseWriter, _ *http.Request) {
	if err := c.cfg.Store.Check(); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// lastSeq is the newest sequence number at or after from.
func lastSeq(s state.Store, from uint64) (uint64, error) {
	seq, err := s.LastSeq()
	if err == nil && seq > from {
		return seq, nil
	}
	return from, err
}

func eventQuery(r *http.Request) (state.Query, time.Duration, error) {
	q := state.Query{Node: r.PathValue("name")}
	v := r.URL.Query()
	var err error
	if s := v.Get("after"); s != "" {
		if q.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return q, 0, fmt.Errorf("after=%q: want an event sequence number", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 0 {
			return q, 0, fmt.Errorf("limit=%q: want a count", s)
		}
	}
	var wait time.Duration
	if s := v.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 {
			return q, 0, fmt.Errorf("wait=%q: want a duration like 30s", s)
		}
		wait = min(wait, MaxWait)
	}
	return q, wait, nil
}

func (c *control) up(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Up == nil {
		writeError(w, http.StatusNotImplemented, "this serve cannot bring nodes up")
		return
	}
	var req UpRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "up request: "+err.Error())
		return
	}
	resp, err := c.cfg.Up(r.Context(), req)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Revoked is the answer to a revocation.
type Revoked struct {
	Node    string `json:"node"`
	Revoked bool   `json:"revoked"`
}

func (c *control) revoke(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Revoke == nil {
		writeError(w, http.StatusNotImplemented, "this serve cannot revoke credentials")
		return
	}
	node := r.PathValue("name")
	if err := c.cfg.Revoke(r.Context(), node); errors.Is(err, state.ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	} else if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, Revoked{Node: node, Revoked: true})
}

// Health is the answer to GET /api/v1/health.
type Health struct {
	LastSeq uint64 `json:"last_seq"`
}

func (c *control) health(w http.ResponseWriter, r *http.Request) {
	seq, err := c.cfg.Store.LastSeq()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, Health{LastSeq: seq})
}
