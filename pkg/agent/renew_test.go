package agent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/agent/report"
	"github.com/racklift/racklift/pkg/pki"
)

// The daemon renews its certificate two thirds into its validity, over mutual TLS with
// the current one, and keeps the new one in its identity directory for the next start.
func TestRenewLoopRenewsBeforeExpiry(t *testing.T) {
	t.Parallel()
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	var renewed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/nodes/{name}/renew", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != r.PathValue("name") {
			http.Error(w, "no certificate", http.StatusUnauthorized)
			return
		}
		var req struct{ CSR string }
		json.NewDecoder(r.Body).Decode(&req)
		csr, err := pki.ParseCSR([]byte(req.CSR))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c, _ := p.IssueClient(r.PathValue("name"), csr.PublicKey, time.Now(), time.Hour)
		renewed.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"certificate": string(pki.CertPEM(c))})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = p.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	// A certificate two thirds through its life already (IssueClient backdates 5 min).
	keyPEM, csrPEM, _ := pki.NewKeyAndCSR("n1")
	csr, _ := pki.ParseCSR(csrPEM)
	old, _ := p.IssueClient("n1", csr.PublicKey, time.Now(), time.Minute)
	b := identity.Bundle{Node: "n1", APIURL: srv.URL, CAPin: p.Fingerprint(), CertPEM: pki.CertPEM(old), KeyPEM: keyPEM}
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.WriteDir(dir))
	c, err := report.NewClient(srv.URL, p.Fingerprint())
	must(err)
	must(c.SetIdentity(b.CertPEM, b.KeyPEM))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { renewLoop(ctx, c, b, dir, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for renewed.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The write follows the answer: wait for the file to change (a fixed sleep was
	// flaky under load).
	var cert *x509.Certificate
	for {
		got, err := identity.LoadBundle(dir)
		must(err)
		cert, err = got.Certificate()
		must(err)
		if cert.SerialNumber.Cmp(old.SerialNumber) != 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if renewed.Load() != 1 || cert.SerialNumber.Cmp(old.SerialNumber) == 0 || time.Until(cert.NotAfter) < 50*time.Minute {
		t.Errorf("renewed %d times; certificate in %s: serial %x until %v", renewed.Load(), dir, cert.SerialNumber, cert.NotAfter)
	}
}
