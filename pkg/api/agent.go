package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/racklift/racklift/pkg/check"
	"github.com/racklift/racklift/pkg/expect"
	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

// Verifier checks a node's agent token (provisioner.Tokens).
type Verifier interface {
	Verify(node, token string) error
}

// Recorder takes agent events and reports (lifecycle.Machine).
type Recorder interface {
	Handle(ev lifecycle.Event) (lifecycle.Phase, error)
	Report(node string, raw []byte, pass bool, reason string) (lifecycle.Phase, error)
}

// ExpectFunc is a node's expectations (provisioner.Core.Expect: plan.ExpectationsFor
// over serve's current inventory); the result is sent as JSON.
type ExpectFunc func(node string) (*expect.Expectations, error)

// DefaultMaxReport bounds a report body.
const DefaultMaxReport = state.MaxReport

// AgentConfig wires the agent endpoints.
type AgentConfig struct {
	Tokens    Verifier
	Lifecycle Recorder
	Expect    ExpectFunc
	MaxReport int64 // bytes; 0: DefaultMaxReport
	Log       *slog.Logger
}

// AgentPaths, relative to the agent API's base URL (racklift.api=).
const (
	PathReport = "/api/v1/nodes/{name}/report"
	PathExpect = "/api/v1/nodes/{name}/expect"
	PathHello  = "/api/v1/nodes/{name}/hello"
)

// AgentHandler serves the agent endpoints. Every request must carry the node's own
// token: a wrong, stale or expired one gets 401, another node's 403, and nothing is
// stored or answered.
func AgentHandler(cfg AgentConfig) http.Handler {
	if cfg.MaxReport <= 0 {
		cfg.MaxReport = DefaultMaxReport
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	a := &agentAPI{cfg}
	mux := http.NewServeMux()
	mux.Handle("POST "+PathReport, a.auth(a.report))
	mux.Handle("GET "+PathExpect, a.auth(a.expect))
	mux.Handle("POST "+PathHello, a.auth(a.hello))
	return mux
}

type agentAPI struct{ cfg AgentConfig }

func (a *agentAPI) auth(next func(w http.ResponseWriter, r *http.Request, node string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		node := r.PathValue("name")
		err := a.cfg.Tokens.Verify(node, bearer(r))
		if err != nil {
			code := http.StatusUnauthorized
			if errors.Is(err, ErrOtherNode) {
				code = http.StatusForbidden
			} else if !errors.Is(err, ErrNoToken) && !errors.Is(err, ErrBadToken) && !errors.Is(err, ErrExpired) {
				code = http.StatusInternalServerError
			}
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="racklift agent"`)
			}
			a.cfg.Log.Warn("agent request refused", "node", node, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
			writeError(w, code, PublicTokenError(node, err))
			return
		}
		next(w, r, node)
	})
}

func (a *agentAPI) report(w http.ResponseWriter, r *http.Request, node string) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxReport))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("node %s: report body: %v (limit %d bytes)", node, err, a.cfg.MaxReport))
		return
	}
	rep, err := check.ParseReport(raw)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("node %s: %v", node, err))
		return
	}
	if rep.Node != "" && rep.Node != node {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("report says node %q but was posted for node %s", rep.Node, node))
		return
	}
	phase, err := a.cfg.Lifecycle.Report(node, raw, rep.Pass(), rep.FailureReason())
	if err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("node %s: storing the report: %v", node, err))
		return
	}
	a.cfg.Log.Info("agent report", "node", node, "pass", rep.Pass(), "phase", phase)
	writeJSON(w, http.StatusOK, map[string]any{"node": node, "phase": phase})
}

func (a *agentAPI) expect(w http.ResponseWriter, r *http.Request, node string) {
	if a.cfg.Expect == nil {
		writeError(w, http.StatusNotImplemented, "this serve builds no expectations")
		return
	}
	x, err := a.cfg.Expect(node)
	if err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("node %s: expectations: %v", node, err))
		return
	}
	if _, err := a.cfg.Lifecycle.Handle(lifecycle.Event{Node: node, Kind: lifecycle.AgentExpect, Detail: "from " + r.RemoteAddr}); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, x)
}

func (a *agentAPI) hello(w http.ResponseWriter, r *http.Request, node string) {
	var body struct {
		Agent string `json:"agent"`
		Stage string `json:"stage"` // ramdisk or installed
	}
	json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&body) // the body is optional
	detail := strings.TrimSpace(fmt.Sprintf("%s %s from %s", body.Stage, body.Agent, r.RemoteAddr))
	phase, err := a.cfg.Lifecycle.Handle(lifecycle.Event{Node: node, Kind: lifecycle.AgentHello, Detail: detail})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": node, "phase": phase})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}
