package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/agent/identity"
	"github.com/racklift/racklift/pkg/pki"
)

// enroll, as an installer runs it: the bootstrap of the command line is exchanged once
// for the node's certificate, written under the installed root, and the install is
// reported with that certificate; a second enroll uses the identity already there.
func TestEnrollWritesIdentityAndReportsInstalled(t *testing.T) {
	t.Parallel()
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "enroll-bootstrap-9f2c"
	var mu sync.Mutex
	exchanges, installed := 0, []string{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/nodes/{name}/bootstrap", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Bootstrap, CSR string }
		json.NewDecoder(r.Body).Decode(&req)
		csr, err := pki.ParseCSR([]byte(req.CSR))
		mu.Lock()
		defer mu.Unlock()
		if req.Bootstrap != secret || exchanges > 0 || err != nil {
			http.Error(w, "refused", http.StatusUnauthorized)
			return
		}
		exchanges++
		c, _ := p.IssueClient(r.PathValue("name"), csr.PublicKey, time.Now(), time.Hour)
		json.NewEncoder(w).Encode(map[string]string{"certificate": string(pki.CertPEM(c))})
	})
	mux.HandleFunc("POST /api/v1/nodes/{name}/installed", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "no certificate", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		installed = append(installed, r.TLS.VerifiedChains[0][0].Subject.CommonName)
		mu.Unlock()
		w.Write([]byte(`{}`))
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = p.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)

	root := t.TempDir()
	cmdline := "console=ttyS0 quiet racklift.node=gpu-a01-01 " + pki.CmdlineBootstrap + "=" + secret + " " + pki.CmdlineCA + "=" + p.Fingerprint() + " " + pki.CmdlineAPI + "=" + srv.URL
	for range 2 {
		b, err := Enroll(context.Background(), EnrollConfig{Cmdline: cmdline, Root: root, Installed: true})
		if err != nil {
			t.Fatal(err)
		}
		if b.Node != "gpu-a01-01" || b.APIURL != srv.URL {
			t.Errorf("bundle %+v", b)
		}
	}
	mu.Lock()
	if exchanges != 1 || strings.Join(installed, ",") != "gpu-a01-01,gpu-a01-01" {
		t.Errorf("%d exchanges, installed reported by %v; want 1 and the node's certificate twice", exchanges, installed)
	}
	mu.Unlock()
	if fi, err := os.Stat(filepath.Join(root, "etc/racklift", identity.KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node.key under the root: %v %v", fi, err)
	}
	if _, err := Enroll(context.Background(), EnrollConfig{Cmdline: "console=ttyS0", Root: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "racklift.bootstrap=") {
		t.Errorf("enroll without a bootstrap: %v", err)
	}
}
