package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ClientValidity is how long a node's client certificate is valid; the daemon renews it
// after two thirds of that (RenewAt).
const ClientValidity = 30 * 24 * time.Hour

// NewKeyAndCSR makes the node's key on the node and a certificate request naming it:
// the key never leaves the node. Both PEM.
func NewKeyAndCSR(node string) (keyPEM, csrPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate request: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// ParseCSR reads a PEM certificate request and checks its signature (the requester holds
// the key).
func ParseCSR(csrPEM []byte) (*x509.CertificateRequest, error) {
	b, _ := pem.Decode(csrPEM)
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM certificate request")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	return csr, nil
}

// IssueClient signs a client certificate for node over pub (from the node's request):
// the node name is its common name and DNS name, whatever the request asked for, and it
// is good for client authentication only.
func (p *PKI) IssueClient(node string, pub crypto.PublicKey, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if validity <= 0 {
		validity = ClientValidity
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: node, Organization: []string{"racklift node"}},
		DNSNames:     []string{node},
		NotBefore:    now.Add(-5 * time.Minute), // a node clock a little behind still accepts it
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, pub, p.caKey)
	if err != nil {
		return nil, fmt.Errorf("issue client certificate for %s: %w", node, err)
	}
	return x509.ParseCertificate(der)
}

// CertPEM encodes a certificate.
func CertPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// ServerTLSConfig is the agent API's: serve's certificate, and a client certificate
// verified against serve's CA when one is presented (the bootstrap exchange comes
// without one; every other agent call needs one, which the handler checks).
func (p *PKI) ServerTLSConfig() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.CA)
	c := p.TLSConfig()
	c.ClientAuth = tls.VerifyClientCertIfGiven
	c.ClientCAs = pool
	return c
}

// RenewAt is when a certificate should be renewed: two thirds into its validity.
func RenewAt(c *x509.Certificate) time.Time {
	return c.NotBefore.Add(c.NotAfter.Sub(c.NotBefore) * 2 / 3)
}

// PinnedMutualConfig is PinnedClientConfig presenting the node's certificate, asked for
// on every handshake so a renewed one is used at once.
func PinnedMutualConfig(fingerprint, serverName string, cert func() (*tls.Certificate, error)) (*tls.Config, error) {
	c, err := PinnedClientConfig(fingerprint, serverName)
	if err != nil {
		return nil, err
	}
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		kc, err := cert()
		if err != nil || kc == nil {
			return &tls.Certificate{}, err // none: the bootstrap exchange
		}
		return kc, nil
	}
	return c, nil
}
