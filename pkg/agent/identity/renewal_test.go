package identity

import (
	"os"
	"path/filepath"
	"testing"
)

// A renewal cut after the new certificate was written but before its key was renamed
// into place (power lost mid-WriteDir) must not leave the daemon with a certificate and
// a key that do not match, which no restart would fix: LoadBundle finishes it.
func TestLoadFinishesInterruptedRenewal(t *testing.T) {
	t.Parallel()
	old, renewed := bundle(t), bundle(t)
	dir := t.TempDir()
	if err := old.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	// WriteDir's first two steps for the renewed bundle, then the crash.
	if err := os.WriteFile(filepath.Join(dir, nextKeyFile), renewed.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CertFile), renewed.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := LoadBundle(dir)
	if err != nil {
		t.Fatalf("identity after an interrupted renewal: %v", err)
	}
	if string(got.KeyPEM) != string(renewed.KeyPEM) || string(got.CertPEM) != string(renewed.CertPEM) {
		t.Error("LoadBundle did not take the renewed pair")
	}
	if _, err := os.Stat(filepath.Join(dir, nextKeyFile)); !os.IsNotExist(err) {
		t.Errorf("%s still there after the renewal was finished: %v", nextKeyFile, err)
	}
	if again, err := LoadBundle(dir); err != nil || string(again.KeyPEM) != string(renewed.KeyPEM) {
		t.Errorf("second load: %v", err)
	}

	// A stray next key that is not the certificate's changes nothing and is not used.
	if err := os.WriteFile(filepath.Join(dir, nextKeyFile), old.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadBundle(dir); err != nil || string(got.KeyPEM) != string(renewed.KeyPEM) {
		t.Errorf("with a stray next key: %v", err)
	}
}

// WriteDir over an existing identity leaves the new pair and no next key.
func TestWriteDirReplacesPair(t *testing.T) {
	t.Parallel()
	old, renewed := bundle(t), bundle(t)
	dir := t.TempDir()
	for _, b := range []Bundle{old, renewed} {
		if err := b.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadBundle(dir)
	if err != nil || string(got.KeyPEM) != string(renewed.KeyPEM) {
		t.Fatalf("after two writes: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, nextKeyFile)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", nextKeyFile, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("node.key: %v %v, want mode 0600", fi, err)
	}
}
