package bmc

import (
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lab "github.com/racklift/racklift/internal/lab/redfish"
	"github.com/racklift/racklift/pkg/inventory"
)

// The TLS policies as tlsConfig builds them: a pin in any usual spelling checked
// against the certificate presented, a CA file relative to the inventory, the insecure
// warning once per scope, and the system roots checked with the presented
// fingerprint on failure.
func TestTLSConfigPolicies(t *testing.T) {
	t.Parallel()
	ca, err := lab.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := ca.Issue(net.ParseIP("127.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	raw := cert.Certificate[0]
	fp := lab.Fingerprint(raw)

	t.Run("fingerprint", func(t *testing.T) {
		spelled := "SHA256:" + strings.ToUpper(strings.Join(splitPairs(fp), ":")) + " "
		cfg, err := tlsConfig(Target{TLS: inventory.TLS{Fingerprint: spelled}}, nil)
		if err != nil || !cfg.InsecureSkipVerify || cfg.VerifyPeerCertificate == nil {
			t.Fatalf("%v %+v", err, cfg)
		}
		if err := cfg.VerifyPeerCertificate([][]byte{raw}, nil); err != nil {
			t.Errorf("the pinned certificate: %v", err)
		}
		if err := cfg.VerifyPeerCertificate([][]byte{other.Certificate[0], raw}, nil); err == nil || !strings.Contains(err.Error(), "mismatch") {
			t.Errorf("another certificate first: %v", err)
		}
		if err := cfg.VerifyPeerCertificate(nil, nil); err == nil || !strings.Contains(err.Error(), "no certificate") {
			t.Errorf("no certificate: %v", err)
		}
		for _, bad := range []string{fp[:62], fp + "ab"} {
			if _, err := tlsConfig(Target{TLS: inventory.TLS{Fingerprint: bad}}, nil); err == nil || !strings.Contains(err.Error(), "64 hex digits") {
				t.Errorf("pin of %d digits: %v", len(bad), err)
			}
		}
	})

	t.Run("ca file", func(t *testing.T) {
		dir := t.TempDir()
		if err := ca.WriteFile(filepath.Join(dir, "ca.pem")); err != nil {
			t.Fatal(err)
		}
		cfg, err := tlsConfig(Target{Host: "127.0.0.1", Dir: dir, TLS: inventory.TLS{CAFile: "ca.pem"}}, nil)
		if err != nil || cfg.RootCAs == nil || cfg.VerifyConnection == nil {
			t.Fatalf("relative to the inventory: %v", err)
		}
		if _, err := tlsConfig(Target{Dir: t.TempDir(), TLS: inventory.TLS{CAFile: filepath.Join(dir, "ca.pem")}}, nil); err != nil {
			t.Errorf("absolute path: %v", err)
		}
		if _, err := tlsConfig(Target{Dir: "", TLS: inventory.TLS{CAFile: "no-such-ca.pem"}}, nil); err == nil || !strings.HasPrefix(err.Error(), "tls.ca_file: ") {
			t.Errorf("missing file: %v", err)
		}
		notPEM := filepath.Join(dir, "not.pem")
		if err := os.WriteFile(notPEM, []byte("hello"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := tlsConfig(Target{TLS: inventory.TLS{CAFile: notPEM}}, nil); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
			t.Errorf("not PEM: %v", err)
		}
	})

	t.Run("insecure warns once per scope", func(t *testing.T) {
		var w bytes.Buffer
		scope := "site " + t.TempDir() // warned is per process: a scope of its own in each run (-count)
		for range 2 {
			cfg, err := tlsConfig(Target{TLSScope: scope, TLS: inventory.TLS{Insecure: true}}, &w)
			if err != nil || !cfg.InsecureSkipVerify || cfg.VerifyConnection != nil || cfg.VerifyPeerCertificate != nil {
				t.Fatalf("%v %+v", err, cfg)
			}
		}
		if n := strings.Count(w.String(), "are not verified"); n != 1 || !strings.Contains(w.String(), scope) {
			t.Errorf("warnings %q", w.String())
		}
		tlsConfig(Target{TLSScope: scope + " other", TLS: inventory.TLS{Insecure: true}}, &w)
		if n := strings.Count(w.String(), "are not verified"); n != 2 {
			t.Errorf("another scope: %d warnings", n)
		}
		warnInsecure(nil, scope+" nil") // no writer: nothing, no panic
	})

	t.Run("system roots", func(t *testing.T) {
		cfg, err := tlsConfig(Target{Host: "127.0.0.1"}, nil)
		if err != nil || cfg.VerifyConnection == nil || cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
			t.Fatalf("%v %+v", err, cfg)
		}
		if err := cfg.VerifyConnection(tls.ConnectionState{}); err == nil || !strings.Contains(err.Error(), "no certificate") {
			t.Errorf("no certificate: %v", err)
		}
	})
}

func splitPairs(s string) []string {
	var out []string
	for i := 0; i+2 <= len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}
