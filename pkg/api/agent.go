package api

import (
	"crypto/x509"
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

// Verifier checks a node's credentials (provisioner.Credentials): the client certificate
// of every agent call, the one-time exchange of the bootstrap secret for one, and its
// renewal. Each takes and returns PEM.
type Verifier interface {
	Verify(node string, cert *x509.Certificate) error
	Exchange(node, secret string, csrPEM []byte, from string) (certPEM []byte, err error)
	Renew(node string, cert *x509.Certificate, csrPEM []byte) (certPEM []byte, err error)
}

// InstalledFunc marks a node installed (provisioner.Core.SetInstalled): it boots its
// local disk until `provision up --reprovision`.
type InstalledFunc func(node string) error

// Recorder takes agent events and reports (lifecycle.Machine).
type Recorder interface {
	Handle(ev lifecycle.Event) (lifecycle.Phase, error)
	Report(node string, raw []byte, pass bool, reason string) (lifecycle.Phase, error)
}

// ExpectFunc is a node's expectations (provisioner.Core.Expect: plan.ExpectationsFor
// over serve's current inventory); the result is sent as JSON.
type ExpectFunc func(node string) (*expect.Expectations, error)

// JudgeFunc is serve's own checks of a report, added to its results before the verdict
// (provisioner.Core.Judge: the LLDP cabling against the inventory, pkg/cabling).
type JudgeFunc func(node string, rep *check.Report) []check.Result

// DefaultMaxReport bounds a report body.
const DefaultMaxReport = state.MaxReport

// AgentConfig wires the agent endpoints.
type AgentConfig struct {
	Tokens    Verifier
	Lifecycle Recorder
	Expect    ExpectFunc
	Installed InstalledFunc // nil: 501
	Judge     JudgeFunc     // nil: the agent's checks alone
	CAPEM     []byte        // serve's CA, sent with each certificate issued
	MaxReport int64         // bytes; 0: DefaultMaxReport
	Log       *slog.Logger
}

// AgentPaths, relative to the agent API's base URL (racklift.api=).
const (
	PathReport    = "/api/v1/nodes/{name}/report"
	PathExpect    = "/api/v1/nodes/{name}/expect"
	PathHello     = "/api/v1/nodes/{name}/hello"
	PathInstalled = "/api/v1/nodes/{name}/installed"
	PathBootstrap = "/api/v1/nodes/{name}/bootstrap"
	PathRenew     = "/api/v1/nodes/{name}/renew"
)

// CertRequest is the body of the bootstrap exchange and of a renewal: a certificate
// request over a key made on the node and, for the exchange, the bootstrap secret.
type CertRequest struct {
	Bootstrap string `json:"bootstrap,omitempty"`
	CSR       string `json:"csr"` // PEM
}

// CertResponse is the node's certificate and serve's CA, PEM.
type CertResponse struct {
	Node        string `json:"node"`
	Certificate string `json:"certificate"`
	CA          string `json:"ca"`
}

// AgentHandler serves the agent endpoints. The bootstrap exchange is authenticated by
// the secret in its body; every other request by the node's own client certificate
// (mutual TLS, verified by the listener against serve's CA, then checked here against
// the node's record): a missing, wrong, revoked or expired one gets 401, a superseded
// one (renewed, or a later run) 409, another node's 403, and nothing is stored.
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
	mux.Handle("POST "+PathInstalled, a.auth(a.installed))
	mux.Handle("POST "+PathRenew, a.auth(a.renew))
	mux.HandleFunc("POST "+PathBootstrap, a.bootstrap)
	return mux
}

type agentAPI struct{ cfg AgentConfig }

// peer is the client certificate the TLS handshake verified, if any.
func peer(r *http.Request) *x509.Certificate {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return nil
	}
	return r.TLS.VerifiedChains[0][0]
}

