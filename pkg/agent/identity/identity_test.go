package identity

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/racklift/racklift/pkg/pki"
)

func bundle(t *testing.T) Bundle {
	t.Helper()
	p, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, csrPEM, err := pki.NewKeyAndCSR("gpu-a01-01")
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := pki.ParseCSR(csrPEM)
	c, err := p.IssueClient("gpu-a01-01", csr.PublicKey, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Bundle{Node: "gpu-a01-01", APIURL: "https://10.10.0.2:8443", CAPin: p.Fingerprint(), CertPEM: pki.CertPEM(c), KeyPEM: keyPEM}
}

// The files an installed root gets: certificate 0644, key 0600, agent.yaml with the
// agent API and the pin, all under /etc/racklift; the daemon loads them back.
func TestFilesWriteAndLoad(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	want := map[string]os.FileMode{"/etc/racklift/node.crt": 0o644, "/etc/racklift/node.key": 0o600, "/etc/racklift/agent.yaml": 0o644}
	for _, f := range b.Files() {
		if m, ok := want[f.Path]; !ok || m != f.Mode {
			t.Errorf("file %s mode %v, want one of %v", f.Path, f.Mode, want)
		}
		if f.Path == "/etc/racklift/agent.yaml" && (!strings.Contains(string(f.Data), "https://10.10.0.2:8443") || !strings.Contains(string(f.Data), b.CAPin) || strings.Contains(string(f.Data), "PRIVATE")) {
			t.Errorf("agent.yaml:\n%s", f.Data)
		}
	}
	root := t.TempDir()
	if err := b.Write(root); err != nil {
		t.Fatal(err)
	}
	for p, m := range want {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil || fi.Mode().Perm() != m {
			t.Errorf("%s under the root: %v %v, want mode %v", p, fi, err, m)
		}
	}
	got, err := LoadBundle(filepath.Join(root, DefaultDir))
	if err != nil {
		t.Fatal(err)
	}
	if got.Node != b.Node || got.APIURL != b.APIURL || got.CAPin != b.CAPin || string(got.KeyPEM) != string(b.KeyPEM) {
		t.Errorf("loaded %+v", got)
	}
	if _, err := got.TLSCertificate(); err != nil {
		t.Error(err)
	}
}

func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	b := bundle(t)
	if _, err := LoadBundle(t.TempDir()); !errors.Is(err, ErrNone) {
		t.Errorf("empty dir: %v, want ErrNone", err)
	}
	for _, tc := range []struct {
		name   string
		break_ func(dir string)
		want   string
	}{
		{name: "key readable by others", break_: func(d string) { os.Chmod(filepath.Join(d, KeyFile), 0o644) }, want: "chmod 600"},
		{name: "another key", break_: func(d string) {
			k, _, _ := pki.NewKeyAndCSR("x")
			os.WriteFile(filepath.Join(d, KeyFile), k, 0o600)
		}, want: "node certificate and key"},
		{name: "plain http api", break_: func(d string) {
			os.WriteFile(filepath.Join(d, ConfigFile), []byte("node: n\napi: http://10.0.0.1:8080\nca_pin: sha256:00\n"), 0o644)
		}, want: "https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "racklift")
			if err := b.WriteDir(dir); err != nil {
				t.Fatal(err)
			}
			tc.break_(dir)
			_, err := LoadBundle(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("LoadBundle: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
