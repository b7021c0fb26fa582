package bmc

import (
	"context"
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/inventory"
)

// A certificate from the trusted CA that names another address is refused.
func TestCAFileChecksTheBMCAddress(t *testing.T) {
	t.Parallel()
	ca, err := lab.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WriteFile(caFile); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		certIP string
		ok     bool
	}{{"127.0.0.1", true}, {"127.0.0.99", false}} {
		cert, err := ca.Issue(net.ParseIP(tc.certIP))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		srv.StartTLS()
		defer srv.Close()
		tcfg, err := tlsConfig(Target{Host: "127.0.0.1", TLS: inventory.TLS{CAFile: caFile}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		hc, _ := httpClient(context.Background(), tcfg, &quirks{tr: &trail{}})
		resp, err := hc.Get(srv.URL)
		if tc.ok && err != nil {
			t.Errorf("certificate for %s: %v", tc.certIP, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "127.0.0.99")) {
			t.Errorf("certificate for %s served at 127.0.0.1 accepted or unclear: %v", tc.certIP, err)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}