// refuse answers a refused credential; the error never holds the secret.
func (a *agentAPI) refuse(w http.ResponseWriter, r *http.Request, node string, err error) {
	code := http.StatusUnauthorized
	switch {
	case errors.Is(err, ErrOtherNode):
		code = http.StatusForbidden
	case errors.Is(err, ErrSuperseded):
		code = http.StatusConflict
	case errors.Is(err, ErrNoToken), errors.Is(err, ErrBadToken), errors.Is(err, ErrExpired), errors.Is(err, ErrReplayed), errors.Is(err, ErrRevoked):
	default:
		code = http.StatusInternalServerError
	}
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Mutual-TLS realm="racklift agent"`)
	}
	a.cfg.Log.Warn("agent request refused", "node", node, "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
	writeError(w, code, PublicTokenError(node, err))
}

func (a *agentAPI) auth(next func(w http.ResponseWriter, r *http.Request, node string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		node := r.PathValue("name")
		if err := a.cfg.Tokens.Verify(node, peer(r)); err != nil {
			a.refuse(w, r, node, err)
			return
		}
		next(w, r, node)
	})
}

func (a *agentAPI) certRequest(w http.ResponseWriter, r *http.Request, node string) (CertRequest, bool) {
	var req CertRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil || req.CSR == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("node %s: want a JSON body with csr (PEM certificate request) and, for the exchange, bootstrap", node))
		return req, false
	}
	return req, true
}

func (a *agentAPI) sendCert(w http.ResponseWriter, node string, certPEM []byte) {
	writeJSON(w, http.StatusOK, CertResponse{Node: node, Certificate: string(certPEM), CA: string(a.cfg.CAPEM)})
}

// bootstrap exchanges the node's one-time secret for its client certificate.
func (a *agentAPI) bootstrap(w http.ResponseWriter, r *http.Request) {
	node := r.PathValue("name")
	req, ok := a.certRequest(w, r, node)
	if !ok {
		return
	}
	certPEM, err := a.cfg.Tokens.Exchange(node, req.Bootstrap, []byte(req.CSR), r.RemoteAddr)
	if err != nil {
		if errors.Is(err, ErrBadRequest) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.refuse(w, r, node, err)
		return
	}
	a.cfg.Log.Info("node certificate issued", "node", node, "remote", r.RemoteAddr)
	a.sendCert(w, node, certPEM)
}

// renew gives the node a fresh certificate for its current one.
func (a *agentAPI) renew(w http.ResponseWriter, r *http.Request, node string) {
	req, ok := a.certRequest(w, r, node)
	if !ok {
		return
	}
	certPEM, err := a.cfg.Tokens.Renew(node, peer(r), []byte(req.CSR))
	if err != nil {
		if errors.Is(err, ErrBadRequest) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.refuse(w, r, node, err)
		return
	}
	a.cfg.Log.Info("node certificate renewed", "node", node, "remote", r.RemoteAddr)
	a.sendCert(w, node, certPEM)
}

// installed: the node's OS is on its disk; it boots its local disk from now on.
func (a *agentAPI) installed(w http.ResponseWriter, r *http.Request, node string) {
	if a.cfg.Installed == nil {
		writeError(w, http.StatusNotImplemented, "this serve records no installs")
		return
	}
	if err := a.cfg.Installed(node); err != nil {
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("node %s: %v", node, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"node": node, "installed": true})
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
	if a.cfg.Judge != nil {
		if extra := a.cfg.Judge(node, &rep); len(extra) > 0 {
			rep.Results = append(rep.Results, extra...)
			if raw, err = json.Marshal(rep); err != nil {
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("node %s: %v", node, err))
				return
			}
			if int64(len(raw)) > a.cfg.MaxReport {
				writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("node %s: the report with serve's checks is %d bytes (limit %d)", node, len(raw), a.cfg.MaxReport))
				return
			}
		}
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
	detail := strings.TrimSpace(fmt.Sprintf("%s %s from %s", clean(body.Stage, 32), clean(body.Agent, 64), r.RemoteAddr))
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

// clean bounds text a node sent and replaces control characters before it is stored or
// printed.
func clean(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	return strings.Map(func(c rune) rune {
		if c < 0x20 || c == 0x7f {
			return '_'
		}
		return c
	}, s)
}
