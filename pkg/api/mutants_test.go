package api_test

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/racklift/racklift/pkg/api"
	"github.com/racklift/racklift/pkg/pki"
)

// Tests for what `make mutate` found untested in pkg/api (issue 20): the renewal and
// installed endpoints of the agent API.

// TestRenewIssuesForTheCaller: a node renews with its current certificate and a new key:
// it gets a certificate for itself from serve's CA; a request that is not a certificate
// request is a 400 that issues nothing.
func TestRenewIssuesForTheCaller(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	keyPEM, csrPEM, err := pki.NewKeyAndCSR("someone-else") // the name in the request does not count
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(api.CertRequest{CSR: string(csrPEM)})
	code, resp, _ := s.call(t, "POST", "/api/v1/nodes/a/renew", "a", string(body))
	var cr api.CertResponse
	if code != http.StatusOK || json.Unmarshal([]byte(resp), &cr) != nil {
		t.Fatalf("renew: %d %s", code, resp)
	}
	b, _ := pem.Decode([]byte(cr.Certificate))
	if b == nil {
		t.Fatalf("renew answered no certificate: %s", resp)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil || c.Subject.CommonName != "a" || cr.Node != "a" || !strings.Contains(cr.CA, "BEGIN CERTIFICATE") {
		t.Fatalf("renewed certificate %v for %q (node %q), %v; want CN a with serve's CA", c, c.Subject.CommonName, cr.Node, err)
	}
	kb, _ := pem.Decode(keyPEM)
	key, _ := x509.ParseECPrivateKey(kb.Bytes)
	if !key.PublicKey.Equal(c.PublicKey) {
		t.Error("the renewed certificate is not over the node's new key")
	}
	before, _ := s.store.LastSeq()
	// b still holds its first certificate: a body that is no certificate request.
	for _, bad := range []string{`{"csr":"not a PEM request"}`, `{}`, `not json`} {
		if code, resp, _ := s.call(t, "POST", "/api/v1/nodes/b/renew", "b", bad); code != http.StatusBadRequest || strings.Contains(resp, "CERTIFICATE") {
			t.Errorf("renew with %s: %d %s, want 400 and no certificate", bad, code, resp)
		}
	}
	if after, _ := s.store.LastSeq(); after != before {
		t.Errorf("a refused renewal logged %d events", after-before)
	}
	if code, resp, _ := s.call(t, "POST", "/api/v1/nodes/a/renew", "b", string(body)); code != http.StatusForbidden {
		t.Errorf("b renewing a's certificate: %d %s, want 403", code, resp)
	}
}

// TestInstalledEndpoint: without an InstalledFunc serve says it records no installs
// (501); with one, the node is marked (200) or the failure is a 500 naming the node.
func TestInstalledEndpoint(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if code, resp, _ := s.call(t, "POST", "/api/v1/nodes/a/installed", "a", ""); code != http.StatusNotImplemented {
		t.Errorf("installed without an InstalledFunc: %d %s, want 501", code, resp)
	}
	p, err := pki.LoadOrCreate(pki.Dir(s.dir), []string{"127.0.0.1"}) // the stack's CA and certificate
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var marked []string
	h := api.AgentHandler(api.AgentConfig{Tokens: s.creds, Lifecycle: s.machine, CAPEM: p.CAPEM(), Installed: func(node string) error {
		if node == "b" {
			return errors.New("state.db: no space left on device")
		}
		mu.Lock()
		defer mu.Unlock()
		marked = append(marked, node)
		return nil
	}})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = p.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	post := func(node string) (int, string) {
		resp, err := s.clients[node].Post(srv.URL+"/api/v1/nodes/"+node+"/installed", "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, resp := post("a"); code != http.StatusOK || !strings.Contains(strings.Join(strings.Fields(resp), ""), `"installed":true`) {
		t.Errorf("installed for a: %d %s, want 200", code, resp)
	}
	if code, resp := post("b"); code != http.StatusInternalServerError || !strings.Contains(resp, "node b") || !strings.Contains(resp, "no space left") {
		t.Errorf("installed for b with a failing store: %d %s, want 500 naming b and the error", code, resp)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(marked) != 1 || marked[0] != "a" {
		t.Errorf("marked %v, want [a]", marked)
	}
}
