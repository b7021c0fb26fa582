package state

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// writeCert writes a self-signed certificate and its key as PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	return certFile, keyFile
}

// TestEtcdClientConfig: the dial timeout's default, and client TLS built only from
// what was given, each half-given or unreadable file refused naming what to fix.
func TestEtcdClientConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	notPEM := filepath.Join(dir, "not.pem")
	must(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name      string
		cfg       EtcdConfig
		wantErr   string
		wantDial  time.Duration
		wantTLS   bool
		wantCA    bool
		wantCerts int
	}{
		{name: "plain, default timeout", cfg: EtcdConfig{}, wantDial: defaultDialTimeout},
		{name: "timeout given", cfg: EtcdConfig{DialTimeout: 3 * time.Second}, wantDial: 3 * time.Second},
		{name: "CA only", cfg: EtcdConfig{CAFile: cert}, wantDial: defaultDialTimeout, wantTLS: true, wantCA: true},
		{name: "client certificate", cfg: EtcdConfig{CAFile: cert, CertFile: cert, KeyFile: key}, wantDial: defaultDialTimeout, wantTLS: true, wantCA: true, wantCerts: 1},
		{name: "certificate without CA", cfg: EtcdConfig{CertFile: cert, KeyFile: key}, wantDial: defaultDialTimeout, wantTLS: true, wantCerts: 1},
		{name: "CA missing", cfg: EtcdConfig{CAFile: missing}, wantErr: "etcd CA"},
		{name: "CA not PEM", cfg: EtcdConfig{CAFile: notPEM}, wantErr: "no PEM certificate"},
		{name: "certificate without key", cfg: EtcdConfig{CertFile: cert}, wantErr: "give both"},
		{name: "key without certificate", cfg: EtcdConfig{KeyFile: key}, wantErr: "give both"},
		{name: "key not matching", cfg: EtcdConfig{CertFile: cert, KeyFile: notPEM}, wantErr: "etcd client certificate " + cert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cc, err := tc.cfg.clientConfig()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cc.DialTimeout != tc.wantDial {
				t.Errorf("dial timeout %v, want %v", cc.DialTimeout, tc.wantDial)
			}
			if (cc.TLS != nil) != tc.wantTLS {
				t.Fatalf("TLS %v, want %v", cc.TLS != nil, tc.wantTLS)
			}
			if cc.TLS == nil {
				return
			}
			if cc.TLS.MinVersion != tls.VersionTLS12 || (cc.TLS.RootCAs != nil) != tc.wantCA || len(cc.TLS.Certificates) != tc.wantCerts {
				t.Errorf("TLS min %#x, CA pool %v, %d certificates; want TLS 1.2, %v, %d", cc.TLS.MinVersion, cc.TLS.RootCAs != nil, len(cc.TLS.Certificates), tc.wantCA, tc.wantCerts)
			}
		})
	}
}

// TestTransient: what a member's failure or a leader election gives is tried again;
// anything else, and the caller's own deadline, ends the request.
func TestTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{err: nil, want: false},
		{err: context.Canceled, want: false},
		{err: fmt.Errorf("get: %w", context.DeadlineExceeded), want: false},
		{err: rpctypes.ErrLeaderChanged, want: true},
		{err: rpctypes.ErrNoLeader, want: true},
		{err: rpctypes.ErrTimeoutDueToConnectionLost, want: true},
		{err: status.Error(codes.Unavailable, "connection refused"), want: true},
		{err: status.Error(codes.InvalidArgument, "too many operations in txn request"), want: false},
		{err: errors.New("etcdserver: request is too large"), want: false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
