// Package pki gives serve its TLS identity and the nodes a way to trust it: a CA created on
// first start under the state dir (nodes pin its SHA-256 fingerprint, handed to them on
// the kernel command line), a server certificate for serve's addresses, the nodes' client
// certificates (keys made on the nodes, CSRs, signing), the pinned (mutual) client config
// agents use, and the names of the kernel arguments that carry the bootstrap, pin and API
// address. It is crypto only: the agent links it, so the credential store, which needs
// serve's state, is provisioner.Credentials.
package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// Validity of what LoadOrCreate makes. The server certificate is renewed on start when
// less than renewBefore is left or it does not cover the requested hosts.
const (
	CAValidity     = 20 * 365 * 24 * time.Hour
	ServerValidity = 2 * 365 * 24 * time.Hour
	renewBefore    = 30 * 24 * time.Hour
)

// Files inside Dir(stateDir).
const (
	CACertFile     = "ca.crt"
	CAKeyFile      = "ca.key"
	ServerCertFile = "server.crt"
	ServerKeyFile  = "server.key"
)

// Dir is where the PKI lives inside a state dir.
func Dir(stateDir string) string { return filepath.Join(stateDir, "pki") }

// PKI is a loaded CA and server certificate.
type PKI struct {
	CA     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	Server tls.Certificate // leaf then CA, so clients that pin the CA get the chain
	dir    string
}

// LoadOrCreate loads the CA from dir, creating it on first start, and loads or (re)issues
// the server certificate for hosts (IP addresses or DNS names).
func LoadOrCreate(dir string, hosts []string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki dir: %w", err)
	}
	p := &PKI{dir: dir}
	var err error
	p.CA, p.caKey, err = loadPair(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile))
	if errors.Is(err, os.ErrNotExist) {
		p.CA, p.caKey, err = p.createCA()
	}
	if err != nil {
		return nil, err
	}
	leaf, key, err := loadPair(filepath.Join(dir, ServerCertFile), filepath.Join(dir, ServerKeyFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err != nil || !covers(leaf, hosts) || time.Until(leaf.NotAfter) < renewBefore || leaf.CheckSignatureFrom(p.CA) != nil {
		leaf, key, err = p.issueServer(hosts)
		if err != nil {
			return nil, err
		}
	}
	p.Server = tls.Certificate{Certificate: [][]byte{leaf.Raw, p.CA.Raw}, PrivateKey: key, Leaf: leaf}
	return p, nil
}

// Fingerprint is the CA certificate's SHA-256, as nodes pin it: "sha256:" + hex.
func (p *PKI) Fingerprint() string { return Fingerprint(p.CA) }

// Fingerprint of any certificate, in the pinned form.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// TLSConfig serves the server certificate (TLS 1.2 and later).
func (p *PKI) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.Server}, MinVersion: tls.VersionTLS12}
}

// CAPEM is the CA certificate, for operators who want to trust serve by file.
func (p *PKI) CAPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.CA.Raw})
}

// PinnedClientConfig is the agent's side: it trusts only a chain that ends in a CA with
// the given fingerprint (from the kernel command line) and names serverName (an IP or
// DNS name; empty: any name the CA signed). No system roots are involved.
func PinnedClientConfig(fingerprint, serverName string) (*tls.Config, error) {
	want, err := parseFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pinned verification below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, want, serverName)
		},
	}, nil
}

func parseFingerprint(fp string) ([]byte, error) {
	h, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(fp)), "sha256:")
	b, err := hex.DecodeString(strings.ReplaceAll(h, ":", ""))
	if !ok || err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("CA fingerprint %q: want sha256: and 64 hex digits (racklift.ca= on the kernel command line)", fp)
	}
	return b, nil
}

func verifyPinned(raw [][]byte, want []byte, serverName string) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("server certificate %d: %w", i, err)
		}
		certs[i] = c
	}
	roots := x509.NewCertPool()
	pinned := false
	for _, c := range certs[1:] {
		if sum := sha256.Sum256(c.Raw); bytes.Equal(sum[:], want) {
			roots.AddCert(c)
			pinned = true
		}
	}
	if !pinned {
		return fmt.Errorf("server's CA does not match the pinned fingerprint sha256:%x: this is not the racklift serve that booted the node (or its state dir was replaced)", want)
	}
	opts := x509.VerifyOptions{Roots: roots, DNSName: serverName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if ip := net.ParseIP(serverName); ip != nil {
		opts.DNSName = ""
		if err := certs[0].VerifyHostname(serverName); err != nil {
			return err
		}
	}
	_, err := certs[0].Verify(opts)
	return err
}

func (p *PKI) createCA() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "racklift CA", Organization: []string{"racklift"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(CAValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	c, _ := x509.ParseCertificate(der)
	if err := writePair(filepath.Join(p.dir, CACertFile), filepath.Join(p.dir, CAKeyFile), der, key); err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

func (p *PKI) issueServer(hosts []string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "racklift serve", Organization: []string{"racklift"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(ServerValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CA, &key.PublicKey, p.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue server certificate: %w", err)
	}
	c, _ := x509.ParseCertificate(der)
	if err := writePair(filepath.Join(p.dir, ServerCertFile), filepath.Join(p.dir, ServerKeyFile), der, key); err != nil {
		return nil, nil, err
	}
	return c, key, nil
}

// covers reports whether c names every host.
func covers(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		} else if h != "" && !slices.Contains(c.DNSNames, h) {
			return false
		}
	}
	return true
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func loadPair(certPath, keyPath string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	block, _ := pem.Decode(cb)
	if block == nil {
		return nil, nil, fmt.Errorf("%s: not a PEM certificate: move it aside and restart serve to create a new one (nodes booted with the old CA fingerprint must be booted again)", certPath)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	kblock, _ := pem.Decode(kb)
	if kblock == nil {
		return nil, nil, fmt.Errorf("%s: not a PEM key", keyPath)
	}
	key, err := x509.ParseECPrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(c.PublicKey) {
		return nil, nil, fmt.Errorf("%s does not belong to %s", keyPath, certPath)
	}
	return c, key, nil
}

// writePair writes the key (0600) before the certificate, each atomically, so a crash
// never leaves a certificate without its key.
func writePair(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return atomicfile.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
