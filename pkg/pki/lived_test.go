package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests for what `make mutate` found untested in pkg/pki (issue 20): the node's client
// certificate path (request, issue, renew, mutual TLS), a DNS name that the server
// certificate lacks, and the pin without a server name.

// TestClientCertificateIssuedForTheNode: the node's key stays with the node (only the
// request travels), and the certificate names the node whatever the request asked for,
// is good for client authentication only, starts 5 minutes back for a node clock a
// little behind, and lasts ClientValidity unless told otherwise.
func TestClientCertificateIssuedForTheNode(t *testing.T) {
	t.Parallel()
	p, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := NewKeyAndCSR("node-0007")
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := pem.Decode(keyPEM)
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil || !key.PublicKey.Equal(csr.PublicKey) || key.Curve != elliptic.P256() {
		t.Fatalf("node key %v (%v) does not match its request's public key", err, key)
	}
	if csr.Subject.CommonName != "node-0007" {
		t.Errorf("request names %q, want node-0007", csr.Subject.CommonName)
	}
	now := time.Now().Truncate(time.Second)
	for _, tc := range []struct {
		name     string
		validity time.Duration
		want     time.Duration
	}{
		{name: "default validity", validity: 0, want: ClientValidity},
		{name: "negative is the default", validity: -time.Hour, want: ClientValidity},
		{name: "asked validity", validity: 2 * time.Hour, want: 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The request says node-0007; serve issues for the node it authenticated.
			c, err := p.IssueClient("node-0003", csr.PublicKey, now, tc.validity)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject.CommonName != "node-0003" || !slices.Equal(c.DNSNames, []string{"node-0003"}) {
				t.Errorf("certificate names CN %q DNS %v, want node-0003 in both", c.Subject.CommonName, c.DNSNames)
			}
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || c.IsCA {
				t.Errorf("usage %v CA %v, want client authentication only", c.ExtKeyUsage, c.IsCA)
			}
			if err := c.CheckSignatureFrom(p.CA); err != nil {
				t.Errorf("not signed by serve's CA: %v", err)
			}
			if !c.NotBefore.Equal(now.Add(-5 * time.Minute)) {
				t.Errorf("NotBefore %v, want 5 minutes before %v", c.NotBefore, now)
			}
			if !c.NotAfter.Equal(now.Add(tc.want)) {
				t.Errorf("NotAfter %v, want %v after %v", c.NotAfter, tc.want, now)
			}
			if got, want := RenewAt(c), c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore)/3*2); got.Sub(want).Abs() > time.Second {
				t.Errorf("RenewAt = %v, want two thirds into the validity, %v", got, want)
			}
			if b, _ := pem.Decode(CertPEM(c)); b == nil || b.Type != "CERTIFICATE" || !slices.Equal(b.Bytes, c.Raw) {
				t.Errorf("CertPEM does not round-trip")
			}
		})
	}
}

// TestRenewAtTwoThirds: 30 days of validity renew at day 20.
func TestRenewAtTwoThirds(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &x509.Certificate{NotBefore: t0, NotAfter: t0.Add(30 * 24 * time.Hour)}
	if got, want := RenewAt(c), t0.Add(20*24*time.Hour); !got.Equal(want) {
		t.Errorf("RenewAt = %v, want %v", got, want)
	}
}

// TestParseCSRRefuses: a request that is not PEM, not a request, not DER or signed by
// another key than the one it carries is refused.
func TestParseCSRRefuses(t *testing.T) {
	t.Parallel()
	_, csrPEM, err := NewKeyAndCSR("node-1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(csrPEM)
	tampered := slices.Clone(b.Bytes)
	tampered[len(tampered)-3] ^= 0xff // inside the signature
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{name: "not PEM", in: []byte("hello"), want: "not a PEM certificate request"},
		{name: "a certificate, not a request", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.Bytes}), want: "not a PEM certificate request"},
		{name: "not DER", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte("xx")}), want: "certificate request:"},
		{name: "bad signature", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}), want: "certificate request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csr, err := ParseCSR(tc.in)
			if err == nil || csr != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseCSR = %v, %v; want an error with %q", csr, err, tc.want)
			}
		})
	}
}

