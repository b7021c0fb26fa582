package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCACreatedOnceAndPinned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := LoadOrCreate(dir, []string{"127.0.0.1", "serve.lab"})
	if err != nil {
		t.Fatal(err)
	}
	key, ok := p.CA.PublicKey.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		t.Errorf("CA key = %T, want ECDSA P-256", p.CA.PublicKey)
	}
	if !p.CA.IsCA || p.CA.CheckSignatureFrom(p.CA) != nil {
		t.Error("CA is not a self-signed CA certificate")
	}
	if time.Until(p.CA.NotAfter) < 10*365*24*time.Hour {
		t.Errorf("CA expires %v: want a long validity", p.CA.NotAfter)
	}
	if fi, err := os.Stat(filepath.Join(dir, CAKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("CA key file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	fp := p.Fingerprint()
	if !strings.HasPrefix(fp, "sha256:") || len(fp) != len("sha256:")+64 {
		t.Errorf("fingerprint %q", fp)
	}

	// A restart keeps the CA; a new address reissues only the server certificate.
	p2, err := LoadOrCreate(dir, []string{"127.0.0.1", "serve.lab"})
	if err != nil {
		t.Fatal(err)
	}
	if p2.Fingerprint() != fp || p2.Server.Leaf.SerialNumber.Cmp(p.Server.Leaf.SerialNumber) != 0 {
		t.Error("restart changed the CA or needlessly reissued the server certificate")
	}
	p3, err := LoadOrCreate(dir, []string{"127.0.0.1", "10.204.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if p3.Fingerprint() != fp {
		t.Error("a new server address replaced the CA: booted nodes would no longer trust serve")
	}
	if !covers(p3.Server.Leaf, []string{"127.0.0.1", "10.204.0.1"}) {
		t.Errorf("server certificate does not cover the new address: %v", p3.Server.Leaf.IPAddresses)
	}
}

func TestPinnedClient(t *testing.T) {
	t.Parallel()
	p, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = p.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	other, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, fp, server string
		ok               bool
	}{
		{"pinned", p.Fingerprint(), "127.0.0.1", true},
		{"pinned upper case with colons", strings.ToUpper(colons(p.Fingerprint())), "127.0.0.1", true},
		{"another CA", other.Fingerprint(), "127.0.0.1", false},
		{"wrong name", p.Fingerprint(), "10.9.9.9", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := PinnedClientConfig(tc.fp, tc.server)
			if err != nil {
				t.Fatal(err)
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
			resp, err := c.Get(srv.URL)
			if err == nil {
				resp.Body.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("GET = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := PinnedClientConfig("md5:abc", ""); err == nil {
		t.Error("a malformed fingerprint was accepted")
	}
}

func colons(fp string) string {
	h := strings.TrimPrefix(fp, "sha256:")
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return "sha256:" + strings.Join(parts, ":")
}
