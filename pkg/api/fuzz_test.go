package api

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/racklift/racklift/pkg/lifecycle"
	"github.com/racklift/racklift/pkg/state"
)

type anyToken struct{}

func (anyToken) Verify(string, *x509.Certificate) error { return nil }
func (anyToken) Exchange(string, string, []byte, string) ([]byte, error) {
	return nil, ErrBadToken
}
func (anyToken) Renew(string, *x509.Certificate, []byte) ([]byte, error) { return nil, ErrBadToken }

// storeRecorder records reports straight into a state store, as the lifecycle does.
type storeRecorder struct{ s *state.Bolt }

func (r storeRecorder) Handle(ev lifecycle.Event) (lifecycle.Phase, error) { return "", nil }

func (r storeRecorder) Report(node string, raw []byte, pass bool, reason string) (lifecycle.Phase, error) {
	_, err := r.s.Update(node, func(n *state.Node) ([]state.Event, error) {
		n.Report, n.Reason = raw, reason
		return []state.Event{{Kind: "agent.report", Detail: reason}}, nil
	})
	return "", err
}

// FuzzAgentReport posts arbitrary bodies to the agent API's report endpoint (an
// authenticated node is still untrusted input): it never panics, answers 200, 400 or
// 413, and whatever it stores stays within the store's bounds.
func FuzzAgentReport(f *testing.F) {
	f.Add([]byte(`{"node":"gpu-01","agent":"v1","results":[{"name":"gpu.count","status":"fail","observed":"7","expected":"8","message":"\u001b[2J"}]}`))
	f.Add([]byte(`{"results":null}`))
	f.Add([]byte(`{"node":"other","results":[]}`))
	f.Add(bytes.Repeat([]byte(`{"results":[`), 1000))
	s, err := state.Open(f.TempDir(), state.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	h := AgentHandler(AgentConfig{Tokens: anyToken{}, Lifecycle: storeRecorder{s}, MaxReport: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/api/v1/nodes/gpu-01/report", bytes.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		n, err := s.Get("gpu-01")
		if err != nil {
			return // nothing stored yet
		}
		if len(n.Reason) > state.MaxReason || len(n.Report) > 64<<10 {
			t.Fatalf("stored reason %d bytes, report %d bytes: over the bounds", len(n.Reason), len(n.Report))
		}
		for _, e := range n.Recent {
			if len(e.Detail) > state.MaxDetail {
				t.Fatalf("stored detail of %d bytes", len(e.Detail))
			}
		}
	})
}