// TestMutualTLS: the agent API takes a client certificate from serve's CA (and says
// whose it is), takes none (the bootstrap exchange), and refuses one from another CA;
// a client whose certificate source fails does not connect.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	p, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.VerifiedChains) > 0 {
			io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
			return
		}
		io.WriteString(w, "anonymous")
	}))
	srv.TLS = p.ServerTLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	issue := func(ca *PKI, node string) *tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.IssueClient(node, &key.PublicKey, time.Now(), 0)
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: key, Leaf: c}
	}
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		cert func() (*tls.Certificate, error)
		want string // the body; "" for a failed request
	}{
		{name: "serve's CA", cert: func() (*tls.Certificate, error) { return issue(p, "node-0001"), nil }, want: "node-0001"},
		{name: "no certificate yet", cert: func() (*tls.Certificate, error) { return nil, nil }, want: "anonymous"},
		{name: "another CA", cert: func() (*tls.Certificate, error) { return issue(other, "node-0001"), nil }},
		{name: "certificate source fails", cert: func() (*tls.Certificate, error) { return nil, boom }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := PinnedMutualConfig(p.Fingerprint(), "127.0.0.1", tc.cert)
			if err != nil {
				t.Fatal(err)
			}
			tr := &http.Transport{TLSClientConfig: cfg}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			got := ""
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got = string(b)
			}
			if got != tc.want {
				t.Errorf("GET = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
	if _, err := PinnedMutualConfig("sha256:00", "", nil); err == nil {
		t.Error("a malformed fingerprint was accepted")
	}
}

// TestPinWithoutServerName: an empty server name accepts any name the pinned CA signed
// (PinnedClientConfig's contract), and a wrong name is still refused.
func TestPinWithoutServerName(t *testing.T) {
	t.Parallel()
	p, err := LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.TLS = p.TLSConfig()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		server string
		ok     bool
	}{
		{server: "", ok: true},
		{server: "127.0.0.1", ok: true},
		{server: "serve.lab", ok: false},
	} {
		cfg, err := PinnedClientConfig(p.Fingerprint(), tc.server)
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		tr.CloseIdleConnections()
		if (err == nil) != tc.ok {
			t.Errorf("server name %q: GET = %v, want ok=%v", tc.server, err, tc.ok)
		}
	}
}

// TestServerCertificateCoversDNSNames: a DNS name the server certificate lacks has it
// reissued (same CA); an empty host is no name and reissues nothing.
func TestServerCertificateCoversDNSNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := LoadOrCreate(dir, []string{"127.0.0.1", "serve.lab"})
	if err != nil {
		t.Fatal(err)
	}
	same, err := LoadOrCreate(dir, []string{"127.0.0.1", "", "serve.lab"})
	if err != nil {
		t.Fatal(err)
	}
	if same.Server.Leaf.SerialNumber.Cmp(p.Server.Leaf.SerialNumber) != 0 {
		t.Error("an empty host reissued the server certificate")
	}
	moved, err := LoadOrCreate(dir, []string{"127.0.0.1", "serve.example"})
	if err != nil {
		t.Fatal(err)
	}
	if moved.Server.Leaf.SerialNumber.Cmp(p.Server.Leaf.SerialNumber) == 0 || !slices.Contains(moved.Server.Leaf.DNSNames, "serve.example") {
		t.Errorf("new DNS name: certificate names %v (serial kept: %v); want it reissued for serve.example",
			moved.Server.Leaf.DNSNames, moved.Server.Leaf.SerialNumber.Cmp(p.Server.Leaf.SerialNumber) == 0)
	}
	if moved.Fingerprint() != p.Fingerprint() {
		t.Error("a new DNS name replaced the CA")
	}
}

// TestKernelArgs: the boot parameters carry the bootstrap, the CA pin and the API URL
// under their names, and quiet so the kernel does not echo them on a serial console.
func TestKernelArgs(t *testing.T) {
	t.Parallel()
	args := KernelArgs("s3cret", "sha256:ab", "https://10.0.0.1:8443")
	for _, want := range []string{"quiet", "racklift.bootstrap=s3cret", "racklift.ca=sha256:ab", "racklift.api=https://10.0.0.1:8443"} {
		if !slices.Contains(args, want) {
			t.Errorf("KernelArgs = %q, missing %q", args, want)
		}
	}
}
