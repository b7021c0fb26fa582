// Package identity is a node's identity as the agent holds it: its client certificate
// and key (the key made on the node), the agent API's URL and serve's CA pin. The ramdisk
// agent gets it by exchanging its one-time bootstrap secret; whatever puts the OS on the
// disk writes it onto the installed system (Bundle.Files under the installed root), so
// `node-agent daemon` under systemd authenticates from its first start (LoadBundle).
// It imports no serve-side package: the agent links it.
package identity

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/racklift/racklift/pkg/atomicfile"
)

// DefaultDir is where an installed system keeps its identity; EnvDir overrides it for
// `node-agent daemon` (as does its --identity-dir flag).
const (
	DefaultDir = "/etc/racklift"
	EnvDir     = "RACKLIFT_IDENTITY_DIR"
)

// File names inside the identity directory.
const (
	CertFile   = "node.crt"
	KeyFile    = "node.key"
	ConfigFile = "agent.yaml"
)

// Bundle is a node's identity.
type Bundle struct {
	Node    string // inventory name, the certificate's common name
	APIURL  string // https://host:port of serve's agent API
	CAPin   string // sha256:<hex> of serve's CA
	CertPEM []byte
	KeyPEM  []byte // secret: written 0600, never logged
}

// File is one file to write under an installed root.
type File struct {
	Path string // absolute on the installed system, e.g. /etc/racklift/node.key
	Mode os.FileMode
	Data []byte
}

// config is agent.yaml: what the daemon needs besides certificate and key.
type config struct {
	Node  string `yaml:"node"`
	API   string `yaml:"api"`
	CAPin string `yaml:"ca_pin"`
}

// Files are the bundle's files for an installed system: the certificate (0644), the key
// (0600) and agent.yaml (0644) with the node, the agent API URL and the CA pin, all
// under DefaultDir.
func (b Bundle) Files() []File {
	cfg, _ := yaml.Marshal(config{Node: b.Node, API: b.APIURL, CAPin: b.CAPin})
	return []File{
		{Path: path.Join(DefaultDir, CertFile), Mode: 0o644, Data: b.CertPEM},
		{Path: path.Join(DefaultDir, KeyFile), Mode: 0o600, Data: b.KeyPEM},
		{Path: path.Join(DefaultDir, ConfigFile), Mode: 0o644, Data: append([]byte("# racklift node identity, written at install; node.key is secret\n"), cfg...)},
	}
}

// Write writes the bundle's files under root ("/" on the node itself, the mounted
// installed system's root from a ramdisk), the key before the certificate, each
// atomically.
func (b Bundle) Write(root string) error {
	fs := b.Files()
	fs[0], fs[1] = fs[1], fs[0]
	for _, f := range fs {
		p := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
		if err := atomicfile.WriteFile(p, f.Data, f.Mode); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
	}
	return nil
}

// WriteDir writes the bundle into dir itself (what LoadBundle reads), e.g. the
// ramdisk's /run/racklift/identity, or the installed system's on renewal. The key and
// the certificate are two files, so a crash between them must not leave a pair that
// does not match: the key goes to node.key.next first, then the certificate, then the
// key is renamed into place; LoadBundle finishes an interrupted renewal (the certificate
// new, the key still old) with node.key.next.
func (b Bundle) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	fs := b.Files()
	next := filepath.Join(dir, nextKeyFile)
	steps := []func() error{
		func() error { return atomicfile.WriteFile(next, fs[1].Data, fs[1].Mode) },
		func() error { return atomicfile.WriteFile(filepath.Join(dir, CertFile), fs[0].Data, fs[0].Mode) },
		func() error { return os.Rename(next, filepath.Join(dir, KeyFile)) },
		func() error { return atomicfile.WriteFile(filepath.Join(dir, ConfigFile), fs[2].Data, fs[2].Mode) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("identity: %w", err)
		}
	}
	return nil
}

// nextKeyFile is the key of a certificate being written (WriteDir).
const nextKeyFile = KeyFile + ".next"

// ErrNone means dir holds no identity (no node.crt): the node has not been given one.
var ErrNone = errors.New("no node identity")

// LoadBundle reads the identity in dir (DefaultDir on an installed system): it must be
// complete, the key must be the certificate's and not readable by others.
func LoadBundle(dir string) (Bundle, error) {
	var b Bundle
	var err error
	if b.CertPEM, err = os.ReadFile(filepath.Join(dir, CertFile)); errors.Is(err, os.ErrNotExist) {
		return b, fmt.Errorf("%w in %s (write it at install, or exchange a bootstrap: node-agent enroll)", ErrNone, dir)
	} else if err != nil {
		return b, fmt.Errorf("identity: %w", err)
	}
	kp := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(kp)
	if err != nil {
		return b, fmt.Errorf("identity: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return b, fmt.Errorf("identity: %s is readable by others (mode %v): chmod 600 %s", kp, fi.Mode().Perm(), kp)
	}
	if b.KeyPEM, err = os.ReadFile(kp); err != nil {
		return b, fmt.Errorf("identity: %w", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return b, fmt.Errorf("identity: %w", err)
	}
	var cfg config
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return b, fmt.Errorf("identity: %s: %w", filepath.Join(dir, ConfigFile), err)
	}
	b.Node, b.APIURL, b.CAPin = cfg.Node, cfg.API, cfg.CAPin
	if !strings.HasPrefix(b.APIURL, "https://") || b.CAPin == "" || b.Node == "" {
		return b, fmt.Errorf("identity: %s must name node, api (https://) and ca_pin", filepath.Join(dir, ConfigFile))
	}
	if _, err := b.TLSCertificate(); err != nil {
		if done, ok := finishRenewal(dir, b); ok {
			return done, nil
		}
		return b, fmt.Errorf("identity in %s: %w", dir, err)
	}
	return b, nil
}

// finishRenewal completes a WriteDir cut between the certificate and the key's rename:
// when node.key.next is the certificate's key, it becomes node.key.
func finishRenewal(dir string, b Bundle) (Bundle, bool) {
	next := filepath.Join(dir, nextKeyFile)
	fi, err := os.Stat(next)
	if err != nil || fi.Mode().Perm()&0o077 != 0 {
		return b, false
	}
	key, err := os.ReadFile(next)
	if err != nil {
		return b, false
	}
	b.KeyPEM = key
	if _, err := b.TLSCertificate(); err != nil {
		return b, false
	}
	if os.Rename(next, filepath.Join(dir, KeyFile)) != nil {
		return b, false
	}
	return b, true
}

// TLSCertificate is the certificate and key for mutual TLS.
func (b Bundle) TLSCertificate() (*tls.Certificate, error) {
	c, err := tls.X509KeyPair(b.CertPEM, b.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate and key: %w", err)
	}
	return &c, nil
}

// Certificate is the parsed certificate.
func (b Bundle) Certificate() (*x509.Certificate, error) {
	blk, _ := pem.Decode(b.CertPEM)
	if blk == nil {
		return nil, errors.New("node certificate: not PEM")
	}
	return x509.ParseCertificate(blk.Bytes)
}
